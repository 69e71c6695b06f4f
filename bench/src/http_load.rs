//! HTTP throughput: reads and creates against `hearth serve` over keep-alive connections,
//! and the same load against a trivial handler on the same stack (axum + tokio in a separate
//! process), measured in one run. Loopback only; bounded by request count and time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::hearth_binary;
use crate::report::out;

/// Options of the HTTP scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Requests per measurement.
    #[arg(long, default_value_t = 40_000)]
    requests: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Upper bound on each measurement, in seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Serve the trivial baseline handler on this address (used by the benchmark itself).
    #[arg(long, hide = true)]
    serve_trivial: bool,
    /// Instead, measure authorization overhead: reads with a bearer token (warm key and
    /// token caches) against reads on `--auth none`, both servers in this run. `smart`: an
    /// external SMART issuer; `rbac`: a Cognito user pool on moto_server.
    #[arg(long, value_parser = ["smart", "rbac"])]
    auth: Option<String>,
}

impl Args {
    /// Requests per measurement.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// Concurrent connections.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The authorizer whose overhead to measure, if any.
    pub fn auth(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// Upper bound on each measurement.
    pub fn limit(&self) -> Duration {
        Duration::from_secs(self.max_seconds)
    }
}

/// A spawned server process, killed on drop.
pub struct Server {
    child: Child,
    /// The server's base URL.
    pub base: String,
}

/// Starts the release `hearth serve` on a free loopback port over `data_dir`.
pub fn spawn_hearth(data_dir: &std::path::Path) -> Result<Server, String> {
    let mut hearth = Command::new(hearth_binary()?);
    hearth
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn");
    spawn(hearth)
}

impl Server {
    /// The CPU time (user + system) the server process has used so far, in seconds, from
    /// `/proc/<pid>/stat` (utime and stime, in `USER_HZ` ticks, which Linux fixes at 100
    /// per second for `/proc`).
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map_err(|e| format!("cannot read the server's CPU time: {e}"))?;
        // Fields after the command name, which is in parentheses and may hold spaces:
        // state is the first, utime the 12th and stime the 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or("unexpected /proc/<pid>/stat format")
        };
        Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns a server command that prints its base URL on its first stdout line.
pub fn spawn(mut command: Command) -> Result<Server, String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let base = line.trim().rsplit(' ').next().unwrap_or("").to_owned();
    if !base.starts_with("http://127.0.0.1:") {
        return Err(format!("unexpected server banner: {line}"));
    }
    Ok(Server { child, base })
}

pub async fn run(args: Args) -> Result<(), String> {
    if args.serve_trivial {
        return serve_trivial().await;
    }
    if args.auth.is_some() {
        return crate::auth_read::run(&args).await;
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut hearth = Command::new(hearth_binary()?);
    hearth
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn");
    let hearth = spawn(hearth)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut trivial = Command::new(me);
    trivial.args(["http", "--serve-trivial"]);
    let trivial = spawn(trivial)?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let ids = seed(&client, &hearth.base, 1000).await?;
    let limit = Duration::from_secs(args.max_seconds);
    let body = json!({"resourceType": "Patient", "name": [{"family": "Load", "given": ["Test"]}], "gender": "female", "birthDate": "1980-01-01"}).to_string();

    let read_paths: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("{}/Patient/{id}", hearth.base))
            .collect(),
    );
    let hearth_reads = load(
        &client,
        args.requests,
        args.concurrency,
        limit,
        Op::Get(read_paths),
    )
    .await?;
    let base_reads = load(
        &client,
        args.requests,
        args.concurrency,
        limit,
        Op::Get(Arc::new(vec![format!("{}/Patient/1", trivial.base)])),
    )
    .await?;
    let hearth_creates = load(
        &client,
        args.requests / 2,
        args.concurrency,
        limit,
        Op::Post(format!("{}/Patient", hearth.base), body.clone()),
    )
    .await?;
    let base_creates = load(
        &client,
        args.requests / 2,
        args.concurrency,
        limit,
        Op::Post(format!("{}/Patient", trivial.base), body),
    )
    .await?;
    let hearth_mixed = load(
        &client,
        args.requests / 2,
        args.concurrency,
        limit,
        Op::Mixed(hearth.base.clone(), Arc::new(ids.clone())),
    )
    .await?;
    let base_mixed = load(
        &client,
        args.requests / 2,
        args.concurrency,
        limit,
        Op::Mixed(trivial.base.clone(), Arc::new(vec!["1".to_owned()])),
    )
    .await?;

    out!(
        "HTTP/1.1 keep-alive, {} connections, loopback; baseline = trivial axum handler in its own process",
        args.concurrency
    );
    out!(
        "| load | hearth req/s | p50 ms | p95 ms | p99 ms | baseline req/s | baseline p99 ms | ratio |"
    );
    out!("|---|---|---|---|---|---|---|---|");
    for (name, h, b) in [
        ("read (GET Patient/id)", &hearth_reads, &base_reads),
        ("create (POST Patient)", &hearth_creates, &base_creates),
        (
            "mixed CRUD (70% read, 20% update, 10% create)",
            &hearth_mixed,
            &base_mixed,
        ),
    ] {
        out!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
            h.rate,
            h.p(0.50),
            h.p(0.95),
            h.p(0.99),
            b.rate,
            b.p(0.99),
            h.rate / b.rate
        );
    }
    Ok(())
}

