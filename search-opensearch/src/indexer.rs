//! [`OpenSearchIndexer`]: writes stored versions into the indexes (idempotently, newest
//! version wins), and rebuilds them from a [`ResourceStore`] with a drift report.

use std::collections::HashSet;

use hearth_interface::id::all_resource_types;
use hearth_interface::store::{ResourceStore, ScanQuery, StoredResource};
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use opensearch::indices::IndicesRefreshParts;
use opensearch::params::{Refresh, VersionType};
use opensearch::{BulkOperation, BulkOperations, BulkParts, CountParts, SearchParts};
use serde_json::{Value, json};

use crate::client::{OpenSearchClient, answer_error, read};
use crate::document::document;

/// The most documents one `_bulk` request carries.
const BULK_DOCS: usize = 500;
/// The body size after which a `_bulk` request is sent, in bytes.
const BULK_BYTES: usize = 8 << 20;
/// Page size of the store scans and index walks of a reindex.
const REINDEX_PAGE: usize = 500;

/// What one [`OpenSearchIndexer::apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Live versions written.
    pub indexed: usize,
    /// Deletions written (as tombstones).
    pub deleted: usize,
    /// Versions refused because the index holds the same or a newer one (replays).
    pub stale: usize,
}

/// Progress of a reindex, reported after each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReindexProgress {
    /// The type being reindexed.
    pub resource_type: ResourceType,
    /// Its position among the types reindexed, from 0.
    pub type_index: usize,
    /// How many types are reindexed.
    pub type_count: usize,
    /// Resources of this type indexed so far.
    pub in_type: u64,
    /// Resources indexed so far, all types.
    pub total: u64,
}

/// The counts of one type before and after a reindex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeDrift {
    /// The type.
    pub resource_type: ResourceType,
    /// Current, not deleted resources in the store.
    pub in_store: u64,
    /// Live documents in the index before the reindex.
    pub in_index_before: u64,
    /// Live documents in the index after it.
    pub in_index_after: u64,
    /// Live documents removed because the store no longer has them live.
    pub pruned: u64,
}

impl TypeDrift {
    /// Whether the index disagreed with the store before the reindex.
    pub fn drifted(&self) -> bool {
        self.in_store != self.in_index_before || self.pruned > 0
    }
}

/// The outcome of a reindex: the counts of every type that has resources or documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// One entry per type with resources in the store or documents in the index.
    pub types: Vec<TypeDrift>,
}

impl DriftReport {
    /// The types whose index disagreed with the store.
    pub fn drifted(&self) -> impl Iterator<Item = &TypeDrift> {
        self.types.iter().filter(|t| t.drifted())
    }

    /// Resources in the store, all types.
    pub fn in_store(&self) -> u64 {
        self.types.iter().map(|t| t.in_store).sum()
    }
}

/// Writes stored versions into the indexes.
///
/// Each document's external version is the resource version, so applying the same
/// versions again, or older ones after newer ones (replayed or out-of-order stream
/// records), changes nothing: OpenSearch refuses them and they are counted as stale.
#[derive(Debug, Clone)]
pub struct OpenSearchIndexer {
    client: OpenSearchClient,
    wait_for_refresh: bool,
}

impl OpenSearchIndexer {
    /// An indexer into the client's indexes.
    pub fn new(client: OpenSearchClient) -> Self {
        Self {
            client,
            wait_for_refresh: false,
        }
    }

    /// Makes [`Self::apply`] return only once searches see what it wrote (`refresh=wait_for`),
    /// for read-after-write; otherwise they see it after the next refresh (about a second).
    #[must_use]
    pub fn with_wait_for_refresh(mut self, wait: bool) -> Self {
        self.wait_for_refresh = wait;
        self
    }

    /// Indexes each version (a deletion as a tombstone), unless the index holds the same
    /// or a newer version of the resource. Creates missing indexes first.
    ///
    /// # Errors
    /// `Internal` when OpenSearch fails or refuses a document for another reason than its
    /// version; the other documents of the batch are written, and applying the batch
    /// again is safe.
    pub async fn apply(&self, versions: &[StoredResource]) -> Result<ApplyReport> {
        self.apply_with(versions, VersionType::External).await
    }

