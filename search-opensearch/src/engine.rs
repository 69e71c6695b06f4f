//! [`OpenSearchSearch`]: the [`SearchEngine`] on OpenSearch.

use async_trait::async_trait;
use hearth_interface::instant::Instant;
use hearth_interface::search::criteria::{self, TypePlan};
use hearth_interface::search::{
    SearchEngine, SearchPage, SearchQuery, SearchScope, SupportedParam, TotalMode,
};
use hearth_interface::store::{ChangeKind, StoredResource};
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use opensearch::SearchParts;
use serde_json::{Value, json};

use crate::client::{OpenSearchClient, read};
use crate::{cursor, query};

/// The most matches one page returns: OpenSearch refuses pages larger than its result
/// window (10,000 by default), and one more match is read to learn whether a next page
/// exists.
pub const MAX_PAGE: usize = 9_999;

/// Searches with more types than this go to the alias of all indexes rather than naming
/// each index (a URL line must stay short).
const MAX_NAMED_INDEXES: usize = 16;

/// Searches the indexes an [`OpenSearchIndexer`](crate::OpenSearchIndexer) maintains.
///
/// Searches see what was indexed and refreshed before they started: OpenSearch refreshes
/// about every second, and the indexer can wait for a refresh after each batch.
#[derive(Debug, Clone)]
pub struct OpenSearchSearch {
    client: OpenSearchClient,
}

impl OpenSearchSearch {
    /// A search engine over the client's indexes.
    pub fn new(client: OpenSearchClient) -> Self {
        Self { client }
    }

    /// The indexes to search for `plans`: each type's, or the alias for many.
    fn indexes(&self, plans: &[TypePlan]) -> Vec<String> {
        if plans.len() > MAX_NAMED_INDEXES {
            return vec![self.client.alias()];
        }
        plans
            .iter()
            .map(|p| self.client.index(p.resource_type))
            .collect()
    }
}

#[async_trait]
impl SearchEngine for OpenSearchSearch {
    async fn search(&self, scope: &SearchScope, query: &SearchQuery) -> Result<SearchPage> {
        let plans = criteria::plan(scope, &query.criteria)?;
        check_supported(&plans, query)?;
        let after = query
            .cursor
            .as_deref()
            .map(cursor::search_after)
            .transpose()?;
        let want_total = query.cursor.is_none() && query.total != TotalMode::None;
        if plans.is_empty() {
            return Ok(SearchPage {
                matches: Vec::new(),
                next_cursor: None,
                previous_cursor: None,
                total: want_total.then_some(0),
            });
        }
        let count = query.count.min(MAX_PAGE);
        let size = if count == 0 { 0 } else { count + 1 };
        let mut body = json!({
            "size": size,
            "query": query::plans_query(&plans),
            "sort": cursor::sort(),
            "track_total_hits": want_total,
            "_source": ["type", "id", "version", "lastUpdated", "change", "body"],
        });
        if let Some(after) = after {
            body["search_after"] = after;
        }
        let indexes = self.indexes(&plans);
        let names: Vec<&str> = indexes.iter().map(String::as_str).collect();
        let response = self
            .client
            .os
            .search(SearchParts::Index(&names))
            .ignore_unavailable(true)
            .allow_no_indices(true)
            .body(body)
            .send()
            .await;
        let answer = read(response, "search").await?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let mut matches = hits
            .iter()
            .map(|hit| stored(&hit["_source"]))
            .collect::<Result<Vec<_>>>()?;
        let has_more = matches.len() > count;
        matches.truncate(count);
        let next_cursor = if has_more {
            matches.last().map(cursor::after)
        } else {
            None
        };
        let total = if want_total {
            Some(
                answer["hits"]["total"]["value"]
                    .as_u64()
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        Ok(SearchPage {
            matches,
            next_cursor,
            previous_cursor: None,
            total,
        })
    }

    fn supported_params(&self, resource_type: ResourceType) -> Vec<SupportedParam> {
        criteria::supported_params(resource_type)
            .into_iter()
            .filter(|p| p.kind != "composite" && criteria::fulltext_column(&p.code).is_none())
            .collect()
    }
}

/// Rejects what this engine cannot answer yet (composite parameters, `_text`/`_content`,
/// `_sort`, backward paging) with a 400 naming it, instead of a wrong answer.
fn check_supported(plans: &[criteria::TypePlan], query: &SearchQuery) -> Result<()> {
    let unsupported = |what: &str| {
        Err(hearth_interface::Error::invalid(format!(
            "{what} is not supported by the OpenSearch engine yet"
        )))
    };
    if let Some(key) = query.sort.first() {
        return unsupported(&format!("_sort={}", key.param));
    }
    for filter in plans.iter().flat_map(|p| p.filters.iter().chain(&p.any_of)) {
        let composite =
            filter.def.kind == hearth_interface::search_params::SearchParamType::Composite;
        let fulltext = matches!(filter.condition, criteria::Condition::FullText { .. });
        if composite || fulltext {
            return unsupported(&filter.def.code);
        }
    }
    Ok(())
}

/// The stored version a document holds.
fn stored(source: &Value) -> Result<StoredResource> {
    let bad = || {
        Error::internal(
            "OpenSearch returned a malformed document",
            source.to_string(),
        )
    };
    let resource_type = source["type"]
        .as_str()
        .and_then(ResourceType::parse)
        .ok_or_else(bad)?;
    let id = source["id"]
        .as_str()
        .and_then(|id| ResourceId::parse(id).ok())
        .ok_or_else(bad)?;
    let change = match source["change"].as_str() {
        Some("create") => ChangeKind::Create,
        _ => ChangeKind::Update,
    };
    Ok(StoredResource {
        resource_type,
        id,
        version: source["version"].as_u64().ok_or_else(bad)?,
        last_updated: Instant(source["lastUpdated"].as_i64().ok_or_else(bad)?),
        change,
        body: Some(source["body"].as_str().ok_or_else(bad)?.to_owned()),
    })
}
