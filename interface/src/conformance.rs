//! The [`ResourceStore`] conformance suite: one `pub async fn` per behaviour, run by every
//! backend's tests against a fresh, empty store (`features = ["conformance"]`).
//!
//! The functions panic with a message naming the broken behaviour, like assertions do.

pub mod jobs;

pub mod search;
pub mod search_sort;
pub mod search_text;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::instant::Instant;
use crate::store::{
    ChangeKind, HistoryQuery, HistoryScope, Precondition, ResourceStore, ScanQuery, Write,
    WriteOutcome,
};
use crate::{IssueKind, ResourceId, ResourceType};

fn ty(name: &str) -> ResourceType {
    ResourceType::parse(name).expect("known type")
}

fn id(s: &str) -> ResourceId {
    ResourceId::parse(s).expect("valid id")
}

fn upsert(t: &str, i: &str, body: Value, precondition: Precondition) -> Write {
    Write::upsert(ty(t), id(i), body, precondition)
}

fn delete(t: &str, i: &str) -> Write {
    Write::delete(ty(t), id(i), Precondition::None)
}

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family}]})
}

fn body(stored: &crate::store::StoredResource) -> Value {
    serde_json::from_str(stored.body.as_deref().expect("a body")).expect("stored JSON")
}

/// Runs every test of the suite.
pub async fn run_all(store: Arc<dyn ResourceStore>) {
    crud_roundtrip(store.as_ref()).await;
    preconditions(store.as_ref()).await;
    unchanged_content_writes_no_version(store.as_ref()).await;
    history_pages_and_filters(store.as_ref()).await;
    scan_reads_current_resources_by_type_and_since(store.as_ref()).await;
    batch_writes_are_independent(store.as_ref()).await;
    transactions_are_all_or_nothing(store.as_ref()).await;
    concurrent_updates_lose_no_version(store).await;
}

