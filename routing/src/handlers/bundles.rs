//! `POST /` with a `batch` or `transaction` Bundle (http.html#transaction).
//!
//! A batch runs each entry as its own request through this same router, so every entry
//! gets exactly the semantics (and errors) of the interaction it names. A transaction
//! resolves every identity and reference first, validates every resource, then commits
//! all writes with one [`ResourceStore::transaction`](hearth_interface::store::ResourceStore::transaction)
//! call: the backend provides atomicity, the router the FHIR rules. Reads run after the
//! commit.

use std::collections::{HashMap, HashSet};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use hearth_interface::outcome::{Issue, operation_outcome};
use hearth_interface::store::{Precondition, StoredResource, Write, WriteOutcome};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::check_resource;
use super::instance::{current, fhir_body, parse_etag};
use crate::AppState;
use crate::conditional::{Matches, parse_criteria, resolve};
use crate::error::ApiError;
use crate::extract::Ctx;
use crate::negotiate::{BodyKind, ReturnPreference};
use crate::patch;
use crate::respond::text_response;

/// One entry's request, parsed.
#[derive(Debug, Clone)]
struct EntryRequest {
    index: usize,
    full_url: Option<String>,
    method: Method,
    url: String,
    resource: Option<Value>,
    if_none_exist: Option<String>,
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

/// `POST /`.
pub async fn process(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let bundle = fhir_body(&state, &ctx.headers, body).await?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Error::invalid("POST / takes a Bundle of type batch or transaction").into());
    }
    let kind = bundle.get("type").and_then(Value::as_str).unwrap_or("");
    let raw_entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if raw_entries.len() > state.config.max_bundle_entries {
        return Err(Error::new(
            IssueKind::TooLarge,
            format!(
                "the Bundle has {} entries: at most {} are accepted",
                raw_entries.len(),
                state.config.max_bundle_entries
            ),
        )
        .into());
    }
    let parsed: Vec<Result<EntryRequest>> = raw_entries
        .iter()
        .enumerate()
        .map(|(i, e)| parse_entry(i, e, &ctx.base))
        .collect();
    let (response_type, entries) = match kind {
        "batch" => ("batch-response", batch(&state, &ctx, parsed).await),
        "transaction" => {
            let entries: Vec<EntryRequest> = parsed.into_iter().collect::<Result<_>>()?;
            (
                "transaction-response",
                transaction(&state, &ctx, entries).await?,
            )
        }
        other => {
            return Err(Error::invalid(format!(
                "POST / takes a batch or transaction Bundle, not '{}'",
                hearth_interface::id::truncate_for_message(other)
            ))
            .at("Bundle.type")
            .into());
        }
    };
    let response = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": response_type,
        "entry": entries,
    });
    let text = if ctx.presentation.pretty {
        serde_json::to_string_pretty(&response).unwrap_or_default()
    } else {
        response.to_string()
    };
    Ok(text_response(
        StatusCode::OK,
        text,
        ctx.presentation.content_type,
    ))
}

fn entry_error(index: usize, message: impl Into<String>) -> Error {
    Error::invalid(message).at(format!("Bundle.entry[{index}]"))
}

fn parse_entry(index: usize, entry: &Value, base: &str) -> Result<EntryRequest> {
    let request = entry
        .get("request")
        .ok_or_else(|| entry_error(index, format!("entry {index} has no request")))?;
    let text = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_owned);
    let method = match text("method").as_deref() {
        Some(m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH")) => {
            Method::from_bytes(m.as_bytes()).map_err(|_| entry_error(index, "bad method"))?
        }
        Some(other) => {
            return Err(entry_error(
                index,
                format!(
                    "entry {index} has an unknown method '{}'",
                    hearth_interface::id::truncate_for_message(other)
                ),
            ));
        }
        None => {
            return Err(entry_error(
                index,
                format!("entry {index} has no request.method"),
            ));
        }
    };
    let url = text("url")
        .ok_or_else(|| entry_error(index, format!("entry {index} has no request.url")))?;
    let url = url
        .strip_prefix(base)
        .unwrap_or(&url)
        .trim_start_matches('/')
        .to_owned();
    if url.is_empty() || url.contains("://") || url.contains(char::is_whitespace) {
        return Err(entry_error(
            index,
            format!(
                "entry {index} has an invalid request.url '{}'",
                hearth_interface::id::truncate_for_message(&url)
            ),
        ));
    }
    let resource = entry.get("resource").cloned();
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) && resource.is_none() {
        return Err(entry_error(
            index,
            format!("entry {index} ({method}) has no resource"),
        ));
    }
    Ok(EntryRequest {
        index,
        full_url: entry
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(str::to_owned),
        method,
        url,
        resource,
        if_none_exist: text("ifNoneExist"),
        if_match: text("ifMatch"),
        if_none_match: text("ifNoneMatch"),
        if_modified_since: text("ifModifiedSince"),
    })
}

