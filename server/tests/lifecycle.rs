//! Issue 4: graceful shutdown on SIGTERM keeps every acknowledged write.

mod support;

use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn sigterm_finishes_in_flight_writes_and_keeps_acknowledged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_on(dir.path(), &[]).await;
    let client = server.client.clone();
    let url = server.url("Patient");
    let writers: Vec<_> = (0..200)
        .map(|n| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let body = json!({"resourceType": "Patient", "name": [{"family": format!("Shutdown{n}")}]});
                let response = client
                    .post(&url)
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .ok()?;
                if response.status() != 201 {
                    return None;
                }
                let created: serde_json::Value = response.json().await.ok()?;
                Some(created)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert!(server.terminate(), "hearth exits cleanly on SIGTERM");
    let mut acknowledged = Vec::new();
    for w in writers {
        if let Some(created) = w.await.unwrap() {
            acknowledged.push(created);
        }
    }
    let restarted = TestServer::start_on(dir.path(), &[]).await;
    for created in &acknowledged {
        let (status, read) = restarted
            .get(&format!("Patient/{}", created["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200);
        assert_eq!(&read, created);
    }
    let (_, history) = restarted.get("Patient/_history?_count=1").await;
    assert!(history["total"].as_u64().unwrap() >= acknowledged.len() as u64);
}

#[tokio::test]
async fn refuses_no_auth_on_a_public_address() {
    let out = std::process::Command::new(support::hearth_bin())
        .args(["serve", "--addr", "0.0.0.0:0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-no-auth"));
}
