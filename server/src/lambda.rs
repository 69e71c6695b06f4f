//! The Lambda entry point: the same router, served by `lambda_http` for API Gateway events.

use std::process::ExitCode;

use crate::config::{ServerConfig, in_lambda};
use crate::wiring;

/// Whether to run as a Lambda function (`AWS_LAMBDA_RUNTIME_API` is set).
pub fn is_lambda() -> bool {
    in_lambda()
}

/// Serves Lambda invocations until the runtime stops the process.
pub async fn run() -> ExitCode {
    let started = async {
        let config = ServerConfig::from_env().map_err(|e| e.to_string())?;
        let components = wiring::open(&config.store).map_err(|e| e.to_string())?;
        let authorizer = wiring::authorizer(&config.auth, &config.store.data_dir)?;
        let app = hearth_routing::app(wiring::state(components, config.router, authorizer));
        lambda_http::run(app).await.map_err(|e| e.to_string())
    };
    match started.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