/// An entry of a response Bundle for an error.
fn error_entry(e: &Error) -> Value {
    let status = crate::error::status_of(e.kind());
    json!({ "response": {
        "status": status_line(status),
        "outcome": operation_outcome(&[Issue::from(e)]),
    }})
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

// ---------------------------------------------------------------------------------------
// Batch: each entry is a request of its own.

async fn batch(state: &AppState, ctx: &Ctx, entries: Vec<Result<EntryRequest>>) -> Vec<Value> {
    let full_urls: HashSet<String> = entries
        .iter()
        .flatten()
        .filter_map(|e| e.full_url.clone())
        .collect();
    let router = super::app(state.clone());
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let answer = match entry {
            Err(e) => error_entry(&e),
            Ok(entry) => match refers_to_other_entry(&entry, &full_urls) {
                Some(reference) => error_entry(&entry_error(
                    entry.index,
                    format!(
                        "batch entries may not refer to each other ('{reference}'): use a transaction"
                    ),
                )),
                None => dispatch(&router, ctx, &entry).await,
            },
        };
        out.push(answer);
    }
    out
}

fn refers_to_other_entry(entry: &EntryRequest, full_urls: &HashSet<String>) -> Option<String> {
    let mut found = None;
    if let Some(resource) = &entry.resource {
        visit_references(resource, &mut |r| {
            if found.is_none() && full_urls.contains(r) && entry.full_url.as_deref() != Some(r) {
                found = Some(r.to_owned());
            }
        });
    }
    found
}

fn visit_references(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("reference", Value::String(r)) => f(r),
                    _ => visit_references(v, f),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| visit_references(v, f)),
        _ => {}
    }
}

/// Runs one entry through the router and turns the answer into a response entry.
async fn dispatch(router: &axum::Router, ctx: &Ctx, entry: &EntryRequest) -> Value {
    let mut builder = http::Request::builder()
        .method(entry.method.clone())
        .uri(format!("/{}", entry.url));
    let headers = [
        ("if-none-exist", &entry.if_none_exist),
        ("if-match", &entry.if_match),
        ("if-none-match", &entry.if_none_match),
        ("if-modified-since", &entry.if_modified_since),
    ];
    for (name, value) in headers {
        if let Some(v) = value {
            builder = builder.header(name, v);
        }
    }
    for name in ["host", "prefer", "x-forwarded-proto"] {
        if let Some(v) = ctx.headers.get(name) {
            builder = builder.header(name, v);
        }
    }
    let content_type = match (&entry.method, &entry.resource) {
        (&Method::PATCH, Some(r))
            if r.get("resourceType").and_then(Value::as_str) == Some("Binary") =>
        {
            "application/json-patch+json"
        }
        _ => "application/fhir+json",
    };
    let body = match (&entry.method, &entry.resource) {
        (&Method::PATCH, Some(r)) if content_type != "application/fhir+json" => binary_data(r),
        (_, Some(r)) => r.to_string().into_bytes(),
        _ => Vec::new(),
    };
    let request = match builder
        .header("content-type", content_type)
        .body(Body::from(body))
    {
        Ok(r) => r,
        Err(e) => {
            return error_entry(&entry_error(
                entry.index,
                format!("entry {}: {e}", entry.index),
            ));
        }
    };
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    response_entry(response).await
}

