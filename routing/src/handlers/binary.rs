//! `Binary` content in a [`BinaryStore`](hearth_interface::binary::BinaryStore), as FHIR
//! Works on AWS does it.
//!
//! - `POST Binary` and `PUT Binary/[id]` store the metadata (`contentType`,
//!   `securityContext`) as an ordinary resource and answer with it plus a top-level
//!   `presignedPutUrl`: the client `PUT`s the raw bytes there. Small content (under 5 MB)
//!   may come inline as `data` instead; it moves to the store and the stored resource keeps
//!   no `data`.
//! - `GET Binary/[id]` (and vread) answer with the metadata plus a top-level
//!   `presignedGetUrl` once content was uploaded for that version.
//! - `DELETE Binary/[id]` deletes the content of every version.
//!
//! The URLs are top-level properties, not extensions, because `Binary` is not a
//! `DomainResource` and has no `extension` element; FHIR Works on AWS clients read them
//! there. Write answers always carry the resource (the client needs the URL), whatever
//! `Prefer: return=` says.
//!
//! Every write of a `Binary` names a new content object in a `meta` extension
//! ([`CONTENT_EXTENSION`], a UUID under [`BinaryKey::for_binary`]). So each write is a new
//! version even when only the content changes (as FHIR Works on AWS clients expect), and a
//! vread of an older version downloads that version's content.
//!
//! The embedded backend's URLs point at this server: `GET`/`PUT
//! _binary/{key}?expires=..&signature=..` ([`download`], [`upload`]). The signature is the
//! credential, so these routes need no other authentication.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawPathParams, RawQuery, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hearth_interface::binary::{BinaryKey, SignedUrlServer, UrlMethod};
use hearth_interface::store::{Precondition, StoredResource, Write, WriteOutcome};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use super::check_resource;
use super::instance::{fhir_body, if_match};
use crate::AppState;
use crate::conditional::if_none_exist;
use crate::error::ApiError;
use crate::extract::{Ctx, Target, read_body_up_to};
use crate::negotiate::ReturnPreference;
use crate::respond::{empty_response, write_response};

/// The largest content accepted inline as `Binary.data`, decoded.
pub(crate) const INLINE_LIMIT: usize = 5 * 1024 * 1024;
/// How long presigned URLs stay valid.
const URL_TTL: Duration = Duration::from_secs(300);
/// The property carrying the upload URL in write answers.
pub(crate) const PUT_URL: &str = "presignedPutUrl";
/// The property carrying the download URL in read answers.
pub(crate) const GET_URL: &str = "presignedGetUrl";
/// The `meta.extension` whose `valueString` names the object holding a version's content.
pub(crate) const CONTENT_EXTENSION: &str = "urn:hearth:binary-content";

/// Whether `Binary` content of type `ty` goes to a binary store.
pub(crate) fn handles(state: &AppState, ty: ResourceType) -> bool {
    ty.as_str() == "Binary" && state.binaries.is_some()
}

/// `POST Binary`.
pub(crate) async fn create(
    state: AppState,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let mut resource = fhir_body(&state, &ctx.headers, body).await?;
    if let Some(fields) = resource.as_object_mut() {
        fields.remove("id");
    }
    let data = take_data(&mut resource)?;
    set_content_id(&mut resource);
    check_resource(&state, target.ty, &resource, None)?;
    if let Some(existing) = if_none_exist(&state, target.ty, &ctx.headers).await? {
        let existing = with_download_url(&state, &ctx, existing).await?;
        return Ok(write_response(
            StatusCode::OK,
            &existing,
            &ctx.base,
            ReturnPreference::Representation,
            &ctx.presentation,
            "a matching resource exists: nothing created",
        ));
    }
    let id = ResourceId::from_uuid(uuid::Uuid::new_v4());
    let write = Write::upsert(target.ty, id, resource, Precondition::Absent);
    let stored = written(state.store.write(write).await?.stored)?;
    answer(&state, &ctx, StatusCode::CREATED, stored, data, "created").await
}

