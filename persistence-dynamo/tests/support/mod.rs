//! Clients for the shared moto_server (also included by the crate's unit tests).

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig,
};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
    http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use hearth_testkit::Moto;
use tokio::sync::Semaphore;

/// A DynamoDB client for the shared moto_server.
pub fn client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(Moto::shared().endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .http_client(one_request_at_a_time())
        // Requests queue at the gate below, which the SDK would take for a stalled upload.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A DynamoDB Streams client for the shared moto_server.
#[allow(dead_code)]
pub fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .endpoint_url(Moto::shared().endpoint())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// An HTTP client that sends one request at a time, shared by every client of the test
/// process.
///
/// moto_server handles requests on concurrent threads without isolating them: a
/// `TransactWriteItems` that fails restores a copy of the whole table taken when it started,
/// erasing writes that succeeded meanwhile, and conditions are checked and applied in
/// separate steps. DynamoDB executes each request atomically; sending one request at a time
/// gives moto that property, while tasks still interleave between requests.
fn one_request_at_a_time() -> SharedHttpClient {
    static GATE: OnceLock<Arc<Semaphore>> = OnceLock::new();
    let gate = GATE.get_or_init(|| Arc::new(Semaphore::new(1))).clone();
    let inner = aws_smithy_http_client::Builder::new().build_http();
    http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Gated {
            inner: inner.http_connector(settings, components),
            gate: gate.clone(),
        })
    })
}

#[derive(Debug)]
struct Gated {
    inner: SharedHttpConnector,
    gate: Arc<Semaphore>,
}

impl HttpConnector for Gated {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, gate) = (self.inner.clone(), self.gate.clone());
        HttpConnectorFuture::new(async move {
            let _turn = gate.acquire_owned().await.expect("gate open");
            inner.call(request).await
        })
    }
}