/// The decoded `data` of a Binary (a JSON Patch sent in a Bundle).
fn binary_data(binary: &Value) -> Vec<u8> {
    use base64::Engine;
    binary
        .get("data")
        .and_then(Value::as_str)
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .unwrap_or_default()
}

async fn response_entry(response: Response) -> Value {
    let (parts, body) = response.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut answer = Map::new();
    answer.insert("status".into(), Value::String(status_line(parts.status)));
    if let Some(location) = header("location") {
        answer.insert("location".into(), Value::String(location));
    }
    if let Some(etag) = header("etag") {
        answer.insert("etag".into(), Value::String(etag));
    }
    if let Some(lm) = header("last-modified")
        .and_then(|lm| hearth_interface::instant::Instant::parse_http_date(&lm))
    {
        answer.insert("lastModified".into(), Value::String(lm.to_fhir()));
    }
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut entry = Map::new();
    match serde_json::from_slice::<Value>(&bytes).ok() {
        Some(b) if b.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome") => {
            answer.insert("outcome".into(), b);
        }
        Some(b) => {
            entry.insert("resource".into(), b);
        }
        None => {}
    }
    entry.insert("response".into(), Value::Object(answer));
    Value::Object(entry)
}

// ---------------------------------------------------------------------------------------
// Transaction: resolve, rewrite, validate, commit all at once, then read.

/// What a transaction entry will do once identities are resolved.
#[derive(Debug)]
enum Planned {
    /// Write (create, update, patch result or delete).
    Write { write: Write, created_by_post: bool },
    /// A conditional create that found its match: nothing to write.
    Existing(Box<StoredResource>),
    /// A conditional delete that matched nothing.
    NothingToDelete,
    /// A read, run after the commit.
    Read,
}

async fn transaction(
    state: &AppState,
    ctx: &Ctx,
    mut entries: Vec<EntryRequest>,
) -> Result<Vec<Value>> {
    let aliases = assign_identities(state, &entries).await?;
    for entry in &mut entries {
        rewrite_references(state, entry, &aliases).await?;
    }
    let mut plans = Vec::with_capacity(entries.len());
    let mut targets = HashSet::new();
    for entry in &entries {
        let plan = plan_entry(state, entry, &aliases).await?;
        if let Planned::Write { write, .. } = &plan
            && !targets.insert((write.resource_type, write.id.clone()))
        {
            return Err(entry_error(
                entry.index,
                format!(
                    "{}/{} is written by more than one entry",
                    write.resource_type, write.id
                ),
            ));
        }
        plans.push(plan);
    }
    let order = |method: &Method| match *method {
        Method::DELETE => 0,
        Method::POST => 1,
        Method::PUT | Method::PATCH => 2,
        _ => 3,
    };
    let mut write_order: Vec<usize> = (0..entries.len())
        .filter(|&i| matches!(plans[i], Planned::Write { .. }))
        .collect();
    write_order.sort_by_key(|&i| order(&entries[i].method));
    let writes: Vec<Write> = write_order
        .iter()
        .filter_map(|&i| match &plans[i] {
            Planned::Write { write, .. } => Some(write.clone()),
            _ => None,
        })
        .collect();
    let results = state.store.transaction(writes).await?;
    let mut written: HashMap<usize, hearth_interface::store::WriteResult> =
        write_order.into_iter().zip(results).collect();
    let router = super::app(state.clone());
    let mut out = Vec::with_capacity(entries.len());
    for (entry, plan) in entries.iter().zip(plans) {
        let answer = match plan {
            Planned::Write {
                created_by_post, ..
            } => match written.remove(&entry.index) {
                Some(result) => write_entry(ctx, &result, created_by_post),
                None => error_entry(&Error::internal(
                    "a write has no result",
                    std::io::Error::other("missing result"),
                )),
            },
            Planned::Existing(stored) => stored_entry(ctx, &stored, StatusCode::OK),
            Planned::NothingToDelete => json!({"response": {"status": "204 No Content"}}),
            Planned::Read => dispatch(&router, ctx, entry).await,
        };
        out.push(answer);
    }
    Ok(out)
}

