//! The public authorization endpoints: SMART discovery and the built-in token endpoint.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use hearth_interface::Error;
use http::StatusCode;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Ctx, read_body};
use crate::respond::json_response;

fn not_configured(what: &str) -> ApiError {
    Error::not_found(format!("{what} is not enabled on this server")).into()
}

/// `GET /.well-known/smart-configuration`.
pub async fn smart_configuration(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let document = state
        .authorizer
        .as_ref()
        .and_then(|a| a.smart_configuration(&ctx.base))
        .ok_or_else(|| not_configured("SMART on FHIR"))?;
    Ok(json_response(
        StatusCode::OK,
        &document,
        ctx.presentation.pretty,
        Some("application/json"),
    ))
}

/// `GET /auth/jwks`: the keys of the built-in token endpoint.
pub async fn jwks(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let endpoint = state
        .authorizer
        .as_ref()
        .and_then(|a| a.token_endpoint())
        .ok_or_else(|| not_configured("the built-in token endpoint"))?;
    Ok(json_response(
        StatusCode::OK,
        &endpoint.jwks(),
        ctx.presentation.pretty,
        Some("application/json"),
    ))
}

/// `POST /auth/token`: OAuth errors are RFC 6749 JSON, not OperationOutcomes.
pub async fn token(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let endpoint = state
        .authorizer
        .as_ref()
        .and_then(|a| a.token_endpoint())
        .ok_or_else(|| not_configured("the built-in token endpoint"))?;
    let form_media = ctx
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.starts_with("application/x-www-form-urlencoded"));
    let answer = if form_media {
        let bytes = read_body(&state, body).await?;
        let form: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        endpoint
            .token(&format!("{}/auth/token", ctx.base), &form)
            .await
    } else {
        Err(hearth_interface::authz::TokenError::new(
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        ))
    };
    let (status, body) = match answer {
        Ok(token) => (StatusCode::OK, token),
        Err(e) => {
            tracing::info!(error = e.error, description = %e.description, "token request refused");
            (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                json!({ "error": e.error, "error_description": e.description }),
            )
        }
    };
    let mut response = json_response(status, &body, false, Some("application/json"));
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