/// `PUT Binary/[id]`.
pub(crate) async fn update(
    state: AppState,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let id = target.id()?.clone();
    let mut resource = fhir_body(&state, &ctx.headers, body).await?;
    let data = take_data(&mut resource)?;
    set_content_id(&mut resource);
    check_resource(&state, target.ty, &resource, Some(&id))?;
    let precondition = if_match(&ctx.headers)?.map_or(Precondition::None, Precondition::VersionIs);
    let result = state
        .store
        .write(Write::upsert(target.ty, id, resource, precondition))
        .await?;
    let (status, message) = match result.outcome {
        WriteOutcome::Created => (StatusCode::CREATED, "created"),
        _ => (StatusCode::OK, "updated"),
    };
    answer(&state, &ctx, status, written(result.stored)?, data, message).await
}

/// Adds the download URL of `stored`'s content to a `Binary` about to be answered; any
/// other resource, a deletion, or a `Binary` still carrying inline `data` passes unchanged.
pub(crate) async fn with_download_url(
    state: &AppState,
    ctx: &Ctx,
    stored: StoredResource,
) -> Result<StoredResource> {
    let Some(binaries) = state
        .binaries
        .as_ref()
        .filter(|_| handles(state, stored.resource_type))
    else {
        return Ok(stored);
    };
    let Some(mut resource) = parse(&stored)? else {
        return Ok(stored);
    };
    if resource.get("data").is_some() {
        return Ok(stored);
    }
    // Written some other way (a transaction, an import): no content in the store.
    let Some(key) = content_id(&resource).and_then(|c| BinaryKey::for_binary(&stored.id, c).ok())
    else {
        return Ok(stored);
    };
    match binaries.presign_get(&key, URL_TTL).await? {
        Some(url) => {
            insert(&mut resource, GET_URL, url.resolve(&ctx.base));
            Ok(with_body(stored, &resource))
        }
        None => Ok(stored),
    }
}

/// Deletes the content of every version of `Binary/[id]`, after the resource was deleted.
pub(crate) async fn delete_content(
    state: &AppState,
    ty: ResourceType,
    id: &ResourceId,
) -> Result<()> {
    match state.binaries.as_ref().filter(|_| handles(state, ty)) {
        Some(binaries) => binaries.delete(&BinaryKey::binary_prefix(id)).await,
        None => Ok(()),
    }
}

/// `GET _binary/{key}?expires=..&signature=..`: the content, as `application/octet-stream`.
pub async fn download(
    State(state): State<AppState>,
    path: RawPathParams,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (server, key) = signed(&state, UrlMethod::Get, &path, query.as_deref())?;
    let bytes = server
        .read(&key)
        .await?
        .ok_or_else(|| Error::not_found("no content was uploaded for this URL"))?;
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// `PUT _binary/{key}?expires=..&signature=..`: replaces the content with the body.
pub async fn upload(
    State(state): State<AppState>,
    path: RawPathParams,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let (server, key) = signed(&state, UrlMethod::Put, &path, query.as_deref())?;
    let bytes = read_body_up_to(body, state.config.max_binary_bytes).await?;
    server.write(&key, bytes.to_vec()).await?;
    Ok(empty_response(StatusCode::OK))
}

/// The key of a signed local URL, once its signature checked out.
fn signed<'a>(
    state: &'a AppState,
    method: UrlMethod,
    path: &RawPathParams,
    query: Option<&str>,
) -> Result<(&'a dyn SignedUrlServer, BinaryKey)> {
    let server = state
        .signed_urls
        .as_deref()
        .ok_or_else(|| Error::not_found("this server does not serve binary content itself"))?;
    let raw_key = path
        .iter()
        .find(|(name, _)| *name == "key")
        .map(|(_, value)| value)
        .unwrap_or_default();
    let key = BinaryKey::parse(raw_key)?;
    let (mut expires, mut signature) = (None, None);
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "expires" => expires = value.parse::<i64>().ok(),
            "signature" => signature = Some(value.into_owned()),
            _ => {}
        }
    }
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(Error::new(
            IssueKind::Forbidden,
            "this URL needs its expires and signature parameters",
        ));
    };
    server.verify(method, &key, expires, &signature)?;
    Ok((server, key))
}

