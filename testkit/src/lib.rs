//! Local stand-ins for the AWS services and OpenSearch, for tests.
//!
//! [`Moto`] runs `moto_server` (DynamoDB, DynamoDB Streams, S3, Cognito) and [`OsMem`] runs
//! `osmem-server` (the OpenSearch REST API), each on 127.0.0.1 with a free port. Both are
//! stopped when the test process ends, even when it is killed: `moto_server` runs under a
//! shell that stops it when our end of its standard input closes, `osmem-server` watches our
//! process id. `scripts/test` installs both into a Python venv and exports
//! `HEARTH_MOTO_SERVER` and `HEARTH_OSMEM_SERVER`; without them the binaries are looked up
//! on `PATH`.
//!
//! Tests share one server of each kind per test process ([`Moto::shared`],
//! [`OsMem::shared`]) and keep apart by naming their tables, buckets and indexes with
//! [`unique_name`].
//!
//! [`lambda::LambdaRuntime`] stands in for the Lambda Runtime API, so the real binary can
//! be run as a Lambda function.

pub mod lambda;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a stand-in may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `moto_server` with two corrections that make its DynamoDB transactions behave as
/// on AWS, where the tests need it:
///
/// - one request at a time: moto's threaded server does not isolate `TransactWriteItems`
///   (a transaction that fails restores a snapshot of the table taken when it began,
///   undoing what other threads wrote meanwhile). Python's GIL serializes moto nearly
///   anyway, so little is lost.
/// - rollback by item: moto snapshots every touched table with `copy.deepcopy` (stream
///   records included) for each transaction, which makes the staged protocol of a
///   1,000-entry transaction take minutes and gigabytes. The wrapper keeps copies of the
///   items the transaction names instead, restores them on failure and drops the stream
///   records the failed attempt produced: the same outcome as moto's own rollback.
const MOTO_LAUNCHER: &str = r#"
import copy
import sys

import werkzeug.serving as serving
import moto.dynamodb.models as dynamodb
from moto.dynamodb.models.table import Table

threaded_run_simple = serving.run_simple


def serial_run_simple(*args, **kwargs):
    kwargs["threaded"] = False
    return threaded_run_simple(*args, **kwargs)


serving.run_simple = serial_run_simple


class TablesAreNotCopied:
    """moto's `copy` module, except that a Table "copy" is the table itself."""

    def deepcopy(self, value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


dynamodb.copy = TablesAreNotCopied()
moto_transact_write_items = dynamodb.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    saved = []
    streams = {}
    for entry in transact_items:
        for op_type, op in entry.items():
            name = op.get("TableName")
            table = self.tables.get(name)
            if table is None:
                continue
            if op_type == "Put":
                attrs = op.get("Item", {})
                names = [table.hash_key_attr, table.range_key_attr]
                key = {a: attrs[a] for a in names if a and a in attrs}
            else:
                key = op.get("Key", {})
            try:
                before = self.get_item(name, key)
            except Exception:
                continue
            saved.append((name, key, copy.deepcopy(before)))
            if table.stream_shard is not None:
                streams.setdefault(name, len(table.stream_shard.items))
    try:
        return moto_transact_write_items(self, transact_items)
    except Exception:
        for name, key, before in reversed(saved):
            if before is None:
                self.delete_item(name, key)
            else:
                self.put_item(name, before.to_json()["Attributes"])
        for name, length in streams.items():
            del self.tables[name].stream_shard.items[length:]
        raise


dynamodb.DynamoDBBackend.transact_write_items = transact_write_items

from moto.server import main

main(sys.argv[1:])
"#;

/// A running `moto_server`.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    child: Child,
    /// Held open for the server's lifetime: when it closes, the wrapper shell stops moto.
    _lifeline: ChildStdin,
}

impl Moto {
    /// Starts a new `moto_server` on a free loopback port and waits until it answers.
    ///
    /// # Panics
    /// When the binary cannot be found or does not become ready: tests cannot run then.
    #[must_use]
    pub fn start() -> Self {
        let binary = locate("HEARTH_MOTO_SERVER", "moto_server");
        let python = script_interpreter(&binary);
        let port = free_port();
        // `sh` starts moto in the background and waits on its own stdin (our pipe); when the
        // test process ends the pipe closes and the shell stops moto.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" </dev/null >/dev/null 2>&1 & p=$!; read _; kill $p; wait $p"#)
            .arg("sh")
            .args(&python)
            .args(["-c", MOTO_LAUNCHER])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let lifeline = child.stdin.take().expect("piped stdin");
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_ready(&endpoint, "/moto-api/", &mut child);
        Self {
            endpoint,
            child,
            _lifeline: lifeline,
        }
    }

