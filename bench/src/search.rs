//! Search (issue 6): `hearth generate` data imported with `hearth import`, then
//! representative searches against `hearth serve`, each repeated, with p50/p95 latency;
//! the baseline is `GET /metadata` on the same server (routing, serialization and HTTP
//! without a search).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::hearth_binary;
use crate::report::out;

/// Options of the search scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Generated patients (about 300 resources each; 3,500 make about 1.1 million).
    #[arg(long, default_value_t = 350)]
    patients: usize,
    /// Times each query runs (after one warm-up).
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

/// The measured queries: (label, path and query).
const QUERIES: [(&str, &str); 14] = [
    (
        "token",
        "Observation?code=http://loinc.org|8867-4&_count=20",
    ),
    (
        "token, no total",
        "Observation?code=8867-4&_total=none&_count=20",
    ),
    (
        "reference",
        "Observation?subject=Patient/pat-000100&_count=20",
    ),
    (
        "reference + token",
        "Observation?patient=pat-000100&code=8867-4",
    ),
    (
        "date range",
        "Observation?date=ge2021-01-01&date=lt2021-02-01&_count=20",
    ),
    ("string prefix", "Patient?family=jon&_count=20"),
    (
        "identifier",
        "Patient?identifier=urn:hearth:generate:mrn|MRN00000100",
    ),
    ("chain", "Observation?subject:Patient.name=jones&_count=20"),
    ("_has", "Patient?_has:Encounter:patient:_id=enc-000100-0001"),
    (
        "_include",
        "Encounter?patient=pat-000100&_include=Encounter:patient",
    ),
    ("compartment", "Patient/pat-000100/Observation?_count=20"),
    ("_id", "Observation?_id=obs-000001-0001"),
    (
        "_total=accurate",
        "Observation?status=final&_total=accurate&_count=20",
    ),
    ("quantity", "Observation?value-quantity=gt100&_count=20"),
];

pub async fn run(args: Args) -> Result<(), String> {
    let bin = hearth_binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("ndjson");
    let store = dir.path().join("store");
    let status = Command::new(&bin)
        .args([
            "generate",
            "--patients",
            &args.patients.to_string(),
            "--quiet",
            "--out",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("hearth generate failed".into());
    }
    let started = Instant::now();
    let output = Command::new(&bin)
        .arg("import")
        .arg(&data)
        .arg("--data-dir")
        .arg(&store)
        .arg("--quiet")
        .output()
        .map_err(|e| e.to_string())?;
    let import_secs = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "hearth import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    out!("{}", String::from_utf8_lossy(&output.stdout).trim());
    out!("import wall time {import_secs:.2} s (schema validation on, search indexing on)");

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&store)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = measure(&base, args.runs).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure(base: &str, runs: usize) -> Result<(), String> {
    let client = reqwest::Client::new();
    wait_ready(&client, base).await?;
    let baseline = latencies(&client, &format!("{base}/metadata"), runs).await?;
    out!("| query | matches | p50 ms | p95 ms | p95 / baseline p95 |");
    out!("|---|---|---|---|---|");
    let (b50, b95) = (percentile(&baseline, 0.5), percentile(&baseline, 0.95));
    out!("| baseline: GET /metadata | - | {b50:.2} | {b95:.2} | 1.0 |");
    for (label, query) in QUERIES {
        let url = format!("{base}/{query}");
        let body: serde_json::Value = client
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let matches = body
            .get("total")
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        if body["resourceType"] == "OperationOutcome" {
            return Err(format!("{query}: {body}"));
        }
        let times = latencies(&client, &url, runs).await?;
        let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
        out!(
            "| {label}: `{query}` | {matches} | {p50:.2} | {p95:.2} | {:.1} |",
            p95 / b95
        );
    }
    Ok(())
}

async fn latencies(client: &reqwest::Client, url: &str, runs: usize) -> Result<Vec<f64>, String> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs.max(1) {
        let started = Instant::now();
        let response = client.get(url).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{url}: {status}"));
        }
        if i > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(times)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64 - 1.0) * p).round();
    sorted.get(rank as usize).copied().unwrap_or(0.0)
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/metadata")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the server did not answer within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
