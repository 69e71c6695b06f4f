//! Read-after-write search on the AWS backend: a [`ResourceStore`] decorator that hands
//! every version a write stored to the OpenSearch indexer before answering, so the next
//! search (and a conditional operation's search) sees it.
//!
//! The DynamoDB stream indexer stays the safety net: if indexing here fails, the write is
//! still acknowledged (it is durable) and the stream indexes the version a moment later.
//! Indexing the same version twice is harmless, because documents carry the resource
//! version as their external version.

use std::sync::Arc;

use async_trait::async_trait;
use hearth_interface::Result;
use hearth_interface::id::{ResourceId, ResourceType};
use hearth_interface::store::{
    BulkLoad, HistoryQuery, Page, ResourceStore, ScanQuery, StoredResource, Write, WriteOutcome,
    WriteResult,
};
use hearth_search_opensearch::OpenSearchIndexer;

/// A store whose acknowledged writes are searchable at once.
#[derive(Debug)]
pub struct IndexingStore {
    inner: Arc<dyn ResourceStore>,
    indexer: OpenSearchIndexer,
}

impl IndexingStore {
    /// Wraps `inner`; `indexer` should wait for the refresh
    /// ([`OpenSearchIndexer::with_wait_for_refresh`]) for searches to see the writes.
    pub fn new(inner: Arc<dyn ResourceStore>, indexer: OpenSearchIndexer) -> Self {
        Self { inner, indexer }
    }

    async fn index<'a>(&self, results: impl IntoIterator<Item = &'a WriteResult>) {
        let versions: Vec<StoredResource> = results
            .into_iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    WriteOutcome::Created | WriteOutcome::Updated | WriteOutcome::Deleted
                )
            })
            .filter_map(|r| r.stored.clone())
            .collect();
        if versions.is_empty() {
            return;
        }
        if let Err(e) = self.indexer.apply(&versions).await {
            tracing::warn!(error = %e, count = versions.len(),
                "indexing written versions failed; the stream indexer will index them");
        }
    }
}

#[async_trait]
impl ResourceStore for IndexingStore {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn read(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> Result<Option<StoredResource>> {
        self.inner.read(resource_type, id).await
    }

    async fn vread(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
        version: u64,
    ) -> Result<Option<StoredResource>> {
        self.inner.vread(resource_type, id, version).await
    }

    async fn write(&self, write: Write) -> Result<WriteResult> {
        let result = self.inner.write(write).await?;
        self.index([&result]).await;
        Ok(result)
    }

    async fn write_batch(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteResult>>> {
        let results = self.inner.write_batch(writes).await?;
        self.index(results.iter().filter_map(|r| r.as_ref().ok()))
            .await;
        Ok(results)
    }

    async fn transaction(&self, writes: Vec<Write>) -> Result<Vec<WriteResult>> {
        let results = self.inner.transaction(writes).await?;
        self.index(&results).await;
        Ok(results)
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Page> {
        self.inner.history(query).await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Page> {
        self.inner.scan(query).await
    }

    async fn bulk_load(&self, phase: BulkLoad) -> Result<()> {
        self.inner.bulk_load(phase).await
    }
}
