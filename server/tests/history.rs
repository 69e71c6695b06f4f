//! Issue 4: history at instance, type and system level with `_since`, `_at`, `_count`
//! and paging.

mod support;

use serde_json::{Value, json};
use support::{TestServer, assert_outcome};

async fn create(server: &TestServer, ty: &str, body: Value) -> String {
    let (status, created) = server.post(ty, &body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)?["url"]
        .as_str()
}

#[tokio::test]
async fn type_and_system_history_page_through_every_version() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(
            create(
                &server,
                "Patient",
                json!({"resourceType": "Patient", "birthDate": format!("200{n}-01-01")}),
            )
            .await,
        );
    }
    create(
        &server,
        "Organization",
        json!({"resourceType": "Organization", "name": "Org"}),
    )
    .await;
    let first_id = &ids[0];
    let (_, first) = server.get(&format!("Patient/{first_id}")).await;
    let mut changed = first.clone();
    changed["active"] = json!(true);
    server.put(&format!("Patient/{first_id}"), &changed).await;
    server.delete(&format!("Patient/{}", ids[1])).await;

    let (status, page) = server.get("Patient/_history?_count=4").await;
    assert_eq!(status, 200);
    assert_eq!(page["type"], "history");
    assert_eq!(page["total"], 9);
    let mut seen = Vec::new();
    let mut bundle = page;
    loop {
        for e in bundle["entry"].as_array().unwrap() {
            seen.push((
                e["request"]["method"].as_str().unwrap().to_owned(),
                e["response"]["etag"].as_str().unwrap().to_owned(),
            ));
        }
        let Some(next) = link(&bundle, "next") else {
            break;
        };
        let (status, next_page) = server.get(next.strip_prefix(&server.base).unwrap()).await;
        assert_eq!(status, 200);
        assert!(link(&next_page, "first").is_some());
        bundle = next_page;
    }
    assert_eq!(seen.len(), 9);
    assert_eq!(seen[0].0, "DELETE");
    assert_eq!(seen[1], ("PUT".to_owned(), "W/\"2\"".to_owned()));
    assert!(seen[2..].iter().all(|(m, _)| m == "POST"));

    let (_, system) = server.get("_history").await;
    assert_eq!(system["total"], 10);
}

#[tokio::test]
async fn since_and_at_select_versions_by_time() {
    let server = TestServer::start().await;
    let id = create(
        &server,
        "Patient",
        json!({"resourceType": "Patient", "gender": "male"}),
    )
    .await;
    let (_, v1) = server.get(&format!("Patient/{id}")).await;
    let v1_time = v1["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut v2 = v1.clone();
    v2["gender"] = json!("female");
    let (_, v2) = server.put(&format!("Patient/{id}"), &v2).await;
    let v2_time = v2["meta"]["lastUpdated"].as_str().unwrap().to_owned();

    let since = format!("Patient/{id}/_history?_since={}", urlencode(&v2_time));
    let (_, page) = server.get(&since).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["entry"][0]["resource"]["gender"], "female");

    let at = format!("Patient/{id}/_history?_at={}", urlencode(&v1_time));
    let (_, page) = server.get(&at).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["entry"][0]["resource"]["meta"]["versionId"], "1");

    let (_, page) = server
        .get(&format!("Patient/{id}/_history?_since=2000-01-01"))
        .await;
    assert_eq!(page["total"], 2);
    let (_, page) = server.get(&format!("Patient/{id}/_history?_at=1999")).await;
    assert_eq!(page["total"], 0);

    let (status, outcome) = server.get("Patient/_history?_since=yesterday").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "_since");
    let (status, _) = server.get("Patient/_history?_count=-1").await;
    assert_eq!(status, 400);
    let (status, _) = server.get("Patient/_history?_cursor=garbage").await;
    assert_eq!(status, 400);
    let (status, _) = server.get("Patient/unknown/_history").await;
    assert_eq!(status, 404);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
