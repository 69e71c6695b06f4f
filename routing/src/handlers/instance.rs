//! Instance-level interactions: read, vread, update, delete and patch.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use hearth_interface::instant::Instant;
use hearth_interface::outcome::information;
use hearth_interface::store::{Precondition, StoredResource, Write, WriteOutcome};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use http::{HeaderMap, StatusCode};

use super::check_resource;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Ctx, Target, parse_resource, read_body};
use crate::negotiate::{BodyKind, body_kind};
use crate::patch;
use crate::respond::{
    add_version_headers, empty_response, json_response, resource_body, write_response,
};

/// `GET [type]/[id]`.
pub async fn read(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let id = target.id()?;
    let stored = current(&state, target.ty, id).await?;
    if not_modified(&ctx.headers, &stored) {
        let mut r = empty_response(StatusCode::NOT_MODIFIED);
        add_version_headers(&mut r, &stored);
        return Ok(r);
    }
    let stored = super::binary::with_download_url(&state, &ctx, stored).await?;
    Ok(resource_body(StatusCode::OK, &stored, &ctx.presentation))
}

/// `GET [type]/[id]/_history/[vid]`.
pub async fn vread(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let id = target.id()?;
    let version = target
        .version
        .ok_or_else(|| Error::invalid("a version id is required"))?;
    let stored = state
        .store
        .vread(target.ty, id, version)
        .await?
        .ok_or_else(|| Error::not_found(format!("{}/{id} has no version {version}", target.ty)))?;
    if stored.is_deleted() {
        return Err(Error::new(
            IssueKind::Gone,
            format!("version {version} of {}/{id} is a deletion", target.ty),
        )
        .into());
    }
    let stored = super::binary::with_download_url(&state, &ctx, stored).await?;
    Ok(resource_body(StatusCode::OK, &stored, &ctx.presentation))
}

/// The current, live version of a resource: 404 when it never existed, 410 when deleted.
pub(crate) async fn current(
    state: &AppState,
    ty: ResourceType,
    id: &ResourceId,
) -> Result<StoredResource> {
    let stored = state
        .store
        .read(ty, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{ty}/{id} does not exist")))?;
    if stored.is_deleted() {
        return Err(Error::new(
            IssueKind::Gone,
            format!("{ty}/{id} was deleted"),
        ));
    }
    Ok(stored)
}

/// Whether `If-None-Match` or `If-Modified-Since` say the client's copy is current.
fn not_modified(headers: &HeaderMap, stored: &StoredResource) -> bool {
    if let Some(tags) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return tags
            .split(',')
            .any(|t| t.trim() == "*" || parse_etag(t) == Some(stored.version));
    }
    if let Some(since) = headers.get(IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok())
        && let Some(since) = Instant::parse_http_date(since)
    {
        // HTTP dates have whole seconds: compare at that precision.
        return stored.last_updated.0 / 1_000_000 <= since.0 / 1_000_000;
    }
    false
}

/// Reads a version number from an ETag: `W/"3"`, `"3"` or `3`.
pub(crate) fn parse_etag(tag: &str) -> Option<u64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"').parse().ok()
}

/// The `If-Match` precondition, if the request has one.
///
/// # Errors
/// 400 when the header is not a version ETag.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>> {
    match headers.get(IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(parse_etag)
            .map(Some)
            .ok_or_else(|| Error::invalid("If-Match must be a version ETag such as W/\"3\"")),
    }
}

/// Reads and parses a FHIR JSON body; 415 for other media types.
pub(crate) async fn fhir_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value> {
    if body_kind(headers)? != BodyKind::FhirJson {
        return Err(Error::new(
            IssueKind::UnsupportedMediaType,
            "this interaction takes application/fhir+json",
        ));
    }
    parse_resource(&read_body(state, body).await?)
}

/// `PUT [type]/[id]`: update, or create with a client-chosen id.
pub async fn update(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    if super::binary::handles(&state, target.ty) {
        return super::binary::update(state, target, ctx, body).await;
    }
    let id = target.id()?.clone();
    let resource = fhir_body(&state, &ctx.headers, body).await?;
    check_resource(&state, target.ty, &resource, Some(&id))?;
    let precondition = if_match(&ctx.headers)?.map_or(Precondition::None, Precondition::VersionIs);
    put(&state, &ctx, target.ty, id, resource, precondition).await
}

