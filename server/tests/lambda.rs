//! Issue 4: the Lambda entry point. The real `hearth` binary runs with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a local stand-in of the Lambda Runtime API (the
//! documented `2018-06-01` HTTP protocol), which hands it API Gateway HTTP API events and
//! collects its answers: the same path `lambda_http` takes inside AWS.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    answers: mpsc::Sender<(String, Value)>,
}

async fn next(State(rt): State<Runtime>) -> impl IntoResponse {
    let Some((id, event)) = rt.events.lock().await.recv().await else {
        return (
            axum::http::StatusCode::GONE,
            HeaderMap::new(),
            String::new(),
        );
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:hearth"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (axum::http::StatusCode::OK, headers, event.to_string())
}

async fn response(
    State(rt): State<Runtime>,
    Path(id): Path<String>,
    body: String,
) -> axum::http::StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let _ = rt.answers.send((id, value)).await;
    axum::http::StatusCode::ACCEPTED
}

async fn error(
    State(rt): State<Runtime>,
    Path(id): Path<String>,
    body: String,
) -> axum::http::StatusCode {
    let _ = rt.answers.send((id, json!({"runtimeError": body}))).await;
    axum::http::StatusCode::ACCEPTED
}

fn http_event(method: &str, path: &str, query: &str, body: Option<&Value>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "fhir.example.org",
            "accept": "application/fhir+json",
            "content-type": "application/fhir+json",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "fhir.example.org",
            "domainPrefix": "fhir",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test" },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795000000000_u64
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn lambda_http_serves_the_same_router() {
    let (event_tx, event_rx) = mpsc::channel(8);
    let (answer_tx, mut answer_rx) = mpsc::channel(8);
    let runtime = Runtime {
        events: Arc::new(Mutex::new(event_rx)),
        answers: answer_tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(runtime);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(support::hearth_bin())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "hearth")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("HEARTH_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut invoke = async |id: &str, event: Value| -> Value {
        event_tx.send((id.to_owned(), event)).await.unwrap();
        let (answered, body) = tokio::time::timeout(Duration::from_secs(30), answer_rx.recv())
            .await
            .expect("no answer")
            .unwrap();
        assert_eq!(answered, id);
        body
    };

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
