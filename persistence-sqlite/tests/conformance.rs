//! The shared ResourceStore and SearchEngine conformance suites on the SQLite backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hearth_interface::conformance;
use hearth_interface::conformance::search::{Immediate, SearchBackend};
use hearth_sqlite::{SqliteSearch, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_search_conforms() {
    let root = tempfile::tempdir().expect("tempdir");
    let next = AtomicUsize::new(0);
    conformance::search::run_all(|| {
        let dir = root
            .path()
            .join(next.fetch_add(1, Ordering::Relaxed).to_string());
        async move {
            let store = SqliteStore::open(&dir).expect("open");
            SearchBackend {
                store: Arc::new(store.clone()),
                search: Arc::new(SqliteSearch::new(store)),
                visible: Arc::new(Immediate),
            }
        }
    })
    .await;
}
