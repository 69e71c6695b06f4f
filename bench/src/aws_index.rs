//! Indexing on the AWS backend (issue 8): generated resources loaded into DynamoDB with
//! `hearth import --backend aws` (which indexes what it writes, here into indexes under
//! another prefix, so the measured indexes start empty), then indexed into OpenSearch
//! twice, each by the real binary:
//!
//! - the stream indexer: `hearth serve --backend aws` polls the table's DynamoDB stream
//!   from its oldest record and indexes every version; measured from the server's spawn
//!   until OpenSearch counts every resource;
//! - `hearth reindex --backend aws`: a scan of DynamoDB by type, rewriting every document.
//!
//! The baseline is the ceiling of the same OpenSearch: the same resources sent as they are
//! by `_bulk` into a fresh index, in batches of the indexer's size, without reading
//! DynamoDB or extracting index values. Everything runs on the local stand-ins (`moto_server`, `osmem-server`, started
//! on loopback ports as the tests do), so the absolute rates say more about them than about
//! AWS; the ratios say how much of the stand-in's capacity each path uses.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_testkit::{Moto, OsMem, unique_name};
use serde_json::{Value, json};

use crate::report::out;
use crate::{free_port, generate, hearth_binary};

/// Options of the AWS indexing scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Generated patients (about 300 resources each).
    #[arg(long, default_value_t = 10)]
    patients: usize,
    /// Longest wait for the stream indexer to catch up, in seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

/// Documents per `_bulk` request: the indexer's batch size.
const BULK_DOCS: usize = 500;

/// The stand-ins and the settings that point `hearth` at them.
struct Stack {
    _moto: Moto,
    osmem: OsMem,
    env: Vec<(&'static str, String)>,
    prefix: String,
}

impl Stack {
    fn start() -> Self {
        let moto = Moto::start();
        let osmem = OsMem::start();
        let prefix = unique_name("bench");
        let mut env = moto.aws_env();
        env.extend([
            ("HEARTH_BACKEND", "aws".to_owned()),
            ("HEARTH_DYNAMODB_TABLE", unique_name("bench")),
            ("HEARTH_S3_BUCKET", unique_name("bench")),
            ("HEARTH_OPENSEARCH_URL", osmem.url().to_owned()),
            ("HEARTH_OPENSEARCH_PREFIX", prefix.clone()),
            ("RUST_LOG", "warn".to_owned()),
        ]);
        Self {
            _moto: moto,
            osmem,
            env,
            prefix,
        }
    }

    /// Runs `hearth <args>` against the stand-ins and returns its standard output.
    fn hearth(&self, bin: &Path, args: &[&str]) -> Result<String, String> {
        self.hearth_with(bin, args, &[])
    }

