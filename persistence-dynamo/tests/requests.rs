//! DynamoDB requests and consumed capacity per store operation, measured on moto_server
//! (`ReturnConsumedCapacity = TOTAL`). Prints the table BENCHMARKS.md quotes:
//!
//! ```text
//! cargo test -p hearth-persistence-dynamo --test requests -- --nocapture
//! ```

mod support;

use hearth_interface::store::{
    HistoryQuery, HistoryScope, Precondition, ResourceStore, ScanQuery, Write,
};
use hearth_interface::{ResourceId, ResourceType};
use hearth_persistence_dynamo::metrics::{Metrics, MetricsSnapshot};
use hearth_persistence_dynamo::{DynamoStore, create_tables};
use hearth_testkit::unique_name;
use serde_json::{Value, json};

/// Resources imported by the measured batch. moto deep-copies the whole table (and its
/// stream) for every `TransactWriteItems`, so 1,000 take minutes and gigabytes there; the
/// counts are linear in the batch size (100 keys per `BatchGetItem`, 50 writes per
/// `TransactWriteItems`) and are scaled to 1,000.
const IMPORT: usize = 200;
/// `IMPORT` as a fraction of 1,000.
const PER_THOUSAND: f64 = IMPORT as f64 / 1000.0;

fn patient(n: usize, version: usize) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": format!("999-{n:06}")}],
        "active": true,
        "name": [{"use": "official", "family": format!("Family{n}"), "given": ["Given", format!("V{version}")]}],
        "telecom": [{"system": "phone", "value": "555-0100", "use": "home"}],
        "gender": "female",
        "birthDate": "1970-01-01",
        "address": [{"line": ["1 Main Street"], "city": "Springfield", "postalCode": "12345", "country": "US"}]
    })
}

fn write(n: usize, version: usize) -> Write {
    Write::upsert(
        ResourceType::parse("Patient").unwrap(),
        ResourceId::parse(&format!("p{n}")).unwrap(),
        patient(n, version),
        Precondition::None,
    )
}

/// One row per measured operation: (label, what DynamoDB did for it).
struct Table(Vec<(String, MetricsSnapshot)>);

impl Table {
    async fn measure<F, T>(&mut self, store: &DynamoStore, label: &str, per: f64, f: F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        let before = store.metrics().snapshot();
        let out = f.await;
        let mut diff = Metrics::difference(&before, &store.metrics().snapshot());
        for stats in diff.values_mut() {
            stats.read_units /= per;
            stats.write_units /= per;
            stats.requests = (stats.requests as f64 / per).round() as u64;
        }
        self.0.push((label.to_owned(), diff));
        out
    }

    fn print(&self) {
        println!("\n| operation | requests | RCU | WCU |\n|---|---|---|---|");
        for (label, diff) in &self.0 {
            let requests: Vec<String> = diff
                .iter()
                .map(|(op, s)| format!("{} {op}", s.requests))
                .collect();
            let rcu: f64 = diff.values().map(|s| s.read_units).sum();
            let wcu: f64 = diff.values().map(|s| s.write_units).sum();
            println!(
                "| {label} | {} | {rcu:.1} | {wcu:.1} |",
                requests.join(" + ")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_capacity_per_operation() {
    let client = support::client();
    let table = unique_name("hearth-bench");
    create_tables(&client, &table).await.expect("table");
    let store = DynamoStore::connect(client, table).await.expect("connect");
    let patient_type = ResourceType::parse("Patient").unwrap();
    let mut rows = Table(Vec::new());

    rows.measure(&store, "create", 1.0, store.write(write(0, 1)))
        .await
        .expect("create");
    rows.measure(&store, "update", 1.0, store.write(write(0, 2)))
        .await
        .expect("update");
    rows.measure(
        &store,
        "update, unchanged content",
        1.0,
        store.write(write(0, 2)),
    )
    .await
    .expect("unchanged");
    let id = ResourceId::parse("p0").unwrap();
    rows.measure(&store, "read", 1.0, store.read(patient_type, &id))
        .await
        .expect("read");
    rows.measure(&store, "vread", 1.0, store.vread(patient_type, &id, 1))
        .await
        .expect("vread");
    store.write(write(9999, 1)).await.expect("to delete");
    rows.measure(
        &store,
        "delete",
        1.0,
        store.write(Write::delete(
            patient_type,
            ResourceId::parse("p9999").unwrap(),
            Precondition::None,
        )),
    )
    .await
    .expect("delete");
    for version in 3..=12 {
        store.write(write(0, version)).await.expect("more versions");
    }

    let import: Vec<Write> = (1..=IMPORT).map(|n| write(n, 1)).collect();
    rows.measure(
        &store,
        "import, per 1,000 new resources (write_batch)",
        PER_THOUSAND,
        store.write_batch(import),
    )
    .await
    .expect("import");
    let again: Vec<Write> = (1..=IMPORT).map(|n| write(n, 1)).collect();
    rows.measure(
        &store,
        "import, per 1,000 unchanged resources",
        PER_THOUSAND,
        store.write_batch(again),
    )
    .await
    .expect("re-import");

    let history = |scope| HistoryQuery {
        scope,
        since: None,
        at: None,
        count: 10,
        cursor: None,
    };
    let first = rows
        .measure(
            &store,
            "instance history, first page of 10 (with total)",
            1.0,
            store.history(&history(HistoryScope::Instance(patient_type, id.clone()))),
        )
        .await
        .expect("history");
    let mut next = history(HistoryScope::Instance(patient_type, id.clone()));
    next.cursor = first.next_cursor;
    rows.measure(
        &store,
        "instance history, next page of 10",
        1.0,
        store.history(&next),
    )
    .await
    .expect("history page 2");
    let mut type_page = history(HistoryScope::Type(patient_type));
    type_page.count = 50;
    let first = rows
        .measure(
            &store,
            "type history, first page of 50 (with total)",
            1.0,
            store.history(&type_page),
        )
        .await
        .expect("type history");
    type_page.cursor = first.next_cursor;
    rows.measure(
        &store,
        "type history, next page of 50",
        1.0,
        store.history(&type_page),
    )
    .await
    .expect("type history page 2");
    let mut system_page = history(HistoryScope::System);
    system_page.count = 50;
    let first = rows
        .measure(
            &store,
            "system history, first page of 50 (with total)",
            1.0,
            store.history(&system_page),
        )
        .await
        .expect("system history");
    system_page.cursor = first.next_cursor;
    rows.measure(
        &store,
        "system history, next page of 50",
        1.0,
        store.history(&system_page),
    )
    .await
    .expect("system history page 2");
    let scan = ScanQuery {
        resource_type: patient_type,
        since: None,
        count: 100,
        cursor: None,
    };
    rows.measure(&store, "scan (export), page of 100", 1.0, store.scan(&scan))
        .await
        .expect("scan");

    let small: Vec<Write> = (2001..2011).map(|n| write(n, 1)).collect();
    rows.measure(
        &store,
        "transaction of 10 creates",
        1.0,
        store.transaction(small),
    )
    .await
    .expect("small transaction");
    let large: Vec<Write> = (3001..3101).map(|n| write(n, 1)).collect();
    rows.measure(
        &store,
        "transaction of 100 creates (staged protocol)",
        1.0,
        store.transaction(large),
    )
    .await
    .expect("large transaction");
    rows.print();
}