/// Create, read, update, vread, delete, and metadata managed by the store.
pub async fn crud_roundtrip(store: &dyn ResourceStore) {
    let created = store
        .write(upsert("Patient", "crud", patient("A"), Precondition::None))
        .await
        .expect("create");
    assert_eq!(created.outcome, WriteOutcome::Created);
    let v1 = created.stored.expect("version");
    assert_eq!((v1.version, v1.change), (1, ChangeKind::Create));
    let stored = body(&v1);
    assert_eq!(stored["id"], "crud");
    assert_eq!(stored["meta"]["versionId"], "1");
    assert_eq!(stored["meta"]["lastUpdated"], v1.last_updated.to_fhir());

    let updated = store
        .write(upsert("Patient", "crud", patient("B"), Precondition::None))
        .await
        .expect("update");
    assert_eq!(updated.outcome, WriteOutcome::Updated);
    let v2 = updated.stored.expect("version");
    assert_eq!(v2.version, 2);
    assert!(v2.last_updated > v1.last_updated, "lastUpdated grows");

    let read = store
        .read(ty("Patient"), &id("crud"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, v2);
    let old = store
        .vread(ty("Patient"), &id("crud"), 1)
        .await
        .expect("vread")
        .expect("v1");
    assert_eq!(old, v1);
    assert!(
        store
            .vread(ty("Patient"), &id("crud"), 3)
            .await
            .expect("vread")
            .is_none()
    );
    assert!(
        store
            .read(ty("Patient"), &id("nobody"))
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .read(ty("Observation"), &id("crud"))
            .await
            .expect("read")
            .is_none(),
        "ids are per type"
    );

    let deleted = store
        .write(delete("Patient", "crud"))
        .await
        .expect("delete");
    assert_eq!(deleted.outcome, WriteOutcome::Deleted);
    let tomb = store
        .read(ty("Patient"), &id("crud"))
        .await
        .expect("read")
        .expect("deletion version");
    assert!(tomb.is_deleted() && tomb.body.is_none() && tomb.version == 3);
    let again = store
        .write(delete("Patient", "crud"))
        .await
        .expect("delete again");
    assert_eq!(again.outcome, WriteOutcome::NothingToDelete);
    let never = store
        .write(delete("Patient", "never"))
        .await
        .expect("delete missing");
    assert_eq!(
        (never.outcome, never.stored),
        (WriteOutcome::NothingToDelete, None)
    );

    let revived = store
        .write(upsert("Patient", "crud", patient("C"), Precondition::None))
        .await
        .expect("revive");
    assert_eq!(revived.outcome, WriteOutcome::Created);
    assert_eq!(revived.stored.expect("version").version, 4);
}

/// `VersionIs`, `BasedOn` and `Absent` are checked atomically with the write.
pub async fn preconditions(store: &dyn ResourceStore) {
    store
        .write(upsert("Patient", "pre", patient("A"), Precondition::Absent))
        .await
        .expect("create absent");
    let taken = store
        .write(upsert("Patient", "pre", patient("B"), Precondition::Absent))
        .await;
    assert_eq!(
        taken.expect_err("absent on a live id").kind(),
        IssueKind::Conflict
    );
    let stale = store
        .write(upsert(
            "Patient",
            "pre",
            patient("B"),
            Precondition::VersionIs(9),
        ))
        .await;
    assert_eq!(
        stale.expect_err("stale If-Match").kind(),
        IssueKind::PreconditionFailed
    );
    let raced = store
        .write(upsert(
            "Patient",
            "pre",
            patient("B"),
            Precondition::BasedOn(9),
        ))
        .await;
    assert_eq!(raced.expect_err("lost race").kind(), IssueKind::Conflict);
    let ok = store
        .write(upsert(
            "Patient",
            "pre",
            patient("B"),
            Precondition::VersionIs(1),
        ))
        .await
        .expect("matching If-Match");
    assert_eq!(ok.stored.expect("version").version, 2);
    let unchanged = store
        .read(ty("Patient"), &id("pre"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        body(&unchanged)["name"][0]["family"],
        "B",
        "failed writes wrote nothing"
    );
}

/// Content equal to the current version (ignoring server metadata) writes nothing.
pub async fn unchanged_content_writes_no_version(store: &dyn ResourceStore) {
    store
        .write(upsert("Patient", "same", patient("S"), Precondition::None))
        .await
        .expect("create");
    let mut with_meta = patient("S");
    with_meta["meta"] = json!({"versionId": "77", "lastUpdated": "2001-01-01T00:00:00Z"});
    with_meta["id"] = json!("same");
    let again = store
        .write(upsert("Patient", "same", with_meta, Precondition::None))
        .await
        .expect("rewrite");
    assert_eq!(again.outcome, WriteOutcome::Unchanged);
    assert_eq!(again.stored.expect("current").version, 1);
}

/// History: newest first, contiguous paging by cursor, totals, `_since` and `_at`.
pub async fn history_pages_and_filters(store: &dyn ResourceStore) {
    let before = Instant::now();
    for n in 0..5 {
        store
            .write(upsert(
                "Organization",
                "hist",
                json!({"resourceType": "Organization", "name": format!("v{n}")}),
                Precondition::None,
            ))
            .await
            .expect("write");
    }
    store
        .write(delete("Organization", "hist"))
        .await
        .expect("delete");
    let scope = HistoryScope::Instance(ty("Organization"), id("hist"));
    let mut query = HistoryQuery {
        scope: scope.clone(),
        since: None,
        at: None,
        count: 4,
        cursor: None,
    };
    let first = store.history(&query).await.expect("history");
    assert_eq!(first.total, Some(6));
    let versions: Vec<u64> = first.entries.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![6, 5, 4, 3]);
    assert_eq!(first.entries[0].change, ChangeKind::Delete);
    query.cursor = first.next_cursor.clone();
    let second = store.history(&query).await.expect("page 2");
    let versions: Vec<u64> = second.entries.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![2, 1]);
    assert!(second.next_cursor.is_none());

    let v3 = store
        .vread(ty("Organization"), &id("hist"), 3)
        .await
        .expect("vread")
        .expect("v3");
    let since = HistoryQuery {
        scope: scope.clone(),
        since: Some(v3.last_updated),
        at: None,
        count: 10,
        cursor: None,
    };
    assert_eq!(store.history(&since).await.expect("since").total, Some(4));
    let at = HistoryQuery {
        scope: scope.clone(),
        since: None,
        at: Some((v3.last_updated, v3.last_updated)),
        count: 10,
        cursor: None,
    };
    let at_page = store.history(&at).await.expect("at");
    assert_eq!(
        at_page
            .entries
            .iter()
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        vec![3]
    );
    let before_all = HistoryQuery {
        scope,
        since: None,
        at: Some((Instant(0), Instant(before.0 - 1))),
        count: 10,
        cursor: None,
    };
    assert_eq!(
        store.history(&before_all).await.expect("at before").total,
        Some(0)
    );

    let type_level = HistoryQuery {
        scope: HistoryScope::Type(ty("Organization")),
        since: Some(before),
        at: None,
        count: 100,
        cursor: None,
    };
    assert_eq!(
        store.history(&type_level).await.expect("type").total,
        Some(6)
    );
    let system = HistoryQuery {
        scope: HistoryScope::System,
        since: Some(before),
        at: None,
        count: 100,
        cursor: None,
    };
    assert!(store.history(&system).await.expect("system").total >= Some(6));
    let bad = HistoryQuery {
        scope: HistoryScope::System,
        since: None,
        at: None,
        count: 1,
        cursor: Some("not a cursor".into()),
    };
    assert_eq!(
        store.history(&bad).await.expect_err("bad cursor").kind(),
        IssueKind::Invalid
    );
}