    /// Makes everything indexed so far visible to searches.
    ///
    /// # Errors
    /// `Internal` when OpenSearch fails.
    pub async fn refresh(&self) -> Result<()> {
        let alias = self.client.alias();
        let response = self
            .client
            .os
            .indices()
            .refresh(IndicesRefreshParts::Index(&[&alias]))
            .ignore_unavailable(true)
            .allow_no_indices(true)
            .send()
            .await;
        read(response, "refresh").await.map(|_| ())
    }

    async fn apply_with(
        &self,
        versions: &[StoredResource],
        version_type: VersionType,
    ) -> Result<ApplyReport> {
        let types: HashSet<ResourceType> = versions.iter().map(|v| v.resource_type).collect();
        for ty in types {
            self.client.ensure_index(ty).await?;
        }
        let mut report = ApplyReport::default();
        let mut first_error = None;
        let mut batch = Batch::default();
        for stored in versions {
            batch.push(&self.client, stored, version_type)?;
            if batch.docs >= BULK_DOCS || batch.bytes >= BULK_BYTES {
                let sent = std::mem::take(&mut batch);
                self.send(sent, &mut report, &mut first_error).await?;
            }
        }
        if batch.docs > 0 {
            self.send(batch, &mut report, &mut first_error).await?;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Sends one `_bulk` request and adds its item outcomes to `report`; the first item
    /// refused for another reason than its version goes to `first_error`.
    async fn send(
        &self,
        batch: Batch,
        report: &mut ApplyReport,
        first_error: &mut Option<Error>,
    ) -> Result<()> {
        let refresh = if self.wait_for_refresh {
            Refresh::WaitFor
        } else {
            Refresh::False
        };
        let response = self
            .client
            .os
            .bulk(BulkParts::None)
            .refresh(refresh)
            .body(vec![batch.ops])
            .send()
            .await;
        let answer = read(response, "bulk indexing").await?;
        let items = answer["items"].as_array().map_or(&[][..], Vec::as_slice);
        for (item, deleted) in items.iter().zip(batch.deletions) {
            let outcome = item
                .as_object()
                .and_then(|o| o.values().next())
                .unwrap_or(&Value::Null);
            let status = outcome["status"].as_u64().unwrap_or_default();
            match status {
                200..=299 if deleted => report.deleted += 1,
                200..=299 => report.indexed += 1,
                409 => report.stale += 1,
                _ => {
                    let status = u16::try_from(status)
                        .ok()
                        .and_then(|s| opensearch::http::StatusCode::from_u16(s).ok())
                        .unwrap_or(opensearch::http::StatusCode::INTERNAL_SERVER_ERROR);
                    let error = answer_error("indexing a document", status, outcome);
                    tracing::warn!(error = %error, id = %outcome["_id"], "document not indexed");
                    first_error.get_or_insert(error);
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the indexes of `types` (every type when empty) from `store`: indexes every
    /// current resource (rewriting documents of the same version, so that a change of the
    /// extraction or the mapping reaches them), turns documents whose resource the store
    /// no longer has live into tombstones, and reports the counts before and after.
    ///
    /// Writes during a reindex are safe (the newest version wins) but may show as drift.
    ///
    /// # Errors
    /// The first failure of the store or of OpenSearch.
    pub async fn reindex(
        &self,
        store: &dyn ResourceStore,
        types: &[ResourceType],
        progress: &mut (dyn FnMut(ReindexProgress) + Send),
    ) -> Result<DriftReport> {
        let types: Vec<ResourceType> = if types.is_empty() {
            all_resource_types()
                .iter()
                .filter_map(|t| ResourceType::parse(t))
                .collect()
        } else {
            types.to_vec()
        };
        let mut report = DriftReport::default();
        let mut total = 0;
        for (type_index, &ty) in types.iter().enumerate() {
            self.client.ensure_index(ty).await?;
            let before = self.count_live(ty).await?;
            let mut seen = HashSet::new();
            let mut query = ScanQuery {
                resource_type: ty,
                since: None,
                count: REINDEX_PAGE,
                cursor: None,
            };
            loop {
                let page = store.scan(&query).await?;
                self.apply_with(&page.entries, VersionType::ExternalGte)
                    .await?;
                total += page.entries.len() as u64;
                seen.extend(page.entries.iter().map(|e| e.id.to_string()));
                progress(ReindexProgress {
                    resource_type: ty,
                    type_index,
                    type_count: types.len(),
                    in_type: seen.len() as u64,
                    total,
                });
                match page.next_cursor {
                    Some(next) => query.cursor = Some(next),
                    None => break,
                }
            }
            let pruned = self.prune(store, ty, &seen).await?;
            let after = self.count_live(ty).await?;
            let in_store = seen.len() as u64;
            if in_store > 0 || before > 0 || after > 0 {
                report.types.push(TypeDrift {
                    resource_type: ty,
                    in_store,
                    in_index_before: before,
                    in_index_after: after,
                    pruned,
                });
            }
        }
        Ok(report)
    }

    /// Brings up to date the live documents of `ty` whose id the store scan did not
    /// return: their newest version (a deletion becomes a tombstone) is applied, and
    /// documents of resources the store never had are removed. Returns how many of them
    /// stopped being live.
    async fn prune(
        &self,
        store: &dyn ResourceStore,
        ty: ResourceType,
        seen: &HashSet<String>,
    ) -> Result<u64> {
        self.refresh().await?;
        let mut stale = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let ids = self.live_ids(ty, after.take()).await?;
            let Some(last) = ids.last() else { break };
            after = Some(json!([last]));
            stale.extend(ids.into_iter().filter(|id| !seen.contains(id)));
        }
        let mut pruned = 0;
        for id in stale {
            let Ok(resource_id) = ResourceId::parse(&id) else {
                continue;
            };
            match store.read(ty, &resource_id).await? {
                Some(newest) => {
                    if newest.is_deleted() {
                        pruned += 1;
                    }
                    self.apply_with(&[newest], VersionType::ExternalGte).await?;
                }
                None => {
                    pruned += 1;
                    self.remove(ty, &id).await?;
                }
            }
        }
        self.refresh().await?;
        Ok(pruned)
    }

    /// One page of the ids of live documents of `ty`, in id order after `after`.
    async fn live_ids(&self, ty: ResourceType, after: Option<Value>) -> Result<Vec<String>> {
        let index = self.client.index(ty);
        let mut body = json!({
            "size": REINDEX_PAGE,
            "query": {"term": {"deleted": false}},
            "sort": [{"id": "asc"}],
            "_source": ["id"],
        });
        if let Some(after) = after {
            body["search_after"] = after;
        }
        let response = self
            .client
            .os
            .search(SearchParts::Index(&[&index]))
            .body(body)
            .send()
            .await;
        let answer = read(response, "listing documents").await?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        Ok(hits
            .iter()
            .filter_map(|h| h["_source"]["id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Removes the document of a resource the store never had.
    async fn remove(&self, ty: ResourceType, id: &str) -> Result<()> {
        let mut ops = BulkOperations::new();
        ops.push(BulkOperation::<()>::delete(id).index(self.client.index(ty)))
            .map_err(|e| Error::internal("cannot encode a bulk deletion", e))?;
        let response = self
            .client
            .os
            .bulk(BulkParts::None)
            .body(vec![ops])
            .send()
            .await;
        read(response, "removing a document").await.map(|_| ())
    }

    /// How many live documents the index of `ty` holds.
    async fn count_live(&self, ty: ResourceType) -> Result<u64> {
        let index = self.client.index(ty);
        let response = self
            .client
            .os
            .count(CountParts::Index(&[&index]))
            .ignore_unavailable(true)
            .body(json!({"query": {"term": {"deleted": false}}}))
            .send()
            .await;
        let answer = read(response, "counting documents").await?;
        Ok(answer["count"].as_u64().unwrap_or_default())
    }
}

/// The operations of one `_bulk` request.
#[derive(Default)]
struct Batch {
    ops: BulkOperations,
    /// Per operation, whether it writes a tombstone.
    deletions: Vec<bool>,
    docs: usize,
    bytes: usize,
}

impl Batch {
    fn push(
        &mut self,
        client: &OpenSearchClient,
        stored: &StoredResource,
        version_type: VersionType,
    ) -> Result<()> {
        let doc = document(stored)?;
        self.bytes += stored.body.as_ref().map_or(0, String::len) * 2 + 256;
        let version = i64::try_from(stored.version)
            .map_err(|e| Error::internal("version out of range", e))?;
        let op = BulkOperation::index(doc)
            .id(stored.id.as_str())
            .index(client.index(stored.resource_type))
            .version(version)
            .version_type(version_type);
        self.ops
            .push(op)
            .map_err(|e| Error::internal("cannot encode a bulk operation", e))?;
        self.deletions.push(stored.is_deleted());
        self.docs += 1;
        Ok(())
    }
}