/// Creates `n` Patients `p0..` and returns their ids.
pub async fn seed(client: &reqwest::Client, base: &str, n: usize) -> Result<Vec<String>, String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({"resourceType": "Patient", "id": format!("p{i}"), "name": [{"family": format!("Seed{i}")}]});
        let r = client
            .put(format!("{base}/Patient/p{i}"))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("seeding failed: {}", r.status()));
        }
        ids.push(format!("p{i}"));
    }
    Ok(ids)
}

/// One kind of load.
#[derive(Clone)]
pub enum Op {
    /// GETs of these URLs in turn.
    Get(Arc<Vec<String>>),
    /// POSTs of this body to this URL.
    Post(String, String),
    /// Reads, updates (a changed family name, so a new version each time) and creates
    /// against a base URL and the seeded ids.
    Mixed(String, Arc<Vec<String>>),
}

/// Throughput and latencies of one measurement.
pub struct Measured {
    /// Requests per second.
    pub rate: f64,
    latencies_us: Vec<u64>,
}

impl Measured {
    /// The `q` quantile of latencies, in ms.
    pub fn p(&self, q: f64) -> f64 {
        let i = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// Runs `total` requests of `op` over `concurrency` connections.
pub async fn load(
    client: &reqwest::Client,
    total: usize,
    concurrency: usize,
    limit: Duration,
    op: Op,
) -> Result<Measured, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, op) = (client.clone(), next.clone(), op.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total || started.elapsed() > limit {
                        break;
                    }
                    let t = Instant::now();
                    let request = match &op {
                        Op::Get(urls) => client.get(&urls[n % urls.len()]),
                        Op::Post(url, body) => client
                            .post(url)
                            .header("content-type", "application/fhir+json")
                            .body(body.clone()),
                        Op::Mixed(base, ids) => {
                            let id = &ids[n % ids.len()];
                            match n % 10 {
                                0 => client
                                    .post(format!("{base}/Patient"))
                                    .header("content-type", "application/fhir+json")
                                    .body(json!({"resourceType": "Patient", "gender": "male"}).to_string()),
                                1 | 2 => client
                                    .put(format!("{base}/Patient/{id}"))
                                    .header("content-type", "application/fhir+json")
                                    .body(json!({"resourceType": "Patient", "id": id, "name": [{"family": format!("Mixed{n}")}]}).to_string()),
                                _ => client.get(format!("{base}/Patient/{id}")),
                            }
                        }
                    };
                    let response = request.send().await.map_err(|e| e.to_string())?;
                    let ok = response.status().is_success();
                    response.bytes().await.map_err(|e| e.to_string())?;
                    if !ok {
                        return Err("request failed".to_owned());
                    }
                    latencies.push(t.elapsed().as_micros() as u64);
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut latencies_us = Vec::with_capacity(total);
    for t in tasks {
        latencies_us.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    Ok(Measured {
        rate: latencies_us.len() as f64 / secs,
        latencies_us,
    })
}

/// The baseline: a fixed FHIR JSON answer for GET and echoes of the body for POST (201)
/// and PUT (200).
async fn serve_trivial() -> Result<(), String> {
    use axum::routing::get;
    const PATIENT: &str = r#"{"resourceType":"Patient","id":"1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000000Z"},"name":[{"family":"Seed1"}]}"#;
    let app = axum::Router::new()
        .route(
            "/Patient/{id}",
            get(|| async { ([("content-type", "application/fhir+json")], PATIENT) }).put(
                |body: String| async move { ([("content-type", "application/fhir+json")], body) },
            ),
        )
        .route(
            "/Patient",
            axum::routing::post(|body: String| async move {
                (
                    axum::http::StatusCode::CREATED,
                    [("content-type", "application/fhir+json")],
                    body,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "trivial listening on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
