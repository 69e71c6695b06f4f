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
use crate::cursor::{self, Bound};
use crate::query;
use crate::sort::Order;

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
        let order = Order::resolve(&plans, &query.sort)?;
        let bound = cursor::parse(&order, query.cursor.as_deref())?;
        let want_total = query.cursor.is_none() && query.total != TotalMode::None;
        if plans.is_empty() {
            return Ok(SearchPage {
                total: want_total.then_some(0),
                ..SearchPage::default()
            });
        }
        let reader = Reader {
            client: &self.client,
            indexes: self.indexes(&plans),
            query: query::plans_query(&plans),
            order,
        };
        let count = query.count.min(MAX_PAGE);
        let (mut page, total) = if count == 0 {
            let (_, total) = reader.fetch(None, false, 0, want_total).await?;
            (SearchPage::default(), total)
        } else {
            reader.page(bound, count, want_total).await?
        };
        page.total = if want_total { total } else { None };
        Ok(page)
    }

    fn supported_params(&self, resource_type: ResourceType) -> Vec<SupportedParam> {
        criteria::supported_params(resource_type)
    }
}

/// Reads pages of one search's matches.
struct Reader<'a> {
    client: &'a OpenSearchClient,
    indexes: Vec<String>,
    query: Value,
    order: Order,
}

/// A match and its position in the order (the hit's `sort` values).
type Row = (StoredResource, Value);

impl Reader<'_> {
    /// The page starting at `bound`, with the total when asked (first pages only). As
    /// on the embedded backend: a previous cursor only when a match precedes the page, a
    /// next cursor only when one follows it, and a page before the first full page is the
    /// first page.
    async fn page(
        &self,
        bound: Bound,
        count: usize,
        want_total: bool,
    ) -> Result<(SearchPage, Option<u64>)> {
        let (from, backwards) = match bound {
            Bound::Start => (None, false),
            Bound::After(position) => (Some(position), false),
            Bound::Before(position) => (Some(position), true),
        };
        let first_page = from.is_none();
        let (mut rows, total) = self.fetch(from, backwards, count + 1, want_total).await?;
        if backwards {
            if rows.len() <= count {
                let (rows, _) = self.fetch(None, false, count + 1, false).await?;
                let has_more = rows.len() > count;
                return Ok((self.finish(rows, count, false, Some(has_more)).await?, None));
            }
            rows.truncate(count);
            rows.reverse();
            return Ok((self.finish(rows, count, true, None).await?, None));
        }
        let has_more = rows.len() > count;
        Ok((
            self.finish(rows, count, !first_page, Some(has_more))
                .await?,
            total,
        ))
    }

    /// The page of the first `count` of `rows`, with a previous cursor when `maybe_before`
    /// and a match precedes them, and a next cursor when one follows (`has_more`, or
    /// looked up when unknown).
    async fn finish(
        &self,
        mut rows: Vec<Row>,
        count: usize,
        maybe_before: bool,
        has_more: Option<bool>,
    ) -> Result<SearchPage> {
        rows.truncate(count);
        let previous_cursor = match rows.first() {
            Some((_, first)) if maybe_before => {
                let (before, _) = self.fetch(Some(first.clone()), true, 1, false).await?;
                (!before.is_empty()).then(|| cursor::encode(&self.order, false, first))
            }
            _ => None,
        };
        let next_cursor = match rows.last() {
            Some((_, last)) => {
                let exists = match has_more {
                    Some(known) => known,
                    None => {
                        let position = Some(last.clone());
                        !self.fetch(position, false, 1, false).await?.0.is_empty()
                    }
                };
                exists.then(|| cursor::encode(&self.order, true, last))
            }
            None => None,
        };
        Ok(SearchPage {
            matches: rows.into_iter().map(|(stored, _)| stored).collect(),
            next_cursor,
            previous_cursor,
            total: None,
        })
    }

    /// Up to `size` matches after `from` (before it and in reverse order when
    /// `backwards`), and the total when `track_total`.
    async fn fetch(
        &self,
        from: Option<Value>,
        backwards: bool,
        size: usize,
        track_total: bool,
    ) -> Result<(Vec<Row>, Option<u64>)> {
        let mut body = json!({
            "size": size,
            "query": self.query,
            "sort": self.order.sort(backwards),
            "track_total_hits": track_total,
            "_source": ["type", "id", "version", "lastUpdated", "change", "body"],
        });
        if let Some(from) = from {
            body["search_after"] = from;
        }
        let names: Vec<&str> = self.indexes.iter().map(String::as_str).collect();
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
        let rows = hits
            .iter()
            .map(|hit| Ok((stored(&hit["_source"])?, hit["sort"].clone())))
            .collect::<Result<Vec<_>>>()?;
        let total = track_total.then(|| {
            answer["hits"]["total"]["value"]
                .as_u64()
                .unwrap_or_default()
        });
        Ok((rows, total))
    }
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