/// Answers a write: stores inline content, or hands out an upload URL.
async fn answer(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    stored: StoredResource,
    data: Option<Vec<u8>>,
    message: &str,
) -> Result<Response, ApiError> {
    let binaries = state
        .binaries
        .as_ref()
        .ok_or_else(|| Error::internal("no binary store", std::io::Error::other("unset")))?;
    let Some(mut resource) = parse(&stored)? else {
        return Err(Error::internal(
            "a write returned a deletion",
            std::io::Error::other("no body"),
        )
        .into());
    };
    let content = content_id(&resource).ok_or_else(|| {
        Error::internal(
            "a Binary was stored without its content id",
            std::io::Error::other("no content id in meta"),
        )
    })?;
    let key = BinaryKey::for_binary(&stored.id, content)?;
    let stored = match data {
        Some(bytes) => {
            let content_type = resource
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream");
            binaries.put(&key, content_type, bytes).await?;
            stored
        }
        None => {
            let url = binaries.presign_put(&key, URL_TTL).await?;
            insert(&mut resource, PUT_URL, url.resolve(&ctx.base));
            with_body(stored, &resource)
        }
    };
    Ok(write_response(
        status,
        &stored,
        &ctx.base,
        ReturnPreference::Representation,
        &ctx.presentation,
        message,
    ))
}

/// Removes inline `data` from a Binary and decodes it; also drops the URLs of an earlier
/// answer that clients send back with the resource.
///
/// # Errors
/// 400 when `data` is not base64 text, 413 when it decodes to more than [`INLINE_LIMIT`].
fn take_data(resource: &mut Value) -> Result<Option<Vec<u8>>> {
    let Some(fields) = resource.as_object_mut() else {
        return Ok(None);
    };
    fields.remove(PUT_URL);
    fields.remove(GET_URL);
    let Some(data) = fields.remove("data") else {
        return Ok(None);
    };
    let text = data
        .as_str()
        .ok_or_else(|| Error::invalid("Binary.data must be a base64 string").at("Binary.data"))?;
    let too_large = || {
        Error::new(
            IssueKind::TooLarge,
            format!(
                "inline Binary.data is limited to {} MB: send larger content to the \
                 {PUT_URL} of a Binary created without data",
                INLINE_LIMIT >> 20
            ),
        )
        .at("Binary.data")
    };
    if text.len() / 4 * 3 > INLINE_LIMIT + 3 {
        return Err(too_large());
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD.decode(compact).map_err(|e| {
        Error::invalid(format!("Binary.data is not valid base64: {e}")).at("Binary.data")
    })?;
    if bytes.len() > INLINE_LIMIT {
        return Err(too_large());
    }
    Ok(Some(bytes))
}

/// Names a new content object in the resource's `meta` (replacing any earlier one).
fn set_content_id(resource: &mut Value) {
    let Some(fields) = resource.as_object_mut() else {
        return;
    };
    let meta = fields
        .entry("meta")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return; // validation reports the malformed meta
    };
    let extensions = meta
        .entry("extension")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(extensions) = extensions.as_array_mut() else {
        return;
    };
    extensions.retain(|e| e.get("url").and_then(Value::as_str) != Some(CONTENT_EXTENSION));
    extensions.push(serde_json::json!({
        "url": CONTENT_EXTENSION,
        "valueString": uuid::Uuid::new_v4().to_string(),
    }));
}

/// The content object a stored Binary names in its `meta`.
fn content_id(resource: &Value) -> Option<&str> {
    resource
        .get("meta")?
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(CONTENT_EXTENSION))?
        .get("valueString")?
        .as_str()
}

fn written(stored: Option<StoredResource>) -> Result<StoredResource> {
    stored.ok_or_else(|| {
        Error::internal(
            "write returned no version",
            std::io::Error::other("missing version"),
        )
    })
}

fn parse(stored: &StoredResource) -> Result<Option<Value>> {
    stored
        .body
        .as_deref()
        .map(|b| {
            serde_json::from_str(b).map_err(|e| Error::internal("stored resource is not JSON", e))
        })
        .transpose()
}

fn insert(resource: &mut Value, name: &str, url: String) {
    if let Some(fields) = resource.as_object_mut() {
        fields.insert(name.to_owned(), Value::String(url));
    }
}

fn with_body(mut stored: StoredResource, resource: &Value) -> StoredResource {
    stored.body = Some(resource.to_string());
    stored
}