/// Gives every entry that creates or updates a resource its final `Type/id`, keyed by its
/// `fullUrl`, resolving conditional creates and updates. Conditions may name other entries
/// by `fullUrl` (`ifNoneExist: "subject=urn:uuid:..."`): entries are resolved after the
/// entries they name, and conditions naming each other in a cycle are rejected.
async fn assign_identities(
    state: &AppState,
    entries: &[EntryRequest],
) -> Result<HashMap<String, (ResourceType, ResourceId, Option<StoredResource>)>> {
    let full_urls: HashSet<&str> = entries
        .iter()
        .filter_map(|e| e.full_url.as_deref())
        .collect();
    let mut pending: Vec<&EntryRequest> = entries
        .iter()
        .filter(|e| matches!(e.method, Method::POST | Method::PUT))
        .collect();
    let mut aliases = HashMap::new();
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        let before = aliases.len();
        for entry in std::mem::take(&mut pending) {
            let placeholders = condition(entry).map(placeholders_in).unwrap_or_default();
            if let Some(unknown) = placeholders
                .iter()
                .find(|p| !full_urls.contains(p.as_str()))
            {
                return Err(entry_error(
                    entry.index,
                    format!(
                        "entry {}: the condition names '{unknown}', which no entry has as fullUrl",
                        entry.index
                    ),
                ));
            }
            if !placeholders.iter().all(|p| aliases.contains_key(p)) {
                waiting.push(entry);
                continue;
            }
            let entry = with_placeholders_resolved(entry, &aliases);
            let (ty, id, existing) = identity(state, &entry).await?;
            let key = entry
                .full_url
                .clone()
                .unwrap_or_else(|| format!("#entry{}", entry.index));
            aliases.insert(key, (ty, id, existing));
        }
        if !waiting.is_empty() && aliases.len() == before {
            let indexes: Vec<String> = waiting.iter().map(|e| e.index.to_string()).collect();
            return Err(entry_error(
                waiting[0].index,
                format!(
                    "the conditions of entries {} refer to each other in a cycle",
                    indexes.join(", ")
                ),
            ));
        }
        pending = waiting;
    }
    Ok(aliases)
}

/// The search condition that decides an entry's identity: `ifNoneExist` of a POST, the
/// query of a conditional PUT.
fn condition(entry: &EntryRequest) -> Option<&str> {
    match entry.method {
        Method::POST => entry.if_none_exist.as_deref(),
        _ => entry.url.split_once('?').map(|(_, q)| q),
    }
}

/// The `urn:uuid:`/`urn:oid:` placeholders in a condition.
fn placeholders_in(condition: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["urn:uuid:", "urn:oid:"] {
        let mut rest = condition;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at..];
            let end = tail.find(['&', ',', '|', ' ']).unwrap_or(tail.len());
            found.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    found
}

fn with_placeholders_resolved(
    entry: &EntryRequest,
    aliases: &HashMap<String, (ResourceType, ResourceId, Option<StoredResource>)>,
) -> EntryRequest {
    let resolve = |text: &str| {
        placeholders_in(text)
            .iter()
            .fold(text.to_owned(), |acc, p| match aliases.get(p) {
                Some((ty, id, _)) => acc.replace(p.as_str(), &format!("{ty}/{id}")),
                None => acc,
            })
    };
    let mut resolved = entry.clone();
    resolved.if_none_exist = entry.if_none_exist.as_deref().map(resolve);
    resolved.url = resolve(&entry.url);
    resolved
}

