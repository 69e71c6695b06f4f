//! The JobStore conformance suite against DynamoDB (moto_server on loopback).

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use hearth_interface::conformance;
use hearth_persistence_dynamo::DynamoJobStore;
use hearth_testkit::{Moto, unique_name};

async fn client() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(Moto::shared().endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamo_job_store_conforms() {
    let store = DynamoJobStore::new(client().await, unique_name("jobs"));
    store.create_table().await.expect("create table");
    store
        .create_table()
        .await
        .expect("creating the table again is fine");
    store.check().await.expect("the table exists");
    conformance::jobs::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn a_missing_table_fails_the_check_by_name() {
    let table = unique_name("no-jobs");
    let err = DynamoJobStore::new(client().await, &table)
        .check()
        .await
        .expect_err("missing table");
    assert!(err.message().contains(&table), "{}", err.message());
    assert!(
        err.message().contains("does not exist"),
        "{}",
        err.message()
    );
}
