//! Issues 4 and 5: the bad-input corpus (`tests/bad-input/cases.json`). Every case must get
//! its expected 4xx quickly, with an `OperationOutcome` whenever the request reaches the
//! router; the server must stay up with bounded memory, and stored data must not change.

mod support;

use std::io::{Read, Write as _};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, send, test_data};

/// The longest any bad request may take.
const TIME_BOUND: Duration = Duration::from_secs(5);
/// The most resident memory the server may use after the corpus.
const MEMORY_BOUND_KB: u64 = 512 * 1024;

fn generated_body(spec: &Value) -> Vec<u8> {
    let n = |key: &str| spec.get(key).and_then(Value::as_u64).map(|v| v as usize);
    if let Some(depth) = n("deep_arrays") {
        return format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    }
    if let Some(depth) = n("deep_objects") {
        return format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes();
    }
    if let Some(bytes) = n("huge_string_bytes") {
        return json!({"resourceType": "Patient", "gender": "x".repeat(bytes)})
            .to_string()
            .into_bytes();
    }
    if let Some(entries) = n("huge_bundle_entries") {
        let entry = json!({"resource": {"resourceType": "Patient", "active": true}});
        return json!({"resourceType": "Bundle", "type": "collection", "entry": vec![entry; entries]}).to_string().into_bytes();
    }
    if let Some(hex) = spec.get("hex").and_then(Value::as_str) {
        return (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect();
    }
    Vec::new()
}

fn generated_query(spec: &Value) -> Option<String> {
    if let Some(n) = spec.get("many_or").and_then(Value::as_u64) {
        let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
        return Some(format!("?name={}", values.join(",")));
    }
    spec.get("many_params").and_then(Value::as_u64).map(|n| {
        let params: Vec<String> = (0..n).map(|i| format!("name=v{i}")).collect();
        format!("?{}", params.join("&"))
    })
}

/// Sends a raw request over TCP (bytes U+0000..U+00FF of the text are sent as single bytes)
/// and returns the status code of the answer.
fn send_raw(base: &str, raw: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIME_BOUND)).expect("timeout");
    let bytes: Vec<u8> = raw
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    stream.write_all(&bytes).expect("write");
    let mut answer = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn resident_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn snapshot(server: &TestServer) -> Value {
    let (status, history) = server.get("_history?_count=1000").await;
    assert_eq!(status, 200);
    history["entry"].clone()
}

#[tokio::test]
async fn every_bad_request_gets_a_quick_4xx_and_changes_nothing() {
    let corpus: Value = serde_json::from_str(
        &std::fs::read_to_string(test_data().join("../bad-input/cases.json")).unwrap(),
    )
    .unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());

    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(data.path(), &["--max-body-bytes", "1048576"]).await;
    let (_, created) = server
        .post(
            "Patient",
            &json!({"resourceType": "Patient", "gender": "female"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let before = snapshot(&server).await;

    for case in cases {
        let name = case["name"].as_str().unwrap();
        let started = Instant::now();
        if let Some(raw) = case["raw"].as_str() {
            let status = send_raw(&server.base, &raw.replace("{id}", &id));
            assert!(
                (400..500).contains(&status),
                "case '{name}': status {status}"
            );
        } else {
            let method = Method::from_bytes(case["method"].as_str().unwrap().as_bytes()).unwrap();
            let mut path = case["path"].as_str().unwrap().replace("{id}", &id);
            if let Some(query) = case.get("gen").and_then(generated_query) {
                path.push_str(&query);
            }
            let mut request = server
                .client
                .request(method, format!("{}{path}", server.base));
            for (k, v) in case["headers"].as_object().into_iter().flatten() {
                request = request.header(k.as_str(), v.as_str().unwrap());
            }
            if let Some(body) = case["body"].as_str() {
                request = request.body(body.replace("{id}", &id));
            } else if let Some(spec) = case.get("gen").filter(|g| generated_query(g).is_none()) {
                request = request.body(generated_body(spec));
            }
            let (status, body) = send(request).await;
            let expected = case["status"].as_u64().unwrap() as u16;
            assert_eq!(status, expected, "case '{name}': {body}");
            assert_eq!(
                body["resourceType"], "OperationOutcome",
                "case '{name}': {body}"
            );
            assert_eq!(body["issue"][0]["severity"], "error", "case '{name}'");
            assert!(
                !body["issue"][0]["diagnostics"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty(),
                "case '{name}'"
            );
        }
        assert!(
            started.elapsed() < TIME_BOUND,
            "case '{name}' took {:?}",
            started.elapsed()
        );
    }

    let (status, _) = server.get("metadata").await;
    assert_eq!(status, 200, "the server is still up");
    let rss = resident_kb(server.pid());
    assert!(rss < MEMORY_BOUND_KB, "resident memory {rss} kB");
    assert_eq!(snapshot(&server).await, before, "stored data changed");
    let (status, read) = server.get(&format!("Patient/{id}")).await;
    assert_eq!((status, read), (200, created));
}
