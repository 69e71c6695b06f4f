//! Search interactions: type level (`GET [type]?`, `POST [type]/_search`), system level
//! (`GET /?`, `POST /_search`) and compartment (`GET Patient/[id]/[type]?`), with paging,
//! `_sort`, `_total`, `_summary=count`, includes and `Prefer: handling=lenient`.

use axum::body::Body;
use axum::extract::{RawPathParams, State};
use axum::response::Response;
use hearth_interface::outcome::{Issue, Severity};
use hearth_interface::search::{SearchQuery, SearchScope, TotalMode};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use http::StatusCode;
use http::header::CONTENT_TYPE;

use crate::AppState;
use crate::bundle::{self, Links, SearchMode};
use crate::error::ApiError;
use crate::extract::{Ctx, Target, read_body, resource_type};
use crate::include::{self, IncludeRequest};
use crate::negotiate::SummaryMode;
use crate::respond::text_response;
use crate::search_plan::{self, Planned};

/// `GET [type]?params`.
pub async fn type_search(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    run_search(
        &state,
        &ctx,
        SearchScope::Type(target.ty),
        target.ty.as_str(),
        params,
    )
    .await
}

/// `POST [type]/_search` with a form-encoded body (parameters from the URL count too).
pub async fn type_search_post(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let params = form_params(&state, &ctx, body).await?;
    run_search(
        &state,
        &ctx,
        SearchScope::Type(target.ty),
        target.ty.as_str(),
        params,
    )
    .await
}

/// `GET /?params`: every type, or those in `_type`.
pub async fn system_search(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    system(&state, &ctx, params).await
}

/// `POST /_search` with a form-encoded body.
pub async fn system_search_post(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let params = form_params(&state, &ctx, body).await?;
    system(&state, &ctx, params).await
}

/// `GET [compartment]/[id]/[type]?params` and `GET [compartment]/[id]/*?params`.
pub async fn compartment_search(
    State(state): State<AppState>,
    path: RawPathParams,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let mut compartment = None;
    let mut id = None;
    let mut target = None;
    for (key, value) in &path {
        match key {
            "type" => compartment = Some(resource_type(value)?),
            "id" => id = Some(ResourceId::parse(value)?),
            "target" if value == "*" => {}
            "target" => target = Some(resource_type(value)?),
            _ => {}
        }
    }
    let (Some(compartment), Some(id)) = (compartment, id) else {
        return Err(Error::invalid("a compartment search needs [type]/[id]/[type]").into());
    };
    let path = format!("{compartment}/{id}/{}", target.map_or("*", |t| t.as_str()));
    let params: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    run_search(
        &state,
        &ctx,
        SearchScope::Compartment {
            compartment,
            id,
            target,
        },
        &path,
        params,
    )
    .await
}

async fn system(
    state: &AppState,
    ctx: &Ctx,
    params: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let mut types = Vec::new();
    for (key, value) in params.iter().filter(|(k, _)| k == "_type") {
        for name in value.split(',').filter(|n| !n.is_empty()) {
            types.push(ResourceType::parse(name).ok_or_else(|| {
                Error::invalid(format!(
                    "_type names an unknown resource type '{}'",
                    hearth_interface::id::truncate_for_message(name)
                ))
                .at(key.clone())
            })?);
        }
    }
    run_search(state, ctx, SearchScope::System(types), "", params).await
}

async fn form_params(state: &AppState, ctx: &Ctx, body: Body) -> Result<Vec<(String, String)>> {
    let media = ctx
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !media.starts_with("application/x-www-form-urlencoded") {
        return Err(Error::new(
            IssueKind::UnsupportedMediaType,
            "_search takes application/x-www-form-urlencoded parameters",
        ));
    }
    let bytes = read_body(state, body).await?;
    let mut params: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    params.extend(form_urlencoded::parse(&bytes).into_owned());
    Ok(params)
}

/// Result controls and criteria, split from the request's parameters.
struct Request {
    query: SearchQuery,
    includes: IncludeRequest,
    /// The parameters to repeat in paging links (those actually used).
    echoed: Vec<(String, String)>,
    /// Warnings for parameters ignored under `handling=lenient`.
    warnings: Vec<Issue>,
}

