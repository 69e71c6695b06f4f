//! `hearth serve --backend aws` checks its AWS resources at start-up.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::hearth_bin;

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
