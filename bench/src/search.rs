//! Search (issue 6): `hearth generate` data imported with `hearth import`, then
//! representative searches against `hearth serve`, each repeated, with p50/p95 latency
//! against the targets; the baseline is `GET /metadata` on the same server
//! (routing, serialization and HTTP without a search). `--store` keeps the imported store
//! in a directory and reuses it when it exists, to measure queries again without
//! importing again.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::out;
use crate::{free_port, generate, hearth_binary};

/// Options of the search scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Generated patients (about 300 resources each; 3,500 make about 1.1 million).
    #[arg(long, default_value_t = 350)]
    patients: usize,
    /// Times each query runs (after one warm-up).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Keep the imported store in this directory; when it already holds a store, measure
    /// the queries on it without generating and importing again.
    #[arg(long)]
    store: Option<std::path::PathBuf>,
}

/// What a query is, for its target: issue 6 wants p95 under 25 ms for single-parameter
/// queries and under 100 ms for chains, `_has` and includes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Single,
    Joined,
}

impl Class {
    fn target_ms(self) -> f64 {
        match self {
            Class::Single => 25.0,
            Class::Joined => 100.0,
        }
    }
}

/// How a measured URL is reached.
#[derive(Clone, Copy)]
enum Reach {
    /// The query itself.
    Direct,
    /// The `next` link of the query's page `n - 1`, followed from the first page.
    Page(usize),
}

/// The measured queries: (label, class, path and query, how the measured URL is reached).
/// The first thirteen are the representative queries of issue 6.
const QUERIES: [(&str, Class, &str, Reach); 19] = [
    (
        "token",
        Class::Single,
        "Observation?code=http://loinc.org|8867-4&_count=20",
        Reach::Direct,
    ),
    (
        "date range",
        Class::Single,
        "Observation?date=ge2021-01-01&date=lt2021-02-01&_count=20",
        Reach::Direct,
    ),
    (
        "string prefix",
        Class::Single,
        "Patient?family=jon&_count=20",
        Reach::Direct,
    ),
    (
        "reference",
        Class::Single,
        "Observation?subject=Patient/pat-000100&_count=20",
        Reach::Direct,
    ),
    (
        "quantity",
        Class::Single,
        "Observation?value-quantity=gt100&_count=20",
        Reach::Direct,
    ),
    (
        "_total=accurate",
        Class::Single,
        "Observation?status=final&_total=accurate&_count=20",
        Reach::Direct,
    ),
    (
        "_sort=-date",
        Class::Single,
        "Observation?code=8867-4&_sort=-date&_count=20",
        Reach::Direct,
    ),
    (
        "paging: page 50",
        Class::Single,
        "Observation?code=8867-4&_count=20",
        Reach::Page(50),
    ),
    (
        "identifier",
        Class::Single,
        "Patient?identifier=urn:hearth:generate:mrn|MRN00000100",
        Reach::Direct,
    ),
    (
        "chain",
        Class::Joined,
        "Observation?subject:Patient.name=jones&_count=20",
        Reach::Direct,
    ),
    (
        "_has",
        Class::Joined,
        "Patient?_has:Encounter:patient:_id=enc-000100-0001",
        Reach::Direct,
    ),
    (
        "_include",
        Class::Joined,
        "Encounter?patient=pat-000100&_include=Encounter:patient",
        Reach::Direct,
    ),
    (
        "compartment",
        Class::Joined,
        "Patient/pat-000100/Observation?_count=20",
        Reach::Direct,
    ),
    (
        "token, no total",
        Class::Single,
        "Observation?code=8867-4&_total=none&_count=20",
        Reach::Direct,
    ),
    (
        "reference + token",
        Class::Single,
        "Observation?patient=pat-000100&code=8867-4",
        Reach::Direct,
    ),
    (
        "_id",
        Class::Single,
        "Observation?_id=obs-000001-0001",
        Reach::Direct,
    ),
    (
        "_sort=-_lastUpdated, every Observation",
        Class::Single,
        "Observation?_sort=-_lastUpdated&_count=20",
        Reach::Direct,
    ),
    (
        "date range, no total",
        Class::Single,
        "Observation?date=ge2021-01-01&date=lt2021-02-01&_total=none&_count=20",
        Reach::Direct,
    ),
    (
        "_lastUpdated range, every Observation",
        Class::Single,
        "Observation?_lastUpdated=gt2020-01-01&_lastUpdated=lt2100-01-01&_count=20",
        Reach::Direct,
    ),
];

