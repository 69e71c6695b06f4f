//! Test harness: runs the real `hearth` binary on a loopback port with a fresh data
//! directory, and talks to it over HTTP.
//!
//! With `HEARTH_TEST_BACKEND=aws` the same tests run on the AWS backend: the server uses
//! DynamoDB and S3 on a shared `moto_server` and OpenSearch on a shared `osmem-server`
//! (both started by hearth-testkit), with a table, bucket and index prefix of its own
//! derived from its data directory, created by `hearth init-aws`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod auth;

/// A running `hearth serve` on 127.0.0.1 with its own data directory.
pub struct TestServer {
    child: Child,
    /// The base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory (deleted on drop unless kept by [`TestServer::keep_dir`]).
    pub dir: Option<tempfile::TempDir>,
    /// The data directory path.
    pub data_dir: PathBuf,
    /// A keep-alive HTTP client.
    pub client: reqwest::Client,
}

/// The path of the `hearth` binary under test.
pub fn hearth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hearth")
}

/// The repository's test data directory.
pub fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

impl TestServer {
    /// Starts a server on a fresh data directory.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_path_buf();
        let mut server = Self::start_on(&data_dir, &[]).await;
        server.dir = Some(dir);
        server
    }

    /// Starts a server on an existing data directory with extra arguments.
    pub async fn start_on(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_logged(data_dir, extra, "warn", None).await
    }

    /// Starts a server with extra arguments, logging at `log_level` to `log_file` (to the
    /// test's stderr when `None`).
    pub async fn start_logged(
        data_dir: &Path,
        extra: &[&str],
        log_level: &str,
        log_file: Option<&Path>,
    ) -> Self {
        let stderr = match log_file {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::inherit(),
        };
        let env = backend_env(data_dir);
        let mut child = Command::new(hearth_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env)
            .env("RUST_LOG", log_level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn hearth");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(30), line)
            .await
            .expect("hearth did not start within 30 s")
            .expect("join")
            .expect("read stdout");
        let base = line
            .trim()
            .strip_prefix("hearth listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(8)
            .build()
            .expect("client");
        Self {
            child,
            base,
            dir: None,
            data_dir: data_dir.to_path_buf(),
            client,
        }
    }

    /// The URL of `path` (with or without a leading slash).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// A request builder with FHIR JSON headers.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("accept", "application/fhir+json")
    }

    /// GET and return status and JSON body (Null when empty).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    /// POST a resource.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/fhir+json")
                .body(body.to_string()),
        )
        .await
    }

    /// PUT a resource.
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        send(
            self.request(reqwest::Method::PUT, path)
                .header("content-type", "application/fhir+json")
                .body(body.to_string()),
        )
        .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether the tests run on the AWS backend (`HEARTH_TEST_BACKEND=aws`).
pub fn on_aws() -> bool {
    std::env::var("HEARTH_TEST_BACKEND").is_ok_and(|b| b == "aws")
}

/// The environment that points `hearth` at the backend under test for `data_dir`: nothing
/// for the embedded backend; for AWS, the stand-ins' endpoints and resource names unique to
/// `data_dir`, created by `hearth init-aws` on first use (idempotent).
pub fn backend_env(data_dir: &Path) -> Vec<(String, String)> {
    if on_aws() {
        aws_env(data_dir)
    } else {
        Vec::new()
    }
}

/// The environment that points `hearth` at the AWS stand-ins, with resource names unique
/// to `data_dir`, created by `hearth init-aws` on first use (idempotent).
pub fn aws_env(data_dir: &Path) -> Vec<(String, String)> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let name = format!("hearth-test-{:016x}", hasher.finish());
    let moto = hearth_testkit::Moto::shared();
    let osmem = hearth_testkit::OsMem::shared();
    let mut env: Vec<(String, String)> = moto
        .aws_env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.extend([
        ("HEARTH_BACKEND".to_owned(), "aws".to_owned()),
        ("HEARTH_DYNAMODB_TABLE".to_owned(), name.clone()),
        ("HEARTH_S3_BUCKET".to_owned(), name.clone()),
        ("HEARTH_OPENSEARCH_URL".to_owned(), osmem.url().to_owned()),
        ("HEARTH_OPENSEARCH_PREFIX".to_owned(), name.clone()),
    ]);
    let status = Command::new(hearth_bin())
        .args(["init-aws", "--quiet"])
        .envs(env.clone())
        .env("RUST_LOG", "warn")
        .status()
        .expect("spawn hearth init-aws");
    assert!(status.success(), "hearth init-aws failed: {status}");
    env
}

/// Sends a request; returns the status and the JSON body (Null when empty or not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request failed");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The official R4 examples, one per line.
pub fn examples() -> Vec<Value> {
    std::fs::read_to_string(test_data().join("examples.ndjson"))
        .expect("examples")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Asserts an OperationOutcome body whose diagnostics mention `needle`.
pub fn assert_outcome(body: &Value, needle: &str) {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    let text = body.to_string().to_lowercase();
    assert!(
        text.contains(&needle.to_lowercase()),
        "'{needle}' not in {body}"
    );
}