/// The identity of one POST or PUT entry whose condition names no other entry.
async fn identity(
    state: &AppState,
    entry: &EntryRequest,
) -> Result<(ResourceType, ResourceId, Option<StoredResource>)> {
    if entry.method != Method::POST {
        let (ty, id) = put_target(state, entry).await?;
        return Ok((ty, id, None));
    }
    let ty = entry_type(entry)?;
    let Some(criteria) = &entry.if_none_exist else {
        return Ok((ty, ResourceId::from_uuid(uuid::Uuid::new_v4()), None));
    };
    match resolve(state, ty, &parse_criteria(criteria))
        .await
        .map_err(|e| at_entry(e, entry.index))?
    {
        Matches::One(existing) => Ok((ty, existing.id.clone(), Some(*existing))),
        Matches::None => Ok((ty, ResourceId::from_uuid(uuid::Uuid::new_v4()), None)),
        Matches::Several => Err(Error::precondition_failed(format!(
            "entry {}: ifNoneExist matches more than one resource",
            entry.index
        ))
        .at(format!("Bundle.entry[{}]", entry.index))),
    }
}

fn at_entry(e: Error, index: usize) -> Error {
    let expression = format!("Bundle.entry[{index}]");
    if e.expression().is_some() {
        e
    } else {
        e.at(expression)
    }
}

fn entry_type(entry: &EntryRequest) -> Result<ResourceType> {
    let name = entry.url.split(['?', '/']).next().unwrap_or("");
    ResourceType::parse(name).ok_or_else(|| {
        entry_error(
            entry.index,
            format!(
                "entry {}: unknown resource type '{}'",
                entry.index,
                hearth_interface::id::truncate_for_message(name)
            ),
        )
    })
}

/// The `Type/id` a PUT writes: from its URL, or from its conditional criteria.
async fn put_target(state: &AppState, entry: &EntryRequest) -> Result<(ResourceType, ResourceId)> {
    let ty = entry_type(entry)?;
    if let Some((_, criteria)) = entry.url.split_once('?') {
        return match resolve(state, ty, &parse_criteria(criteria))
            .await
            .map_err(|e| at_entry(e, entry.index))?
        {
            Matches::One(existing) => Ok((ty, existing.id)),
            Matches::None => {
                let body_id = entry
                    .resource
                    .as_ref()
                    .and_then(|r| r.get("id"))
                    .and_then(Value::as_str);
                match body_id {
                    Some(id) => Ok((
                        ty,
                        ResourceId::parse(id).map_err(|e| at_entry(e, entry.index))?,
                    )),
                    None => Ok((ty, ResourceId::from_uuid(uuid::Uuid::new_v4()))),
                }
            }
            Matches::Several => Err(Error::precondition_failed(format!(
                "entry {}: the criteria match more than one resource",
                entry.index
            ))
            .at(format!("Bundle.entry[{}]", entry.index))),
        };
    }
    let mut parts = entry.url.split('/');
    let (_, Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(entry_error(
            entry.index,
            format!(
                "entry {}: PUT needs [type]/[id] or [type]?criteria",
                entry.index
            ),
        ));
    };
    Ok((
        ty,
        ResourceId::parse(id).map_err(|e| at_entry(e, entry.index))?,
    ))
}

/// Rewrites `urn:uuid:`/`urn:oid:`/`fullUrl` references to the assigned `Type/id`, and
/// conditional references (`Patient?identifier=x|y`) to the one resource they match.
async fn rewrite_references(
    state: &AppState,
    entry: &mut EntryRequest,
    aliases: &HashMap<String, (ResourceType, ResourceId, Option<StoredResource>)>,
) -> Result<()> {
    let Some(resource) = entry.resource.as_mut() else {
        return Ok(());
    };
    let mut references = Vec::new();
    visit_references(resource, &mut |r| references.push(r.to_owned()));
    let mut replacements = HashMap::new();
    for reference in references {
        if replacements.contains_key(&reference) {
            continue;
        }
        let replacement = if let Some((ty, id, _)) = aliases.get(&reference) {
            format!("{ty}/{id}")
        } else if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
            return Err(entry_error(
                entry.index,
                format!(
                    "entry {} refers to '{reference}', which no entry of the Bundle has as fullUrl",
                    entry.index
                ),
            ));
        } else if let Some((type_name, criteria)) = reference.split_once('?') {
            let ty = ResourceType::parse(type_name).ok_or_else(|| {
                entry_error(
                    entry.index,
                    format!("conditional reference to unknown type '{type_name}'"),
                )
            })?;
            match resolve(state, ty, &parse_criteria(criteria)).await.map_err(|e| at_entry(e, entry.index))? {
                Matches::One(found) => format!("{ty}/{}", found.id),
                Matches::None => return Err(Error::precondition_failed(format!("entry {}: the conditional reference '{reference}' matches no resource", entry.index)).at(format!("Bundle.entry[{}]", entry.index))),
                Matches::Several => return Err(Error::precondition_failed(format!("entry {}: the conditional reference '{reference}' matches more than one resource", entry.index)).at(format!("Bundle.entry[{}]", entry.index))),
            }
        } else {
            continue;
        };
        replacements.insert(reference, replacement);
    }
    if !replacements.is_empty() {
        replace_references(resource, &replacements);
    }
    Ok(())
}