fn parse_request(
    state: &AppState,
    ctx: &Ctx,
    scope: &SearchScope,
    params: Vec<(String, String)>,
) -> Result<Request> {
    let mut query = SearchQuery {
        count: state.config.default_count,
        total: TotalMode::Accurate,
        ..SearchQuery::default()
    };
    let mut includes = IncludeRequest::default();
    let mut echoed = Vec::new();
    let mut warnings = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "_count" => query.count = parse_count(&value, state.config.max_count)?,
            "_cursor" => {
                query.cursor = Some(value);
                continue;
            }
            "_type" => {}
            "_total" => query.total = parse_total(&value)?,
            "_sort" => match search_plan::parse_sort(scope, &value) {
                Ok(keys) => query.sort = keys,
                Err(e) if ctx.prefer.lenient && e.kind() == IssueKind::Invalid => {
                    warnings.push(Issue::new(
                        Severity::Warning,
                        "not-supported",
                        format!("ignored: {}", e.message()),
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            },
            k if k.starts_with("_include") || k.starts_with("_revinclude") => {
                includes.add(k, &value)?
            }
            _ => match search_plan::check_known(scope, &key) {
                Ok(()) => query
                    .criteria
                    .push(hearth_interface::search::Criterion::parse(&key, &value)),
                Err(e) if ctx.prefer.lenient && e.kind() == IssueKind::Invalid => {
                    warnings.push(Issue::new(
                        Severity::Warning,
                        "not-supported",
                        format!("ignored: {}", e.message()),
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            },
        }
        echoed.push((key, value));
    }
    if ctx.presentation.summary == SummaryMode::Count {
        query.count = 0;
        query.total = TotalMode::Accurate;
    }
    query.check_limits()?;
    Ok(Request {
        query,
        includes,
        echoed,
        warnings,
    })
}

fn parse_total(value: &str) -> Result<TotalMode> {
    match value {
        "none" => Ok(TotalMode::None),
        "estimate" => Ok(TotalMode::Estimate),
        "accurate" => Ok(TotalMode::Accurate),
        other => Err(Error::invalid(format!(
            "_total must be none, estimate or accurate, not '{}'",
            hearth_interface::id::truncate_for_message(other)
        ))),
    }
}

async fn run_search(
    state: &AppState,
    ctx: &Ctx,
    scope: SearchScope,
    path: &str,
    params: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let Request {
        mut query,
        includes,
        echoed,
        warnings,
    } = parse_request(state, ctx, &scope, params)?;
    let page =
        match search_plan::resolve(state, &scope, std::mem::take(&mut query.criteria)).await? {
            Planned::Criteria(criteria) => {
                query.criteria = criteria;
                state.search.search(&scope, &query).await?
            }
            Planned::NoMatch => hearth_interface::search::SearchPage {
                total: (query.total != TotalMode::None).then_some(0),
                ..Default::default()
            },
        };
    let included = include::collect(state, &page.matches, &includes).await?;
    let links = page_links(
        ctx,
        path,
        &echoed,
        query.cursor.as_deref(),
        page.previous_cursor.as_deref(),
        page.next_cursor.as_deref(),
    );
    let mut entries: Vec<_> = page
        .matches
        .into_iter()
        .map(|m| (m, SearchMode::Match))
        .collect();
    entries.extend(included.into_iter().map(|m| (m, SearchMode::Include)));
    let text = bundle::searchset(
        &ctx.base,
        &entries,
        page.total,
        &links,
        &warnings,
        &ctx.presentation,
    );
    Ok(text_response(
        StatusCode::OK,
        text,
        ctx.presentation.content_type,
    ))
}

/// Parses `_count`: a non-negative integer, capped at the configured maximum.
pub(crate) fn parse_count(value: &str, max: usize) -> Result<usize> {
    value.parse::<usize>().map(|n| n.min(max)).map_err(|_| {
        Error::invalid(format!(
            "_count must be a non-negative integer, not '{}'",
            hearth_interface::id::truncate_for_message(value)
        ))
    })
}

/// `self`, `first`, `previous` and `next` links for a paged answer.
pub(crate) fn page_links(
    ctx: &Ctx,
    path: &str,
    params: &[(String, String)],
    cursor: Option<&str>,
    previous_cursor: Option<&str>,
    next_cursor: Option<&str>,
) -> Links {
    let with_cursor = |c: Option<&str>| {
        let mut p: Vec<(String, String)> = params.to_vec();
        if let Some(c) = c {
            p.push(("_cursor".into(), c.into()));
        }
        bundle::page_url(&ctx.base, path, &p)
    };
    Links {
        self_url: with_cursor(cursor),
        first: cursor.map(|_| with_cursor(None)),
        previous: previous_cursor.map(|c| with_cursor(Some(c))),
        next: next_cursor.map(|c| with_cursor(Some(c))),
    }
}
