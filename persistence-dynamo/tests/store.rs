//! DynamoDB-specific behaviour of the store on moto_server: contention, batches, large
//! transactions, table creation and checks.

mod support;

use std::sync::Arc;

use hearth_interface::store::{
    HistoryQuery, HistoryScope, Precondition, ResourceStore, ScanQuery, Write, WriteOutcome,
};
use hearth_interface::{IssueKind, ResourceId, ResourceType};
use hearth_persistence_dynamo::{DynamoStore, check, create_tables};
use hearth_testkit::unique_name;
use serde_json::{Value, json};

async fn fresh_store() -> DynamoStore {
    let client = support::client();
    let table = unique_name("hearth");
    create_tables(&client, &table).await.expect("create table");
    DynamoStore::connect(client, table).await.expect("connect")
}

fn ty(name: &str) -> ResourceType {
    ResourceType::parse(name).expect("type")
}

fn id(s: &str) -> ResourceId {
    ResourceId::parse(s).expect("id")
}

fn patient(i: &str, family: &str, precondition: Precondition) -> Write {
    Write::upsert(
        ty("Patient"),
        id(i),
        json!({"resourceType": "Patient", "name": [{"family": family}]}),
        precondition,
    )
}

fn body(stored: &hearth_interface::store::StoredResource) -> Value {
    serde_json::from_str(stored.body.as_deref().expect("body")).expect("json")
}

