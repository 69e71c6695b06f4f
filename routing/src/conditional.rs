//! Resolving conditional interactions: finding the resources their search criteria match.

use hearth_interface::search::{Criterion, SearchQuery, SearchScope, TotalMode};
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, ResourceType, Result};

use crate::AppState;
use crate::negotiate::is_presentation_param;

/// The matches of a conditional interaction's criteria (at most two: callers only need
/// to know none, one or several).
#[derive(Debug)]
pub enum Matches {
    /// No resource matches.
    None,
    /// Exactly one resource matches.
    One(Box<StoredResource>),
    /// More than one resource matches.
    Several,
}

/// Parses criteria written as a query string (`identifier=a|b&active=true`), optionally
/// prefixed by `Type?` as in `If-None-Exist` and transaction `ifNoneExist`.
pub fn parse_criteria(raw: &str) -> Vec<(String, String)> {
    let query = raw.split_once('?').map_or(raw, |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Finds what `criteria` match among resources of `ty`.
///
/// # Errors
/// 400 when there are no criteria (a conditional interaction needs some) or when the
/// search engine rejects them.
pub async fn resolve(
    state: &AppState,
    ty: ResourceType,
    criteria: &[(String, String)],
) -> Result<Matches> {
    let criteria: Vec<Criterion> = criteria
        .iter()
        .filter(|(k, _)| !is_presentation_param(k))
        .map(|(k, v)| Criterion::parse(k, v))
        .collect();
    if criteria.is_empty() {
        return Err(Error::invalid(
            "a conditional interaction needs search criteria (for example identifier=system|value)",
        ));
    }
    let query = SearchQuery {
        criteria,
        count: 2,
        cursor: None,
        total: TotalMode::None,
        sort: Vec::new(),
    };
    query.check_limits()?;
    let mut page = state.search.search(&SearchScope::Type(ty), &query).await?;
    Ok(match page.matches.len() {
        0 => Matches::None,
        1 => Matches::One(Box::new(page.matches.remove(0))),
        _ => Matches::Several,
    })
}

/// The resource an `If-None-Exist` header (conditional create) names, if exactly one
/// matches; `None` without the header or when nothing matches (then create).
///
/// # Errors
/// 400 for a header that is not a query string or bad criteria, 412 when several match.
pub async fn if_none_exist(
    state: &AppState,
    ty: ResourceType,
    headers: &http::HeaderMap,
) -> Result<Option<StoredResource>> {
    let Some(criteria) = headers.get("if-none-exist") else {
        return Ok(None);
    };
    let criteria = criteria
        .to_str()
        .map_err(|_| Error::invalid("If-None-Exist must be a query string"))?;
    match resolve(state, ty, &parse_criteria(criteria)).await? {
        Matches::None => Ok(None),
        Matches::One(existing) => Ok(Some(*existing)),
        Matches::Several => Err(Error::precondition_failed(
            "If-None-Exist matches more than one resource",
        )),
    }
}
