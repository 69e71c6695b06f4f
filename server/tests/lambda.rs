//! Issue 4: the Lambda entry point. The real `hearth` binary runs with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a local stand-in of the Lambda Runtime API (the
//! documented `2018-06-01` HTTP protocol), which hands it API Gateway HTTP API events and
//! collects its answers: the same path `lambda_http` takes inside AWS.

mod support;

use std::time::Duration;

use hearth_testkit::lambda::{LambdaRuntime, http_event};
use serde_json::{Value, json};

#[tokio::test]
async fn lambda_http_serves_the_same_router() {
    let runtime = LambdaRuntime::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(support::hearth_bin())
        .envs(runtime.env())
        .env("HEARTH_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let invoke =
        async |id: &str, event: Value| runtime.invoke(id, event, Duration::from_secs(30)).await;

    let metadata = invoke("1", http_event("GET", "/metadata", "", None)).await;
    assert_eq!(metadata["statusCode"], 200, "{metadata}");
    let statement: Value = serde_json::from_str(metadata["body"].as_str().unwrap()).unwrap();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(
        statement["implementation"]["url"],
        "https://fhir.example.org"
    );

    let patient = json!({"resourceType": "Patient", "gender": "female"});
    let created = invoke("2", http_event("POST", "/Patient", "", Some(&patient))).await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let location = created["headers"]["location"].as_str().unwrap();
    assert!(
        location.starts_with("https://fhir.example.org/Patient/"),
        "{location}"
    );
    let id = location
        .trim_start_matches("https://fhir.example.org/Patient/")
        .split('/')
        .next()
        .unwrap();

    let read = invoke(
        "3",
        http_event("GET", &format!("/Patient/{id}"), "_elements=gender", None),
    )
    .await;
    assert_eq!(read["statusCode"], 200);
    let body: Value = serde_json::from_str(read["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["gender"], "female");

    let missing = invoke("4", http_event("GET", "/Patient/nope", "", None)).await;
    assert_eq!(missing["statusCode"], 404);
    child.kill().await.unwrap();
}
