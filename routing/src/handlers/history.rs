//! History at system, type and instance level.

use axum::extract::State;
use axum::response::Response;
use hearth_interface::instant;
use hearth_interface::store::{HistoryQuery, HistoryScope};
use hearth_interface::{Error, Result};
use http::StatusCode;

use super::search::{page_links, parse_count};
use crate::AppState;
use crate::bundle;
use crate::error::ApiError;
use crate::extract::{Ctx, Target};
use crate::respond::text_response;

/// `GET /_history`.
pub async fn system(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    respond(&state, &ctx, HistoryScope::System, "_history".to_owned()).await
}

/// `GET [type]/_history`.
pub async fn type_level(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    respond(
        &state,
        &ctx,
        HistoryScope::Type(target.ty),
        format!("{}/_history", target.ty),
    )
    .await
}

/// `GET [type]/[id]/_history`.
pub async fn instance(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let id = target.id()?.clone();
    if state.store.read(target.ty, &id).await?.is_none() {
        return Err(Error::not_found(format!("{}/{id} does not exist", target.ty)).into());
    }
    let path = format!("{}/{id}/_history", target.ty);
    respond(&state, &ctx, HistoryScope::Instance(target.ty, id), path).await
}

async fn respond(
    state: &AppState,
    ctx: &Ctx,
    scope: HistoryScope,
    path: String,
) -> Result<Response, ApiError> {
    let mut query = HistoryQuery {
        scope,
        since: None,
        at: None,
        count: state.config.default_count,
        cursor: None,
    };
    let mut echoed = Vec::new();
    for (key, value) in ctx.criteria_params() {
        match key.as_str() {
            "_count" => query.count = parse_count(value, state.config.max_count)?,
            "_since" => {
                let (start, _) =
                    instant::parse_range(value).ok_or_else(|| bad_date("_since", value))?;
                query.since = Some(start);
            }
            "_at" => {
                query.at = Some(instant::parse_range(value).ok_or_else(|| bad_date("_at", value))?)
            }
            "_cursor" => {
                query.cursor = Some(value.clone());
                continue;
            }
            other => {
                return Err(Error::invalid(format!(
                    "unknown history parameter '{}': use _count, _since or _at",
                    hearth_interface::id::truncate_for_message(other)
                ))
                .into());
            }
        }
        echoed.push((key.clone(), value.clone()));
    }
    let page = state.store.history(&query).await?;
    let links = page_links(
        ctx,
        &path,
        &echoed,
        query.cursor.as_deref(),
        None,
        page.next_cursor.as_deref(),
    );
    let text = bundle::history(
        &ctx.base,
        &page.entries,
        page.total,
        &links,
        &ctx.presentation,
    );
    Ok(text_response(
        StatusCode::OK,
        text,
        ctx.presentation.content_type,
    ))
}

fn bad_date(name: &str, value: &str) -> Error {
    Error::invalid(format!(
        "{name} must be a FHIR instant or date such as 2024-05-01T10:00:00Z, not '{}'",
        hearth_interface::id::truncate_for_message(value)
    ))
    .at(name)
}
