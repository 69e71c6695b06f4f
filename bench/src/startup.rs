//! Start-up: from process start to the first successful `GET /metadata` on a store holding
//! about 100,000 resources, against the start of the same binary doing nothing
//! (`hearth --version`), in one run.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::import::{ImportOptions, collect_files, import_files};
use hearth_interface::store::{ResourceStore, Write};
use hearth_sqlite::SqliteStore;

use crate::report::out;
use crate::{free_port, hearth_binary, median, test_data};

/// Options of the start-up scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Copies of the Synthea sample (30,542 resources each) in the store.
    #[arg(long, default_value_t = 4)]
    copies: usize,
    /// Start-ups measured; the median is reported.
    #[arg(long, default_value_t = 7)]
    runs: usize,
}

pub async fn run(args: Args) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let total = fill(dir.path(), args.copies).await?;
    let bin = hearth_binary()?;
    let mut to_metadata = Vec::new();
    let mut to_exit = Vec::new();
    for _ in 0..args.runs.max(1) {
        to_metadata.push(first_metadata(&bin, dir.path()).await?);
        let t = Instant::now();
        Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        to_exit.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (m, v) = (median(to_metadata), median(to_exit));
    out!(
        "start-up with {total} resources in the store, median of {} run(s)",
        args.runs
    );
    out!("| measure | ms | ratio to baseline |");
    out!("|---|---|---|");
    out!("| baseline: hearth --version (process start and exit) | {v:.1} | 1.0 |");
    out!(
        "| hearth serve: start to first 200 from GET /metadata | {m:.1} | {:.1} |",
        m / v
    );
    Ok(())
}

/// Imports the sample `copies` times under distinct ids; returns the resource count.
async fn fill(dir: &std::path::Path, copies: usize) -> Result<usize, String> {
    let store = Arc::new(SqliteStore::open(dir).map_err(|e| e.to_string())?);
    let files = collect_files(&[test_data().join("sample-synthea")])?;
    let options = ImportOptions {
        batch_size: 1000,
        validate: false,
        max_line_bytes: 16 << 20,
        progress: false,
        defer_index: false,
    };
    let report = import_files(store.clone(), &files, &options).await?;
    let mut total = report.created as usize;
    for copy in 1..copies {
        let mut page_cursor = None;
        for ty in [
            "Patient",
            "Encounter",
            "Observation",
            "Condition",
            "Procedure",
            "Claim",
            "ExplanationOfBenefit",
            "DiagnosticReport",
            "Immunization",
            "MedicationRequest",
            "CarePlan",
        ] {
            let ty = hearth_interface::ResourceType::parse(ty).ok_or("type")?;
            loop {
                let page = store
                    .scan(&hearth_interface::store::ScanQuery {
                        resource_type: ty,
                        since: None,
                        count: 1000,
                        cursor: page_cursor.take(),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let writes: Vec<Write> = page
                    .entries
                    .iter()
                    .filter(|r| !r.id.as_str().starts_with("copy"))
                    .filter_map(|r| {
                        let value: serde_json::Value =
                            serde_json::from_str(r.body.as_deref()?).ok()?;
                        let id =
                            hearth_interface::ResourceId::parse(&format!("copy{copy}-{}", r.id))
                                .ok()?;
                        Some(Write::upsert(ty, id, value, Default::default()))
                    })
                    .collect();
                total += writes.len();
                store.write_batch(writes).await.map_err(|e| e.to_string())?;
                match page.next_cursor {
                    Some(c) => page_cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    Ok(total)
}

async fn first_metadata(bin: &std::path::Path, dir: &std::path::Path) -> Result<f64, String> {
    let client = reqwest::Client::new();
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}/metadata");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let elapsed = loop {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
            && r.bytes().await.is_ok()
        {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            return Err("the server did not answer within 20 s".into());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(elapsed.as_secs_f64() * 1000.0)
}
