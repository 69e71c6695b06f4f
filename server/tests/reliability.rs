//! Issue 5: concurrency and crash safety over real HTTP.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, send};

const COUNTERS: usize = 4;
const CLIENTS: usize = 32;
const INCREMENTS_PER_CLIENT: usize = 10;

/// Reads a counter, increments it and writes it back with `If-Match`; retries on 412.
async fn increment(server: &TestServer, counter: usize, client: usize) -> u32 {
    let path = format!("Basic/counter-{counter}");
    let mut conflicts = 0;
    loop {
        let response = server
            .request(Method::GET, &path)
            .send()
            .await
            .expect("read");
        let etag = response.headers()["etag"]
            .to_str()
            .expect("etag")
            .to_owned();
        let mut current: Value = response.json().await.expect("json");
        let n: u64 = current["code"]["text"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("count");
        current["code"]["text"] = json!((n + 1).to_string());
        current["subject"] = json!({"display": format!("client {client}")});
        let put = server
            .request(Method::PUT, &path)
            .header("content-type", "application/fhir+json")
            .header("if-match", etag)
            .body(current.to_string());
        match send(put).await.0 {
            200 => return conflicts,
            412 | 409 => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_with_if_match_lose_no_update() {
    let server = Arc::new(TestServer::start().await);
    for c in 0..COUNTERS {
        let body =
            json!({"resourceType": "Basic", "id": format!("counter-{c}"), "code": {"text": "0"}});
        assert_eq!(
            server.put(&format!("Basic/counter-{c}"), &body).await.0,
            201
        );
    }
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let server = server.clone();
            tokio::spawn(async move {
                let mut conflicts = 0;
                for i in 0..INCREMENTS_PER_CLIENT {
                    conflicts += increment(&server, (client + i) % COUNTERS, client).await;
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.expect("client");
    }
    let mut total = 0;
    for c in 0..COUNTERS {
        let (_, counter) = server.get(&format!("Basic/counter-{c}")).await;
        let n: usize = counter["code"]["text"].as_str().unwrap().parse().unwrap();
        let (_, history) = server
            .get(&format!("Basic/counter-{c}/_history?_count=1000"))
            .await;
        let versions: Vec<u64> = history["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["resource"]["meta"]["versionId"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            versions,
            (1..=n as u64 + 1).rev().collect::<Vec<_>>(),
            "contiguous versions of counter {c}"
        );
        let values: HashSet<&str> = history["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["code"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(values.len(), n + 1, "every version holds a distinct count");
        total += n;
    }
    assert_eq!(
        total,
        CLIENTS * INCREMENTS_PER_CLIENT,
        "no lost update ({conflicts} conflicts retried)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_writes_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_on(dir.path(), &[]).await;
    let base = server.url("");
    let client = server.client.clone();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0..1000 {
                    let id = format!("w{w}-{}", n % 20);
                    let body = json!({"resourceType": "Observation", "id": id, "status": "final",
                        "code": {"text": format!("writer {w} write {n}")}});
                    let sent = client
                        .put(format!("{base}Observation/{id}"))
                        .header("content-type", "application/fhir+json")
                        .body(body.to_string())
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if !response.status().is_success() {
                        break;
                    }
                    let Ok(stored) = response.json::<Value>().await else {
                        break;
                    };
                    acknowledged.push(stored);
                    acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                acknowledged
            })
        })
        .collect();
    // Killed while writes are in flight, once some are acknowledged (however slow a
    // loaded machine makes the first ones).
    let waiting = std::time::Instant::now();
    while acked.load(std::sync::atomic::Ordering::Relaxed) < 100
        && waiting.elapsed() < std::time::Duration::from_secs(30)
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.kill();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "some writes were acknowledged before the kill"
    );

    let restarted = TestServer::start_on(dir.path(), &[]).await;
    for stored in &acknowledged {
        let id = stored["id"].as_str().unwrap();
        let version = stored["meta"]["versionId"].as_str().unwrap();
        let (status, read) = restarted
            .get(&format!("Observation/{id}/_history/{version}"))
            .await;
        assert_eq!(
            status, 200,
            "acknowledged Observation/{id} version {version} is present"
        );
        assert_eq!(&read, stored, "and intact");
    }
    let (_, history) = restarted.get("Observation/_history?_count=1000").await;
    let mut per_resource: std::collections::HashMap<String, Vec<u64>> = Default::default();
    let mut page = history;
    loop {
        for e in page["entry"].as_array().unwrap() {
            let resource = &e["resource"];
            assert_eq!(
                resource["resourceType"], "Observation",
                "every stored version is whole JSON"
            );
            let v: u64 = resource["meta"]["versionId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            per_resource
                .entry(resource["id"].as_str().unwrap().to_owned())
                .or_default()
                .push(v);
        }
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(str::to_owned);
        let Some(next) = next else { break };
        page = restarted
            .get(next.strip_prefix(&restarted.base).unwrap())
            .await
            .1;
    }
    for (id, mut versions) in per_resource {
        versions.sort_unstable();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "history of {id} is contiguous"
        );
    }
}