/// Writes a checked resource and answers 201 (created) or 200 (updated or unchanged).
pub(crate) async fn put(
    state: &AppState,
    ctx: &Ctx,
    ty: ResourceType,
    id: ResourceId,
    resource: serde_json::Value,
    precondition: Precondition,
) -> Result<Response, ApiError> {
    let write = Write::upsert(ty, id, resource, precondition);
    let result = state.store.write(write).await?;
    let stored = result.stored.ok_or_else(|| {
        Error::internal(
            "write returned no version",
            std::io::Error::other("missing version"),
        )
    })?;
    let (status, message) = match result.outcome {
        WriteOutcome::Created => (StatusCode::CREATED, "created"),
        WriteOutcome::Unchanged => (
            StatusCode::OK,
            "no change: the content equals the current version",
        ),
        _ => (StatusCode::OK, "updated"),
    };
    Ok(write_response(
        status,
        &stored,
        &ctx.base,
        ctx.prefer.return_pref,
        &ctx.presentation,
        message,
    ))
}

/// `DELETE [type]/[id]`.
pub async fn delete(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let id = target.id()?.clone();
    let precondition = if_match(&ctx.headers)?.map_or(Precondition::None, Precondition::VersionIs);
    let response = remove(&state, &ctx, target.ty, id.clone(), precondition).await?;
    super::binary::delete_content(&state, target.ty, &id).await?;
    Ok(response)
}

/// Deletes one resource and answers 200 with an `OperationOutcome` (204 for `return=minimal`).
pub(crate) async fn remove(
    state: &AppState,
    ctx: &Ctx,
    ty: ResourceType,
    id: ResourceId,
    precondition: Precondition,
) -> Result<Response, ApiError> {
    let write = Write::delete(ty, id.clone(), precondition);
    let result = state.store.write(write).await?;
    let message = match result.outcome {
        WriteOutcome::Deleted => format!("deleted {ty}/{id}"),
        _ if result.stored.is_some() => format!("{ty}/{id} was already deleted"),
        _ => format!("{ty}/{id} did not exist: nothing to delete"),
    };
    let mut response = if ctx.prefer.return_pref == crate::negotiate::ReturnPreference::Minimal {
        empty_response(StatusCode::NO_CONTENT)
    } else {
        json_response(
            StatusCode::OK,
            &information(message),
            ctx.presentation.pretty,
            Some(ctx.presentation.content_type),
        )
    };
    if let Some(stored) = result.stored.as_ref().filter(|s| s.is_deleted()) {
        add_version_headers(&mut response, stored);
    }
    Ok(response)
}

/// `PATCH [type]/[id]`: JSON Patch or FHIRPath Patch.
pub async fn patch(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let id = target.id()?.clone();
    let if_match = if_match(&ctx.headers)?;
    let kind = body_kind(&ctx.headers)?;
    let bytes = read_body(&state, body).await?;
    patch_resource(&state, &ctx, target.ty, id, if_match, kind, &bytes).await
}

/// Applies a patch document to the current version and writes the result, failing with
/// 409 if another write got in between.
pub(crate) async fn patch_resource(
    state: &AppState,
    ctx: &Ctx,
    ty: ResourceType,
    id: ResourceId,
    if_match: Option<u64>,
    kind: BodyKind,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let stored = current(state, ty, &id).await?;
    if let Some(expected) = if_match
        && expected != stored.version
    {
        return Err(Error::precondition_failed(format!(
            "version mismatch for {ty}/{id}: If-Match W/\"{expected}\", current is W/\"{}\"",
            stored.version
        ))
        .into());
    }
    let original: serde_json::Value = serde_json::from_str(stored.body.as_deref().unwrap_or("{}"))
        .map_err(|e| Error::internal("stored resource is not JSON", e))?;
    let patched = patch::apply(original, kind, bytes)?;
    check_resource(state, ty, &patched, Some(&id))?;
    put(
        state,
        ctx,
        ty,
        id,
        patched,
        Precondition::BasedOn(stored.version),
    )
    .await
}
