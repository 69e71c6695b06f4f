//! Operations: `$validate` and the CapabilityStatement at `/metadata`.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use hearth_interface::outcome::{Issue, Severity, operation_outcome};
use hearth_interface::{Error, Result};
use http::StatusCode;
use serde_json::Value;

use super::instance::{current, fhir_body};
use crate::AppState;
use crate::capability;
use crate::error::ApiError;
use crate::extract::{Ctx, Target};
use crate::respond::{json_response, text_response};

/// `GET /metadata`.
pub async fn capabilities(State(state): State<AppState>, ctx: Ctx) -> Response {
    let statement = capability::statement(&state, &ctx.base);
    if ctx.presentation.pretty {
        json_response(
            StatusCode::OK,
            &statement,
            true,
            Some(ctx.presentation.content_type),
        )
    } else {
        text_response(
            StatusCode::OK,
            statement.to_string(),
            ctx.presentation.content_type,
        )
    }
}

/// `POST [type]/$validate` and `POST [type]/[id]/$validate`.
pub async fn validate_operation(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    validate(&state, &target, &ctx, body).await
}

/// Validates the resource in the body (bare, or as the `resource` parameter of a
/// `Parameters`), in `mode` create (default), update or delete. Answers 200 with an
/// `OperationOutcome` listing every issue; the body itself being unreadable is a 400.
async fn validate(
    state: &AppState,
    target: &Target,
    ctx: &Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let payload = fhir_body(state, &ctx.headers, body).await?;
    let (resource, mode) = unwrap_parameters(payload, ctx)?;
    let mut issues = Vec::new();
    match mode.as_str() {
        "delete" => {
            let id = target
                .id()
                .map_err(|_| Error::invalid("mode=delete needs [type]/[id]/$validate"))?;
            if let Err(e) = current(state, target.ty, id).await {
                issues.push(Issue::from(&e));
            }
        }
        "create" | "update" => {
            let Some(resource) = resource else {
                return Err(Error::invalid(
                    "$validate needs a resource in the body or the 'resource' parameter",
                )
                .into());
            };
            let url_id = if mode == "update" {
                target.id.as_ref()
            } else {
                None
            };
            if mode == "update" && url_id.is_none() {
                return Err(Error::invalid("mode=update needs [type]/[id]/$validate").into());
            }
            if let Err(e) = super::check_resource(state, target.ty, &resource, url_id) {
                issues.extend(
                    e.issues()
                        .into_iter()
                        .skip(usize::from(e.status() == StatusCode::UNPROCESSABLE_ENTITY)),
                );
            }
        }
        other => return Err(Error::invalid(format!("unknown $validate mode '{other}'")).into()),
    }
    if issues.is_empty() {
        issues.push(Issue::new(
            Severity::Information,
            "informational",
            "validation successful: no issues found",
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &operation_outcome(&issues),
        ctx.presentation.pretty,
        Some(ctx.presentation.content_type),
    ))
}

fn unwrap_parameters(payload: Value, ctx: &Ctx) -> Result<(Option<Value>, String)> {
    let query_mode = ctx
        .query
        .iter()
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.clone());
    if payload.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Ok((Some(payload), query_mode.unwrap_or_else(|| "create".into())));
    }
    let mut resource = None;
    let mut mode = query_mode;
    for p in payload
        .get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match p.get("name").and_then(Value::as_str) {
            Some("resource") => resource = p.get("resource").cloned(),
            Some("mode") => mode = p.get("valueCode").and_then(Value::as_str).map(String::from),
            _ => {}
        }
    }
    Ok((resource, mode.unwrap_or_else(|| "create".into())))
}