async fn instance_history(store: &DynamoStore, i: &str) -> Vec<u64> {
    let query = HistoryQuery {
        scope: HistoryScope::Instance(ty("Patient"), id(i)),
        since: None,
        at: None,
        count: 1000,
        cursor: None,
    };
    let page = store.history(&query).await.expect("history");
    page.entries.iter().map(|e| e.version).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_writing_one_resource_lose_no_version() {
    let store = Arc::new(fresh_store().await);
    store
        .write(patient("hammer", "seed", Precondition::None))
        .await
        .expect("seed");
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..5 {
                    let family = format!("t{task}-{n}");
                    let result = store
                        .write(patient("hammer", &family, Precondition::None))
                        .await
                        .expect("unconditional writes retry until they land");
                    assert_eq!(result.outcome, WriteOutcome::Updated);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let versions = instance_history(&store, "hammer").await;
    assert_eq!(versions, (1..=81).rev().collect::<Vec<_>>(), "contiguous");
    let query = HistoryQuery {
        scope: HistoryScope::Instance(ty("Patient"), id("hammer")),
        since: None,
        at: None,
        count: 100,
        cursor: None,
    };
    let page = store.history(&query).await.expect("history");
    let mut families: Vec<String> = page
        .entries
        .iter()
        .map(|e| body(e)["name"][0]["family"].as_str().unwrap().to_owned())
        .collect();
    families.sort();
    families.dedup();
    assert_eq!(families.len(), 81, "every write kept its own version");
    let stamps: Vec<_> = page.entries.iter().map(|e| e.last_updated).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] > w[1]),
        "lastUpdated strictly grows with the version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_write_independently_in_order_with_duplicates() {
    let store = fresh_store().await;
    store
        .write(patient("taken", "x", Precondition::None))
        .await
        .expect("seed");
    let mut writes: Vec<Write> = (0..130)
        .map(|n| patient(&format!("b{n}"), "A", Precondition::None))
        .collect();
    writes.push(patient("taken", "y", Precondition::Absent));
    writes.push(patient("b7", "again", Precondition::None));
    writes.push(patient("b8", "A", Precondition::None));
    let results = store.write_batch(writes).await.expect("batch");
    assert_eq!(results.len(), 133);
    assert!(
        results[..130]
            .iter()
            .all(|r| r.as_ref().unwrap().outcome == WriteOutcome::Created)
    );
    assert_eq!(
        results[130].as_ref().unwrap_err().kind(),
        IssueKind::Conflict
    );
    assert_eq!(
        results[131].as_ref().unwrap().outcome,
        WriteOutcome::Updated
    );
    assert_eq!(
        results[132].as_ref().unwrap().outcome,
        WriteOutcome::Unchanged
    );
    assert_eq!(instance_history(&store, "b7").await, vec![2, 1]);
    let mut scan = ScanQuery {
        resource_type: ty("Patient"),
        since: None,
        count: 50,
        cursor: None,
    };
    let mut seen = 0;
    loop {
        let page = store.scan(&scan).await.expect("scan");
        seen += page.entries.len();
        match page.next_cursor {
            Some(c) => scan.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, 131);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transactions_are_all_or_nothing() {
    let store = fresh_store().await;
    for n in 0..10 {
        store
            .write(patient(&format!("old{n}"), "before", Precondition::None))
            .await
            .expect("seed");
    }
    // 130 writes need 260 items: past TransactWriteItems' 100, so the staged protocol runs.
    let mut writes: Vec<Write> = (0..120)
        .map(|n| patient(&format!("new{n}"), "tx", Precondition::Absent))
        .collect();
    writes.extend((0..10).map(|n| patient(&format!("old{n}"), "tx", Precondition::VersionIs(1))));
    let mut failing = writes.clone();
    failing[125] = patient("old5", "tx", Precondition::VersionIs(7));
    let error = store
        .transaction(failing)
        .await
        .expect_err("stale If-Match");
    assert_eq!(error.kind(), IssueKind::PreconditionFailed);
    assert!(
        store
            .read(ty("Patient"), &id("new0"))
            .await
            .unwrap()
            .is_none()
    );

    let results = store.transaction(writes).await.expect("commit");
    assert_eq!(results.len(), 130);
    for n in [0, 119] {
        let read = store
            .read(ty("Patient"), &id(&format!("new{n}")))
            .await
            .unwrap()
            .expect("created");
        assert_eq!(read.version, 1);
    }
    let old = store
        .read(ty("Patient"), &id("old3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (old.version, body(&old)["name"][0]["family"].clone()),
        (2, json!("tx"))
    );
    let query = HistoryQuery {
        scope: HistoryScope::Type(ty("Patient")),
        since: None,
        at: None,
        count: 500,
        cursor: None,
    };
    assert_eq!(store.history(&query).await.unwrap().total, Some(140));
    assert_eq!(store.recover().await.unwrap(), 0, "nothing left to recover");

    // A large transaction whose precondition is checked before anything is written.
    let conflicting: Vec<Write> = (0..60)
        .map(|n| patient(&format!("new{n}"), "again", Precondition::Absent))
        .collect();
    let error = store.transaction(conflicting).await.expect_err("exists");
    assert_eq!(error.kind(), IssueKind::Conflict);
}

#[tokio::test]
async fn tables_are_created_idempotently_and_checked() {
    let client = support::client();
    let table = unique_name("hearth");
    let missing = check(&client, &table).await.expect_err("no table yet");
    assert_eq!(missing.kind(), IssueKind::Invalid);
    assert!(
        missing.message().contains("does not exist"),
        "{}",
        missing.message()
    );
    assert!(missing.message().contains("hearth init-aws"));
    let refused = DynamoStore::connect(client.clone(), &table).await;
    assert!(refused.is_err(), "connect checks the table");
    create_tables(&client, &table).await.expect("create");
    create_tables(&client, &table).await.expect("create again");
    check(&client, &table).await.expect("complete table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_and_system_history_answer_at_and_page() {
    let store = fresh_store().await;
    let org = |i: &str, name: &str| {
        Write::upsert(
            ty("Organization"),
            id(i),
            json!({"resourceType": "Organization", "name": name}),
            Precondition::None,
        )
    };
    let stamp = |r: hearth_interface::store::WriteResult| r.stored.expect("version").last_updated;
    let t1 = stamp(store.write(org("o1", "a")).await.unwrap());
    let t2 = stamp(store.write(org("o2", "a")).await.unwrap());
    let t3 = stamp(store.write(org("o1", "b")).await.unwrap());
    let t4 = stamp(
        store
            .write(Write::delete(
                ty("Organization"),
                id("o2"),
                Precondition::None,
            ))
            .await
            .unwrap(),
    );
    store.write(org("o3", "a")).await.unwrap();
    let versions = |page: &hearth_interface::store::Page| -> Vec<(String, u64)> {
        page.entries
            .iter()
            .map(|e| (e.id.to_string(), e.version))
            .collect()
    };
    for scope in [HistoryScope::Type(ty("Organization")), HistoryScope::System] {
        let mut query = HistoryQuery {
            scope: scope.clone(),
            since: None,
            at: Some((t2, t2)),
            count: 10,
            cursor: None,
        };
        let page = store.history(&query).await.unwrap();
        assert_eq!(versions(&page), vec![("o2".into(), 1), ("o1".into(), 1)]);
        assert!(t1 < t2);
        // At t3 o1's first version was replaced, o2's first version was still current.
        query.at = Some((t3, t4));
        query.count = 2;
        let first = store.history(&query).await.unwrap();
        assert_eq!(first.total, Some(3));
        assert_eq!(versions(&first), vec![("o2".into(), 2), ("o1".into(), 2)]);
        query.cursor = first.next_cursor;
        let second = store.history(&query).await.unwrap();
        assert_eq!(versions(&second), vec![("o2".into(), 1)]);
        assert!(second.next_cursor.is_none());
        let since = HistoryQuery {
            scope,
            since: Some(t3),
            at: None,
            count: 2,
            cursor: None,
        };
        let page = store.history(&since).await.unwrap();
        assert_eq!(page.total, Some(3));
        assert_eq!(versions(&page), vec![("o3".into(), 1), ("o2".into(), 2)]);
    }
}

#[tokio::test]
async fn unchanged_entries_of_a_transaction_keep_their_precondition() {
    let store = fresh_store().await;
    store
        .write(patient("same", "S", Precondition::None))
        .await
        .unwrap();
    let results = store
        .transaction(vec![
            patient("fresh", "F", Precondition::Absent),
            patient("same", "S", Precondition::BasedOn(1)),
        ])
        .await
        .expect("commit with a condition check");
    assert_eq!(results[0].outcome, WriteOutcome::Created);
    assert_eq!(results[1].outcome, WriteOutcome::Unchanged);
    let stale = store
        .transaction(vec![
            patient("other", "O", Precondition::Absent),
            patient("same", "S", Precondition::BasedOn(2)),
        ])
        .await
        .expect_err("stale read");
    assert_eq!(stale.kind(), IssueKind::Conflict);
    assert!(
        store
            .read(ty("Patient"), &id("other"))
            .await
            .unwrap()
            .is_none()
    );
}