    /// The `moto_server` shared by every test of this process, started on first use.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`), for `AWS_ENDPOINT_URL`.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Environment variables that point the AWS SDK at this server with dummy credentials.
    #[must_use]
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_SESSION_TOKEN", "testing".to_owned()),
        ]
    }

    /// Forgets every table, bucket and user pool (`POST /moto-api/reset`).
    ///
    /// # Panics
    /// When the server does not answer 200.
    pub fn reset(&self) {
        let (status, _) = http(&self.endpoint, "POST", "/moto-api/reset")
            .unwrap_or_else(|e| panic!("moto reset: {e}"));
        assert_eq!(status, 200, "moto reset answered {status}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `osmem-server` (an in-memory OpenSearch REST API).
#[derive(Debug)]
pub struct OsMem {
    url: String,
    child: Child,
}

impl OsMem {
    /// Starts a new `osmem-server` on a free loopback port and waits until it answers.
    ///
    /// # Panics
    /// When the binary cannot be found or does not become ready.
    #[must_use]
    pub fn start() -> Self {
        let binary = locate("HEARTH_OSMEM_SERVER", "osmem-server");
        let mut child = Command::new(&binary)
            .args(["-addr", "127.0.0.1:0", "-no-stdin-watch", "-parent-pid"])
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        // The first line of its output is a JSON object with the URL it listens on.
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .unwrap_or_else(|e| panic!("reading osmem-server's first line: {e}"));
        let url = serde_json::from_str::<serde_json::Value>(&first)
            .ok()
            .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(str::to_owned))
            .unwrap_or_else(|| panic!("osmem-server printed no URL: {first:?}"));
        let url = url.trim_end_matches('/').to_owned();
        wait_ready(&url, "/", &mut child);
        Self { url, child }
    }

    /// The `osmem-server` shared by every test of this process, started on first use.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<OsMem> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    /// The base URL (`http://127.0.0.1:PORT`), for `HEARTH_OPENSEARCH_URL`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for OsMem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A name no other test of any concurrently running test process uses, made of lowercase
/// letters, digits and `-` so it is a valid table, bucket and index name: `prefix-PID-N`.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The binary named by `variable`, else `name` on `PATH`.
fn locate(variable: &str, name: &str) -> String {
    if let Ok(path) = std::env::var(variable)
        && !path.is_empty()
    {
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(path) => path.to_string_lossy().into_owned(),
        None => panic!(
            "{name} not found: run the tests with scripts/test (it installs it) or set {variable}"
        ),
    }
}

/// The Python interpreter of the `moto_server` console script (its `#!` line), so the kit
/// runs moto from the environment it was installed into (`#!/usr/bin/env python3` gives two
/// words); `python3` when there is none.
fn script_interpreter(script: &str) -> Vec<String> {
    std::fs::read(script)
        .ok()
        .and_then(|bytes| {
            let first = bytes.split(|&b| b == b'\n').next()?;
            let line = std::str::from_utf8(first).ok()?;
            let interpreter = line.strip_prefix("#!")?.trim();
            interpreter
                .contains("python")
                .then(|| interpreter.split_whitespace().map(str::to_owned).collect())
        })
        .unwrap_or_else(|| vec!["python3".to_owned()])
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// Polls `path` until it answers, the child exits, or the timeout passes.
fn wait_ready(base: &str, path: &str, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Ok((status, _)) = http(base, "GET", path)
            && status < 500
        {
            return;
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("{base} exited before it was ready: {exit}");
        }
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "{base} not ready after {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.0 request to a loopback server: (status, body). Hand-written because
/// the kit needs nothing more and must not pull an HTTP client into every test build.
fn http(base: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let authority = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:.80}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_starts_answers_and_resets() {
        let moto = Moto::shared();
        let (status, _) = http(moto.endpoint(), "GET", "/moto-api/").unwrap();
        assert_eq!(status, 200);
        moto.reset();
    }

    #[test]
    fn osmem_starts_and_answers() {
        let os = OsMem::shared();
        let (status, body) = http(os.url(), "GET", "/").unwrap();
        assert_eq!(status, 200, "{body}");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
