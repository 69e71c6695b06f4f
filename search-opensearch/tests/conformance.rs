//! The shared SearchEngine conformance suite on OpenSearch (osmem-server): resources are
//! stored in SQLite (the DynamoDB store is another crate) and every write is fed to the
//! indexer, as the DynamoDB stream handler does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use hearth_interface::conformance::search::{MakeVisible, SearchBackend, run_all};
use hearth_interface::store::StoredResource;
use hearth_search_opensearch::{
    OpenSearchClient, OpenSearchConfig, OpenSearchIndexer, OpenSearchSearch,
};
use hearth_sqlite::SqliteStore;
use hearth_testkit::{OsMem, unique_name};

/// Indexes the versions written, then refreshes so that searches see them.
struct Indexed(OpenSearchIndexer);

#[async_trait]
impl MakeVisible for Indexed {
    async fn written(&self, versions: &[StoredResource]) {
        let report = self.0.apply(versions).await.expect("index versions");
        assert_eq!(report.stale, 0, "{report:?}");
        self.0.refresh().await.expect("refresh");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opensearch_search_conforms() {
    let url = OsMem::shared().url().to_owned();
    let root = tempfile::tempdir().expect("tempdir");
    let next = AtomicUsize::new(0);
    run_all(|| {
        let dir = root
            .path()
            .join(next.fetch_add(1, Ordering::Relaxed).to_string());
        let config = OpenSearchConfig::new(url.clone()).with_index_prefix(unique_name("conf"));
        async move {
            let store = SqliteStore::open(&dir).expect("open store");
            let client = OpenSearchClient::from_config(&config).expect("client");
            SearchBackend {
                store: Arc::new(store),
                search: Arc::new(OpenSearchSearch::new(client.clone())),
                visible: Arc::new(Indexed(OpenSearchIndexer::new(client))),
            }
        }
    })
    .await;
}