pub async fn run(args: Args) -> Result<(), String> {
    let bin = hearth_binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = args.store.unwrap_or_else(|| dir.path().join("store"));
    if store.join(hearth_sqlite::DATABASE_FILE).exists() {
        out!("reusing the store in {}", store.display());
    } else {
        generate_and_import(&bin, dir.path(), &store, args.patients)?;
    }
    serve_and_measure(&bin, &store, free_port()?, args.runs).await
}

/// Generates `patients` patient records under `work` and imports them into `store`.
fn generate_and_import(
    bin: &Path,
    work: &Path,
    store: &Path,
    patients: usize,
) -> Result<(), String> {
    let data = work.join("ndjson");
    generate(bin, patients, &data)?;
    let started = Instant::now();
    let output = Command::new(bin)
        .arg("import")
        .arg(&data)
        .arg("--data-dir")
        .arg(store)
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
    Ok(())
}

async fn serve_and_measure(bin: &Path, store: &Path, port: u16, runs: usize) -> Result<(), String> {
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(store)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = measure(&base, runs).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure(base: &str, runs: usize) -> Result<(), String> {
    let client = reqwest::Client::new();
    wait_ready(&client, base).await?;
    let baseline = latencies(&client, &format!("{base}/metadata"), runs).await?;
    out!("{runs} runs per query after one warm-up; spread = p95 / p50.");
    out!("");
    out!(
        "| query | matches | p50 ms | p95 ms | max ms | spread | target p95 ms | p95 / baseline p95 |"
    );
    out!("|---|---|---|---|---|---|---|---|");
    let (b50, b95) = (percentile(&baseline, 0.5), percentile(&baseline, 0.95));
    let bmax = percentile(&baseline, 1.0);
    out!(
        "| baseline: GET /metadata | - | {b50:.2} | {b95:.2} | {bmax:.2} | {:.2} | - | 1.0 |",
        b95 / b50
    );
    let mut missed = Vec::new();
    for (label, class, query, reach) in QUERIES {
        let first = format!("{base}/{query}");
        let body = get_json(&client, &first).await?;
        let matches = body
            .get("total")
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let url = match reach {
            Reach::Direct => first,
            Reach::Page(n) => page_url(&client, body, n).await?,
        };
        let times = latencies(&client, &url, runs).await?;
        let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
        let max = percentile(&times, 1.0);
        let target = class.target_ms();
        let mark = if p95 < target { "" } else { " (missed)" };
        if p95 >= target {
            missed.push(label);
        }
        out!(
            "| {label}: `{query}` | {matches} | {p50:.2} | {p95:.2} | {max:.2} | {:.2} | {target:.0}{mark} | {:.1} |",
            p95 / p50,
            p95 / b95
        );
    }
    out!("");
    if missed.is_empty() {
        out!("Every query met its p95 target.");
    } else {
        out!("Missed the p95 target: {}.", missed.join(", "));
    }
    Ok(())
}

/// GETs `url` as JSON; an OperationOutcome is an error.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    let body: serde_json::Value = client
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if body["resourceType"] == "OperationOutcome" {
        return Err(format!("{url}: {body}"));
    }
    Ok(body)
}

/// The URL of page `n` (1-based), following `next` links from the first page `first`.
async fn page_url(
    client: &reqwest::Client,
    first: serde_json::Value,
    n: usize,
) -> Result<String, String> {
    let next = |page: &serde_json::Value| {
        page["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(str::to_owned)
    };
    let mut url = next(&first).ok_or("the first page has no next link")?;
    for page in 2..n {
        let body = get_json(client, &url).await?;
        url = next(&body).ok_or_else(|| format!("page {page} has no next link"))?;
    }
    Ok(url)
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