fn replace_references(value: &mut Value, replacements: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(r) if k == "reference" => {
                        if let Some(new) = replacements.get(r.as_str()) {
                            *r = new.clone();
                        }
                    }
                    other => replace_references(other, replacements),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_references(v, replacements)),
        _ => {}
    }
}

async fn plan_entry(
    state: &AppState,
    entry: &EntryRequest,
    aliases: &HashMap<String, (ResourceType, ResourceId, Option<StoredResource>)>,
) -> Result<Planned> {
    let alias = aliases
        .get(entry.full_url.as_deref().unwrap_or(""))
        .or_else(|| aliases.get(&format!("#entry{}", entry.index)));
    let if_match = entry
        .if_match
        .as_deref()
        .map(|t| {
            parse_etag(t).ok_or_else(|| entry_error(entry.index, "ifMatch must be a version ETag"))
        })
        .transpose()?;
    match entry.method {
        Method::POST => {
            let Some((ty, id, existing)) = alias else {
                return Err(entry_error(entry.index, "unresolved entry"));
            };
            if let Some(existing) = existing {
                return Ok(Planned::Existing(Box::new(existing.clone())));
            }
            let mut resource = entry.resource.clone().unwrap_or(Value::Null);
            if let Some(map) = resource.as_object_mut() {
                map.insert("id".into(), Value::String(id.to_string()));
            }
            check_resource(state, *ty, &resource, Some(id))
                .map_err(|e| api_at_entry(e, entry.index))?;
            Ok(Planned::Write {
                write: Write::upsert(*ty, id.clone(), resource, Precondition::Absent),
                created_by_post: true,
            })
        }
        Method::PUT => {
            let Some((ty, id, _)) = alias else {
                return Err(entry_error(entry.index, "unresolved entry"));
            };
            let mut resource = entry.resource.clone().unwrap_or(Value::Null);
            if entry.url.contains('?')
                && let Some(map) = resource.as_object_mut()
            {
                map.insert("id".into(), Value::String(id.to_string()));
            }
            check_resource(state, *ty, &resource, Some(id))
                .map_err(|e| api_at_entry(e, entry.index))?;
            let precondition = if_match.map_or(Precondition::None, Precondition::VersionIs);
            Ok(Planned::Write {
                write: Write::upsert(*ty, id.clone(), resource, precondition),
                created_by_post: false,
            })
        }
        Method::DELETE => {
            let ty = entry_type(entry)?;
            let id = match entry.url.split_once('?') {
                Some((_, criteria)) => match resolve(state, ty, &parse_criteria(criteria))
                    .await
                    .map_err(|e| at_entry(e, entry.index))?
                {
                    Matches::One(found) => found.id,
                    Matches::None => return Ok(Planned::NothingToDelete),
                    Matches::Several => {
                        return Err(Error::precondition_failed(format!(
                            "entry {}: the criteria match more than one resource",
                            entry.index
                        ))
                        .at(format!("Bundle.entry[{}]", entry.index)));
                    }
                },
                None => ResourceId::parse(entry.url.split('/').nth(1).unwrap_or(""))
                    .map_err(|e| at_entry(e, entry.index))?,
            };
            let precondition = if_match.map_or(Precondition::None, Precondition::VersionIs);
            Ok(Planned::Write {
                write: Write::delete(ty, id, precondition),
                created_by_post: false,
            })
        }
        Method::PATCH => {
            let ty = entry_type(entry)?;
            let id = ResourceId::parse(entry.url.split('/').nth(1).unwrap_or(""))
                .map_err(|e| at_entry(e, entry.index))?;
            let stored = current(state, ty, &id)
                .await
                .map_err(|e| at_entry(e, entry.index))?;
            if if_match.is_some_and(|v| v != stored.version) {
                return Err(Error::precondition_failed(format!(
                    "entry {}: ifMatch does not match the current version",
                    entry.index
                ))
                .at(format!("Bundle.entry[{}]", entry.index)));
            }
            let document = entry.resource.clone().unwrap_or(Value::Null);
            let (kind, bytes) =
                if document.get("resourceType").and_then(Value::as_str) == Some("Binary") {
                    (BodyKind::JsonPatch, binary_data(&document))
                } else {
                    (BodyKind::FhirJson, document.to_string().into_bytes())
                };
            let original: Value = serde_json::from_str(stored.body.as_deref().unwrap_or("{}"))
                .map_err(|e| Error::internal("stored resource is not JSON", e))?;
            let patched =
                patch::apply(original, kind, &bytes).map_err(|e| at_entry(e, entry.index))?;
            check_resource(state, ty, &patched, Some(&id))
                .map_err(|e| api_at_entry(e, entry.index))?;
            Ok(Planned::Write {
                write: Write::upsert(ty, id, patched, Precondition::BasedOn(stored.version)),
                created_by_post: false,
            })
        }
        _ => Ok(Planned::Read),
    }
}

