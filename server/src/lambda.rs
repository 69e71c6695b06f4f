//! The Lambda entry point. `HEARTH_LAMBDA_ROLE` picks what the function serves: `api`
//! (the default) serves API Gateway events with the same router as `hearth serve`;
//! `stream-indexer` indexes the AWS backend's DynamoDB stream events into OpenSearch.

use std::process::ExitCode;

use hearth_search_opensearch::OpenSearchIndexer;

use crate::config::{ServerConfig, aws_from_env, in_lambda};
use crate::stream_indexer;
use crate::wiring::{self, AwsClients, describe};

/// Whether to run as a Lambda function (`AWS_LAMBDA_RUNTIME_API` is set).
pub fn is_lambda() -> bool {
    in_lambda()
}

/// Serves Lambda invocations until the runtime stops the process.
pub async fn run() -> ExitCode {
    let role = std::env::var("HEARTH_LAMBDA_ROLE").unwrap_or_default();
    let started = match role.as_str() {
        "" | "api" => serve_api().await,
        "stream-indexer" => serve_stream().await,
        other => Err(format!(
            "HEARTH_LAMBDA_ROLE has an invalid value '{other}': expected api or stream-indexer"
        )),
    };
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

async fn serve_api() -> Result<(), String> {
    let config = ServerConfig::from_env().map_err(|e| e.to_string())?;
    let mut components = wiring::open(&config.store)
        .await
        .map_err(|e| describe(&e))?;
    // In Lambda the stream is served by the stream-indexer function, not polled.
    components.stream_indexer = None;
    let authorizer = wiring::authorizer(&config.auth, &config.store.data_dir)?;
    let app = hearth_routing::app(wiring::state(components, config.router, authorizer));
    lambda_http::run(app).await.map_err(|e| e.to_string())
}

async fn serve_stream() -> Result<(), String> {
    let aws = aws_from_env().map_err(|e| e.to_string())?;
    let clients = AwsClients::from_env(&aws).await.map_err(|e| describe(&e))?;
    clients.opensearch.check().await.map_err(|e| describe(&e))?;
    stream_indexer::run_lambda(OpenSearchIndexer::new(clients.opensearch)).await
}
