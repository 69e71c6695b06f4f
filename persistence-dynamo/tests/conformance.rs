//! The shared ResourceStore conformance suite, on DynamoDB (moto_server).

mod support;

use std::sync::Arc;

use hearth_interface::conformance;
use hearth_interface::store::ResourceStore;
use hearth_persistence_dynamo::{DynamoStore, create_tables};
use hearth_testkit::unique_name;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_shared_suite() {
    let client = support::client();
    let table = unique_name("hearth");
    create_tables(&client, &table).await.expect("create table");
    let store = DynamoStore::connect(client, table).await.expect("connect");
    conformance::run_all(Arc::new(store) as Arc<dyn ResourceStore>).await;
}