/// Keeps the status of a validation failure but names the entry.
fn api_at_entry(e: ApiError, index: usize) -> Error {
    let issues = e.issues();
    let first = issues
        .first()
        .map(|i| i.diagnostics.clone())
        .unwrap_or_default();
    let kind = if e.status() == StatusCode::UNPROCESSABLE_ENTITY {
        IssueKind::Unprocessable
    } else {
        IssueKind::Invalid
    };
    let details: Vec<String> = issues
        .iter()
        .skip(1)
        .map(|i| i.diagnostics.clone())
        .take(5)
        .collect();
    Error::new(
        kind,
        format!("entry {index}: {first} {}", details.join("; ")),
    )
    .at(format!("Bundle.entry[{index}]"))
}

fn write_entry(
    ctx: &Ctx,
    result: &hearth_interface::store::WriteResult,
    created_by_post: bool,
) -> Value {
    let Some(stored) = &result.stored else {
        return json!({"response": {"status": "204 No Content"}});
    };
    let status = match result.outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        WriteOutcome::Deleted | WriteOutcome::NothingToDelete => StatusCode::NO_CONTENT,
        _ if created_by_post => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    if stored.is_deleted() {
        return json!({"response": {"status": status_line(status), "etag": stored.etag()}});
    }
    stored_entry(ctx, stored, status)
}

fn stored_entry(ctx: &Ctx, stored: &StoredResource, status: StatusCode) -> Value {
    let mut response = json!({
        "status": status_line(status),
        "location": format!("{}/{}", ctx.base, stored.versioned_path()),
        "etag": stored.etag(),
        "lastModified": stored.last_updated.to_fhir(),
    });
    let mut entry = Map::new();
    entry.insert(
        "fullUrl".into(),
        Value::String(format!(
            "{}/{}/{}",
            ctx.base, stored.resource_type, stored.id
        )),
    );
    match ctx.prefer.return_pref {
        ReturnPreference::Minimal => {}
        ReturnPreference::OperationOutcome => {
            response["outcome"] = hearth_interface::outcome::information("done");
        }
        ReturnPreference::Representation => {
            if let Some(body) = stored
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
            {
                entry.insert("resource".into(), body);
            }
        }
    }
    entry.insert("response".into(), response);
    Value::Object(entry)
}
