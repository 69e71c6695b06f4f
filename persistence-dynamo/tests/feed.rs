//! The change feed over the table's DynamoDB Stream (moto_server).

mod support;

use hearth_interface::store::{ChangeKind, Precondition, ResourceStore, StoredResource, Write};
use hearth_interface::{ResourceId, ResourceType};
use hearth_persistence_dynamo::{ChangeFeed, DynamoStore, FeedPosition, create_tables, stream_arn};
use hearth_testkit::unique_name;
use serde_json::json;

fn upsert(i: &str, family: &str) -> Write {
    Write::upsert(
        ResourceType::parse("Patient").unwrap(),
        ResourceId::parse(i).unwrap(),
        json!({"resourceType": "Patient", "name": [{"family": family}]}),
        Precondition::None,
    )
}

fn summary(found: &[StoredResource], i: &str) -> Vec<(u64, ChangeKind, bool)> {
    found
        .iter()
        .filter(|r| r.id.as_str() == i)
        .map(|r| (r.version, r.change, r.body.is_some()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_yields_visible_versions_in_order_and_resumes() {
    let client = support::client();
    let table = unique_name("hearth-feed");
    create_tables(&client, &table).await.expect("table");
    let store = DynamoStore::connect(client.clone(), &table)
        .await
        .expect("connect");
    let arn = stream_arn(&client, &table).await.expect("stream");
    let mut feed = ChangeFeed::new(support::streams_client(), &arn, FeedPosition::default());
    assert!(feed.poll().await.expect("empty poll").is_empty());

    store.write(upsert("p1", "A")).await.unwrap();
    store.write(upsert("p1", "B")).await.unwrap();
    store.write(upsert("p1", "B")).await.unwrap(); // unchanged: no version, no record
    store
        .write(Write::delete(
            ResourceType::parse("Patient").unwrap(),
            ResourceId::parse("p1").unwrap(),
            Precondition::None,
        ))
        .await
        .unwrap();
    // A large transaction: staged versions stay out of the feed until the roll-forward.
    let large: Vec<Write> = (0..60).map(|n| upsert(&format!("c{n}"), "T")).collect();
    store.transaction(large).await.expect("large transaction");
    store
        .write_batch(vec![upsert("b1", "X"), upsert("b2", "Y")])
        .await
        .unwrap();

    let found = feed.poll().await.expect("poll");
    assert_eq!(
        summary(&found, "p1"),
        vec![
            (1, ChangeKind::Create, true),
            (2, ChangeKind::Update, true),
            (3, ChangeKind::Delete, false)
        ]
    );
    for n in 0..60 {
        assert_eq!(
            summary(&found, &format!("c{n}")),
            vec![(1, ChangeKind::Create, true)]
        );
    }
    assert_eq!(summary(&found, "b2"), vec![(1, ChangeKind::Create, true)]);
    assert_eq!(found.len(), 3 + 60 + 2);

    // A new feed from the saved position sees only what came after it.
    let saved = FeedPosition::from_json(&feed.position().to_json()).expect("position");
    store.write(upsert("b1", "Z")).await.unwrap();
    let mut resumed = ChangeFeed::new(support::streams_client(), &arn, saved);
    let after = resumed.poll().await.expect("resumed poll");
    assert_eq!(summary(&after, "b1"), vec![(2, ChangeKind::Update, true)]);
    assert_eq!(after.len(), 1);
    assert_eq!(feed.poll().await.expect("first feed goes on").len(), 1);
}
