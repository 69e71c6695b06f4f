//! `hearth serve --backend aws` checks its AWS resources at start-up.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{aws_env, hearth_bin};

/// A missing DynamoDB table stops the server before it listens, naming the table and the fix.
#[test]
fn serve_on_aws_with_a_missing_table_fails_at_start_up() {
    let moto = hearth_testkit::Moto::shared();
    let osmem = hearth_testkit::OsMem::shared();
    let table = hearth_testkit::unique_name("missing");
    let started = Instant::now();
    let output = Command::new(hearth_bin())
        .args(["serve", "--backend", "aws", "--addr", "127.0.0.1:0"])
        .envs(moto.aws_env())
        .env("HEARTH_DYNAMODB_TABLE", &table)
        .env("HEARTH_S3_BUCKET", hearth_testkit::unique_name("bucket"))
        .env("HEARTH_OPENSEARCH_URL", osmem.url())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run hearth");
    assert!(!output.status.success(), "hearth serve started");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("DynamoDB table '{table}' does not exist"))
            && stderr.contains("hearth init-aws"),
        "{stderr}"
    );
}

/// A missing bucket and an unreachable OpenSearch are reported together, before listening.
#[test]
fn serve_on_aws_names_a_missing_bucket_and_an_unreachable_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = aws_env(dir.path());
    let bucket = hearth_testkit::unique_name("missing");
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let cluster = format!("http://{closed}");
    let output = Command::new(hearth_bin())
        .args(["serve", "--backend", "aws", "--addr", "127.0.0.1:0"])
        .envs(env)
        .env("HEARTH_S3_BUCKET", &bucket)
        .env("HEARTH_OPENSEARCH_URL", &cluster)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run hearth");
    assert!(!output.status.success(), "hearth serve started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("S3 bucket '{bucket}' does not exist"))
            && stderr.contains(&format!("OpenSearch at {cluster}"))
            && stderr.contains("unreachable"),
        "{stderr}"
    );
}

/// What another process writes to DynamoDB without indexing it reaches the server's
/// searches through the stream indexer it runs in-process.
#[tokio::test]
async fn serve_on_aws_indexes_what_others_write_from_the_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = aws_env(dir.path());
    let mut server = tokio::process::Command::new(hearth_bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .envs(env.clone())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hearth");
    let stdout = server.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("hearth did not start")
        .expect("read")
        .expect("a line");
    let base = first
        .strip_prefix("hearth listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();

    // Another process writes; it indexes into other indexes, so only the stream can
    // bring these resources to the server's.
    let data = dir.path().join("patients.ndjson");
    let lines_out: Vec<String> = (0..3)
        .map(|i| {
            serde_json::json!({"resourceType": "Patient", "id": format!("streamed-{i}"),
                "name": [{"family": "Streamed"}]})
            .to_string()
        })
        .collect();
    std::fs::write(&data, lines_out.join("\n")).expect("write data");
    let status = Command::new(hearth_bin())
        .args(["import", "--quiet"])
        .arg(&data)
        .envs(env)
        .env(
            "HEARTH_OPENSEARCH_PREFIX",
            hearth_testkit::unique_name("elsewhere"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("run import");
    assert!(status.success());

    let written = Instant::now();
    let client = reqwest::Client::new();
    loop {
        let bundle: Value = client
            .get(format!("{base}/Patient?family=streamed"))
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        if bundle["total"] == 3 {
            println!("found by the stream indexer after {:?}", written.elapsed());
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(10),
            "not indexed after 10 s: {bundle}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
