//! The shared ResourceStore conformance suite on the SQLite backend.

use std::sync::Arc;

use hearth_interface::conformance;
use hearth_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    conformance::run_all(Arc::new(store)).await;
}