    /// [`Stack::hearth`] with more (or overriding) environment variables.
    fn hearth_with(
        &self,
        bin: &Path,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<String, String> {
        let output = Command::new(bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "hearth {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Documents in the indexes of this run (tombstones included: there are none here).
    async fn indexed(&self, http: &reqwest::Client) -> Result<u64, String> {
        let pattern = format!("{}-*", self.prefix);
        let url = format!("{}/{pattern}/_refresh", self.osmem.url());
        http.post(&url).send().await.map_err(|e| e.to_string())?;
        let url = format!("{}/{pattern}/_count", self.osmem.url());
        let answer = json_answer(http.get(&url)).await?;
        Ok(answer["count"].as_u64().unwrap_or(0))
    }
}

pub async fn run(args: Args) -> Result<(), String> {
    let bin = hearth_binary()?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = work.path().join("ndjson");
    generate(&bin, args.patients, &data)?;
    let stack = Stack::start();
    let http = reqwest::Client::new();
    stack.hearth(&bin, &["init-aws"])?;

    let data_arg = data.to_string_lossy().into_owned();
    let started = Instant::now();
    let import_prefix = unique_name("import");
    stack.hearth_with(
        &bin,
        &["import", "--quiet", &data_arg],
        &[("HEARTH_OPENSEARCH_PREFIX", &import_prefix)],
    )?;
    let import_seconds = started.elapsed().as_secs_f64();
    let files = read_resources(&data)?;
    let resources: u64 = files.iter().map(|(_, lines)| lines.len() as u64).sum();

    let stream_seconds = stream_indexer(&bin, &stack, &http, resources, args.timeout).await?;

    let started = Instant::now();
    let report = stack.hearth(&bin, &["reindex", "--quiet"])?;
    let reindex_seconds = started.elapsed().as_secs_f64();
    if !report.contains("no drift") {
        return Err(format!("the stream indexer left drift:\n{report}"));
    }

    let ceiling_seconds = raw_bulk(&http, stack.osmem.url(), &files).await?;

    let rate = |seconds: f64| resources as f64 / seconds.max(1e-9);
    let ceiling = rate(ceiling_seconds);
    out!(
        "{resources} generated resources ({} patients) on moto_server and osmem-server, loopback",
        args.patients
    );
    out!("| step | seconds | resources/s | ratio to ceiling |");
    out!("|---|---|---|---|");
    out!(
        "| ceiling: `_bulk` of the resources as they are into OpenSearch, {BULK_DOCS} per request | {ceiling_seconds:.2} | {ceiling:.0} | 1.00 |"
    );
    for (step, seconds) in [
        (
            "stream indexer (`hearth serve --backend aws`, from spawn to all indexed)",
            stream_seconds,
        ),
        (
            "`hearth reindex --backend aws` (scan DynamoDB, rewrite every document)",
            reindex_seconds,
        ),
        (
            "for reference: `hearth import --backend aws` (DynamoDB, indexing each batch)",
            import_seconds,
        ),
    ] {
        out!(
            "| {step} | {seconds:.2} | {:.0} | {:.2} |",
            rate(seconds),
            rate(seconds) / ceiling
        );
    }
    Ok(())
}

/// Starts the server, whose stream indexer indexes everything the import wrote, and
/// returns the seconds until OpenSearch counts `expected` documents.
async fn stream_indexer(
    bin: &Path,
    stack: &Stack,
    http: &reqwest::Client,
    expected: u64,
    timeout: u64,
) -> Result<f64, String> {
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let _server = tokio::process::Command::new(bin)
        .arg("serve")
        .arg("--addr")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .arg("--data-dir")
        .arg(data_dir.path())
        .envs(stack.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = started + Duration::from_secs(timeout);
    loop {
        // Not ready yet is not an error: the indexes appear with the first documents.
        if stack.indexed(http).await.unwrap_or(0) >= expected {
            return Ok(started.elapsed().as_secs_f64());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the stream indexer did not index {expected} resources in {timeout} s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seconds to index `files` (resource type, resources), as they are, by `_bulk` into a
/// fresh index per file (one per resource type, as Hearth's).
async fn raw_bulk(
    http: &reqwest::Client,
    url: &str,
    files: &[(String, Vec<String>)],
) -> Result<f64, String> {
    let prefix = unique_name("bench-raw");
    let mut batches = Vec::new();
    for (stem, lines) in files {
        let index = format!("{prefix}-{}", stem.to_lowercase());
        for chunk in lines.chunks(BULK_DOCS) {
            let mut body = String::new();
            for line in chunk {
                body.push_str(&json!({"index": {"_index": index}}).to_string());
                body.push('\n');
                body.push_str(line);
                body.push('\n');
            }
            batches.push(body);
        }
    }
    let started = Instant::now();
    for body in batches {
        let request = http
            .post(format!("{url}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body);
        let answer = json_answer(request).await?;
        if answer["errors"].as_bool() != Some(false) {
            let failed = answer["items"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i.to_string().contains("\"error\"")));
            return Err(format!("raw _bulk failed: {failed:?}"));
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Sends `request` and reads its JSON answer.
async fn json_answer(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let answer = request.send().await.map_err(|e| e.to_string())?;
    answer.json().await.map_err(|e| e.to_string())
}

/// The NDJSON files in `dir`: each file's name without extension and its resources (lines).
fn read_resources(dir: &Path) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let lines = text.lines().filter(|l| !l.trim().is_empty());
        files.push((stem.to_owned(), lines.map(str::to_owned).collect()));
    }
    Ok(files)
}
