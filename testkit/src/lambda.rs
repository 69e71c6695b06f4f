//! A local stand-in for the AWS Lambda Runtime API (the documented `2018-06-01` HTTP
//! protocol): a function process started with `AWS_LAMBDA_RUNTIME_API` pointing at it polls
//! `invocation/next`, gets the events [`LambdaRuntime::invoke`] queues, and posts its answers
//! back: the path `lambda_runtime` takes inside AWS. A stand-in is needed because no local
//! program serves this API for an arbitrary binary without compiling it itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

/// The runtime's queues: events waiting for the function, answers waiting for the test.
#[derive(Clone)]
struct Queues {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    answers: mpsc::Sender<(String, Value)>,
}

/// A running Runtime API on 127.0.0.1.
#[derive(Debug)]
pub struct LambdaRuntime {
    addr: SocketAddr,
    events: mpsc::Sender<(String, Value)>,
    answers: Mutex<mpsc::Receiver<(String, Value)>>,
}

impl LambdaRuntime {
    /// Starts the Runtime API on a free loopback port, served by the current tokio runtime.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start() -> Self {
        let (event_tx, event_rx) = mpsc::channel(64);
        let (answer_tx, answer_rx) = mpsc::channel(64);
        let queues = Queues {
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
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(queues);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            events: event_tx,
            answers: Mutex::new(answer_rx),
        }
    }

    /// The environment a function process needs: `AWS_LAMBDA_RUNTIME_API` and the variables
    /// Lambda always sets.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "hearth".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "test".to_owned()),
        ]
    }

    /// Hands `event` to the function and waits for its answer; an error the function reports
    /// comes back as `{"runtimeError": ...}`.
    ///
    /// # Panics
    /// When no answer comes within `timeout`, or an answer for another invocation comes.
    pub async fn invoke(&self, id: &str, event: Value, timeout: Duration) -> Value {
        self.events
            .send((id.to_owned(), event))
            .await
            .expect("runtime stopped");
        let mut answers = self.answers.lock().await;
        let (answered, body) = tokio::time::timeout(timeout, answers.recv())
            .await
            .unwrap_or_else(|_| panic!("no answer to invocation {id} within {timeout:?}"))
            .expect("runtime stopped");
        assert_eq!(answered, id, "answer for another invocation");
        body
    }
}

/// An API Gateway HTTP API (payload 2.0) event for `method path?query` with a JSON body,
/// as `fhir.example.org` would send it.
#[must_use]
pub fn http_event(method: &str, path: &str, query: &str, body: Option<&Value>) -> Value {
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
            "timeEpoch": 1_795_000_000_000_u64
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}

async fn next(State(queues): State<Queues>) -> impl IntoResponse {
    let Some((id, event)) = queues.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:hearth".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
    ] {
        headers.insert(name, value.parse().expect("header value"));
    }
    (StatusCode::OK, headers, event.to_string())
}

async fn response(
    State(queues): State<Queues>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let _ = queues.answers.send((id, value)).await;
    StatusCode::ACCEPTED
}

async fn error(State(queues): State<Queues>, Path(id): Path<String>, body: String) -> StatusCode {
    let _ = queues
        .answers
        .send((id, json!({ "runtimeError": body })))
        .await;
    StatusCode::ACCEPTED
}

async fn init_error(body: String) -> StatusCode {
    eprintln!("lambda init error: {body}");
    StatusCode::ACCEPTED
}