/// Scans return current, live resources of one type in change order, paged.
pub async fn scan_reads_current_resources_by_type_and_since(store: &dyn ResourceStore) {
    for n in 0..5 {
        store
            .write(upsert(
                "Device",
                &format!("d{n}"),
                json!({"resourceType": "Device"}),
                Precondition::None,
            ))
            .await
            .expect("write");
    }
    let middle = store
        .read(ty("Device"), &id("d2"))
        .await
        .expect("read")
        .expect("d2")
        .last_updated;
    store
        .write(upsert(
            "Device",
            "d0",
            json!({"resourceType": "Device", "status": "active"}),
            Precondition::None,
        ))
        .await
        .expect("update");
    store.write(delete("Device", "d1")).await.expect("delete");
    let mut query = ScanQuery {
        resource_type: ty("Device"),
        since: None,
        count: 2,
        cursor: None,
    };
    let mut seen = Vec::new();
    loop {
        let page = store.scan(&query).await.expect("scan");
        seen.extend(page.entries.iter().map(|e| (e.id.to_string(), e.version)));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<(String, u64)> = [("d2", 1), ("d3", 1), ("d4", 1), ("d0", 2)]
        .iter()
        .map(|(i, v)| (i.to_string(), *v))
        .collect();
    assert_eq!(seen, expected);
    let since = ScanQuery {
        resource_type: ty("Device"),
        since: Some(middle),
        count: 10,
        cursor: None,
    };
    assert_eq!(store.scan(&since).await.expect("since").entries.len(), 4);
}

/// A failing write in a batch does not stop the others.
pub async fn batch_writes_are_independent(store: &dyn ResourceStore) {
    store
        .write(upsert("Patient", "b1", patient("X"), Precondition::None))
        .await
        .expect("seed");
    let results = store
        .write_batch(vec![
            upsert("Patient", "b0", patient("A"), Precondition::None),
            upsert("Patient", "b1", patient("B"), Precondition::Absent),
            upsert("Patient", "b2", patient("C"), Precondition::None),
        ])
        .await
        .expect("batch");
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(
        results[1].as_ref().expect_err("conflict").kind(),
        IssueKind::Conflict
    );
    assert!(
        store
            .read(ty("Patient"), &id("b2"))
            .await
            .expect("read")
            .is_some()
    );
}

/// A transaction writes everything or nothing.
pub async fn transactions_are_all_or_nothing(store: &dyn ResourceStore) {
    store
        .write(upsert("Patient", "t1", patient("X"), Precondition::None))
        .await
        .expect("seed");
    let failed = store
        .transaction(vec![
            upsert("Patient", "t0", patient("A"), Precondition::None),
            upsert("Patient", "t1", patient("B"), Precondition::VersionIs(5)),
        ])
        .await;
    assert_eq!(
        failed.expect_err("precondition").kind(),
        IssueKind::PreconditionFailed
    );
    assert!(
        store
            .read(ty("Patient"), &id("t0"))
            .await
            .expect("read")
            .is_none(),
        "nothing written"
    );
    let ok = store
        .transaction(vec![
            upsert("Patient", "t0", patient("A"), Precondition::None),
            upsert("Patient", "t1", patient("B"), Precondition::VersionIs(1)),
        ])
        .await
        .expect("transaction");
    assert_eq!(ok.len(), 2);
}

/// Sixteen tasks updating one resource with optimistic locking (read, then write with
/// `BasedOn`, retrying on conflict) lose no update, and versions stay contiguous.
pub async fn concurrent_updates_lose_no_version(store: Arc<dyn ResourceStore>) {
    store
        .write(upsert(
            "Basic",
            "counter",
            json!({"resourceType": "Basic", "code": {"text": "0"}}),
            Precondition::None,
        ))
        .await
        .expect("seed");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    loop {
                        let current = store.read(ty("Basic"), &id("counter")).await.expect("read").expect("exists");
                        let n: u64 = body(&current)["code"]["text"].as_str().and_then(|t| t.parse().ok()).expect("counter");
                        let next = json!({"resourceType": "Basic", "id": "counter", "code": {"text": (n + 1).to_string()}});
                        match store.write(upsert("Basic", "counter", next, Precondition::BasedOn(current.version))).await {
                            Ok(_) => break,
                            Err(e) if e.kind() == IssueKind::Conflict => continue,
                            Err(e) => panic!("unexpected error: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let last = store
        .read(ty("Basic"), &id("counter"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        body(&last)["code"]["text"],
        "80",
        "every increment survived"
    );
    assert_eq!(last.version, 81, "one version per increment");
    let query = HistoryQuery {
        scope: HistoryScope::Instance(ty("Basic"), id("counter")),
        since: None,
        at: None,
        count: 100,
        cursor: None,
    };
    let versions: Vec<u64> = store
        .history(&query)
        .await
        .expect("history")
        .entries
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(
        versions,
        (1..=81).rev().collect::<Vec<_>>(),
        "contiguous versions"
    );
}
