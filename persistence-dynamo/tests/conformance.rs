//! The shared ResourceStore conformance suite, on DynamoDB (moto_server).

mod support;

use std::sync::Arc;

use hearth_interface::conformance;
use hearth_interface::store::ResourceStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_shared_suite() {
    let store: Arc<dyn ResourceStore> = Arc::new(support::fresh_store().await);
    conformance::run_all(store).await;
}
