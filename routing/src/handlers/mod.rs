//! The route table and the checks every write shares.

mod binary;
mod bundles;
mod history;
mod instance;
mod operations;
mod search;
mod type_level;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hearth_interface::outcome::Severity;
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

/// Builds the FHIR router over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/metadata", get(operations::capabilities))
        .route(
            "/.well-known/smart-configuration",
            get(crate::authz::smart_configuration),
        )
        .route("/auth/token", post(crate::authz::token))
        .route("/auth/jwks", get(crate::authz::jwks))
        .route("/", get(search::system_search).post(bundles::process))
        .route("/_search", post(search::system_search_post))
        .route("/_history", get(history::system))
        .route("/_binary/{*key}", get(binary::download).put(binary::upload))
        .route(
            "/{type}",
            get(search::type_search)
                .post(type_level::create)
                .put(type_level::conditional_update)
                .delete(type_level::conditional_delete)
                .patch(type_level::conditional_patch),
        )
        .route("/{type}/_search", post(search::type_search_post))
        .route("/{type}/_history", get(history::type_level))
        .route("/{type}/$validate", post(operations::validate_operation))
        .route(
            "/{type}/{id}",
            get(instance::read)
                .put(instance::update)
                .delete(instance::delete)
                .patch(instance::patch),
        )
        .route(
            "/{type}/{id}/$validate",
            post(operations::validate_operation),
        )
        .route("/{type}/{id}/_history", get(history::instance))
        .route("/{type}/{id}/{target}", get(search::compartment_search))
        .route("/{type}/{id}/_history/{vid}", get(instance::vread))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::authz::authenticate,
        ))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found() -> Response {
    ApiError::from(Error::not_found(
        "no FHIR interaction is defined at this URL",
    ))
    .into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::from(Error::new(
        IssueKind::MethodNotAllowed,
        "this HTTP method is not allowed at this URL",
    ))
    .into_response()
}

/// Checks a resource about to be written: its type must be the URL's, its id (for
/// updates) the URL's, and it must pass validation.
///
/// # Errors
/// 400 for type or id mismatches, 422 with every validation issue otherwise.
pub(crate) fn check_resource(
    state: &AppState,
    ty: ResourceType,
    resource: &Value,
    url_id: Option<&ResourceId>,
) -> Result<(), ApiError> {
    let body_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if body_type != ty.as_str() {
        return Err(Error::invalid(format!(
            "resourceType '{}' does not match the type in the URL ({ty})",
            hearth_interface::id::truncate_for_message(body_type)
        ))
        .at("resourceType")
        .into());
    }
    if let Some(url_id) = url_id {
        match resource.get("id") {
            Some(Value::String(id)) if id == url_id.as_str() => {}
            Some(Value::String(id)) => {
                return Err(Error::invalid(format!(
                    "the resource id '{}' does not match the id in the URL ({url_id})",
                    hearth_interface::id::truncate_for_message(id)
                ))
                .at(format!("{ty}.id"))
                .into());
            }
            Some(_) => {
                return Err(Error::invalid("id must be a string")
                    .at(format!("{ty}.id"))
                    .into());
            }
            None => {
                return Err(Error::invalid(format!(
                    "the resource must carry the id in the URL ({url_id}) for an update"
                ))
                .at(format!("{ty}.id"))
                .into());
            }
        }
    }
    let issues = state.validator.validate(ty, resource);
    if issues.iter().any(|i| i.severity == Severity::Error) {
        let count = issues.len();
        return Err(ApiError::from(Error::new(
            IssueKind::Unprocessable,
            format!("the {ty} resource is not valid FHIR R4 ({count} issue(s) follow)"),
        ))
        .with_issues(issues));
    }
    Ok(())
}
