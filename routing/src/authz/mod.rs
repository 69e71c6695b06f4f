//! Authentication and authorization of every request, when an
//! [`Authorizer`](hearth_interface::authz::Authorizer) is configured.
//!
//! [`authenticate`] is one middleware in front of every route except the public ones
//! (`/metadata`, `/.well-known/smart-configuration`, `/auth/token`, `/auth/jwks`, and the
//! signed Binary content URLs under `/_binary/`, which carry their own HMAC signature and
//! expiry like presigned S3 URLs):
//! - no or a malformed `Authorization: Bearer` header, or a token the authorizer rejects:
//!   401 with `WWW-Authenticate: Bearer` and an `OperationOutcome`;
//! - an interaction the token does not grant on the URL's resource type: 403;
//! - otherwise the request runs with the token's access in scope, and [`guard`] checks
//!   every read, search and write it makes (includes, chains, bundle entries, history).
//!
//! Requests the router sends itself (batch entries, transaction reads) run inside the
//! outer request's scope and reuse its access. Tokens are never logged: only the subject.

pub(crate) mod guard;
mod routes;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hearth_interface::authz::{Access, Interaction, unauthorized};
use hearth_interface::{Error, ResourceType};
use http::{HeaderValue, Method};

use crate::AppState;
use crate::error::ApiError;

pub(crate) use routes::{jwks, smart_configuration, token};

/// Paths answered without a token.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/metadata" | "/.well-known/smart-configuration" | "/auth/token" | "/auth/jwks"
    ) || path.starts_with("/_binary/")
}

/// The middleware: see the module documentation.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(authorizer) = state.authorizer.clone() else {
        return next.run(request).await;
    };
    if let Ok(access) = guard::ACCESS.try_with(Arc::clone) {
        // A request the router sends itself, inside an authorized one.
        return match check_route(access.as_ref(), request.method(), request.uri().path()) {
            Ok(()) => next.run(request).await,
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let access = match bearer(&request) {
        Ok(token) => authorizer.authenticate(token).await,
        Err(e) => Err(e),
    };
    let access = match access {
        Ok(access) => access,
        Err(e) => return challenge(e),
    };
    if let Err(e) = check_route(access.as_ref(), request.method(), request.uri().path()) {
        tracing::info!(subject = access.subject(), error = %e, "request refused");
        return ApiError::from(e).into_response();
    }
    guard::ACCESS.scope(access, next.run(request)).await
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(request: &Request) -> hearth_interface::Result<&str> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            unauthorized("this server requires an access token (Authorization: Bearer)")
        })?;
    let text = header
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not text"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(unauthorized(
            "the Authorization header must be 'Bearer <token>'",
        ));
    }
    Ok(token)
}

/// A 401 (or other error) with `WWW-Authenticate: Bearer`.
fn challenge(error: Error) -> Response {
    let unauthorized = error.kind() == hearth_interface::IssueKind::Unauthorized;
    let mut response = ApiError::from(error).into_response();
    if unauthorized {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hearth\", error=\"invalid_token\""),
        );
    }
    response
}

/// The interaction a request names on the URL's resource type, checked against `access`.
/// Unknown types and routes pass: the router answers them (404/405) and the guard checks
/// whatever data they touch.
fn check_route(access: &dyn Access, method: &Method, path: &str) -> hearth_interface::Result<()> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(ty) = segments.first().and_then(|s| ResourceType::parse(s)) else {
        return Ok(());
    };
    let interactions: &[Interaction] = match (method, &segments[1..]) {
        (&Method::GET | &Method::HEAD, []) => &[Interaction::Search],
        (&Method::POST, ["_search"]) => &[Interaction::Search],
        (&Method::GET, ["_history"] | [_, "_history"]) => &[Interaction::History],
        (&Method::POST, ["$validate"] | [_, "$validate"]) => &[Interaction::Validate],
        (&Method::POST, []) => &[Interaction::Create],
        (&Method::PUT, []) | (&Method::PUT, [_]) => {
            // Update, or update-as-create: the guard decides which once it knows.
            if access.allows(Interaction::Update, ty) {
                &[]
            } else {
                &[Interaction::Create]
            }
        }
        (&Method::PATCH, []) | (&Method::PATCH, [_]) => &[Interaction::Update],
        (&Method::DELETE, []) | (&Method::DELETE, [_]) => &[Interaction::Delete],
        (&Method::GET | &Method::HEAD, [_]) | (&Method::GET, [_, "_history", _]) => {
            &[Interaction::Read]
        }
        (&Method::GET, [_, target]) => {
            return match ResourceType::parse(target) {
                Some(t) if access.allows(Interaction::Search, t) => Ok(()),
                Some(t) => Err(access.refusal(Interaction::Search, t)),
                None => Ok(()),
            };
        }
        _ => &[],
    };
    match interactions.iter().find(|i| !access.allows(**i, ty)) {
        Some(i) => Err(access.refusal(*i, ty)),
        None => Ok(()),
    }
}
