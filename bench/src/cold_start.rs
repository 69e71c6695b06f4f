//! Lambda cold start: from process start to the answer of the first API Gateway event
//! (`GET /metadata`, then a create and a read), with the real binary polling a local stand-in
//! of the Lambda Runtime API, against the start of the same binary doing nothing
//! (`hearth --version`), in one run. The data directory starts empty, as `/tmp` does in a
//! fresh Lambda execution environment.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_testkit::lambda::{LambdaRuntime, http_event};
use serde_json::json;

use crate::{hearth_binary, median};

/// Options of the cold-start scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cold starts measured; the median is reported.
    #[arg(long, default_value_t = 9)]
    runs: usize,
}

/// The medians of one cold start, in milliseconds.
struct Timings {
    first_answer: f64,
    create: f64,
    read: f64,
}

pub async fn run(args: Args) -> Result<(), String> {
    let bin = hearth_binary()?;
    let runtime = LambdaRuntime::start().await;
    let (mut first, mut create, mut read, mut baseline) = (vec![], vec![], vec![], vec![]);
    for run in 0..args.runs.max(1) {
        let t = cold_start(&bin, &runtime, run).await?;
        first.push(t.first_answer);
        create.push(t.create);
        read.push(t.read);
        let started = Instant::now();
        Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        baseline.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let base = median(baseline);
    println!(
        "Lambda cold start (runtime API stand-in, empty data dir), median of {} run(s)",
        args.runs
    );
    println!("| measure | ms | ratio to baseline |");
    println!("|---|---|---|");
    println!("| baseline: hearth --version (process start and exit) | {base:.1} | 1.0 |");
    for (name, values) in [
        ("process start to first answer (GET /metadata)", first),
        ("then POST Patient (first write)", create),
        ("then GET Patient/id", read),
    ] {
        let m = median(values);
        println!("| {name} | {m:.1} | {:.1} |", m / base);
    }
    Ok(())
}

async fn cold_start(
    bin: &std::path::Path,
    runtime: &LambdaRuntime,
    run: usize,
) -> Result<Timings, String> {
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(30);
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .envs(runtime.env())
        .env("HEARTH_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let answer = runtime
        .invoke(
            &format!("{run}-1"),
            http_event("GET", "/metadata", "", None),
            timeout,
        )
        .await;
    let first_answer = started.elapsed().as_secs_f64() * 1000.0;
    check(&answer, 200)?;
    let patient = json!({"resourceType": "Patient", "id": "cold", "gender": "female"});
    let t = Instant::now();
    let created = runtime
        .invoke(
            &format!("{run}-2"),
            http_event("PUT", "/Patient/cold", "", Some(&patient)),
            timeout,
        )
        .await;
    let create = t.elapsed().as_secs_f64() * 1000.0;
    check(&created, 201)?;
    let t = Instant::now();
    let answer = runtime
        .invoke(
            &format!("{run}-3"),
            http_event("GET", "/Patient/cold", "", None),
            timeout,
        )
        .await;
    let read = t.elapsed().as_secs_f64() * 1000.0;
    check(&answer, 200)?;
    child.kill().await.map_err(|e| e.to_string())?;
    Ok(Timings {
        first_answer,
        create,
        read,
    })
}

fn check(answer: &serde_json::Value, status: u64) -> Result<(), String> {
    if answer["statusCode"] == status {
        Ok(())
    } else {
        Err(format!("expected {status}, got {answer}"))
    }
}
