//! The indexer on osmem-server: replayed and out-of-order versions, deletions, index
//! creation, the start-up check and the reindex with its drift report.

use hearth_interface::search::{Criterion, SearchEngine, SearchQuery, SearchScope, TotalMode};
use hearth_interface::store::{Precondition, ResourceStore, StoredResource, Write};
use hearth_interface::{ResourceId, ResourceType};
use hearth_search_opensearch::{
    OpenSearchClient, OpenSearchConfig, OpenSearchIndexer, OpenSearchSearch,
};
use hearth_sqlite::SqliteStore;
use hearth_testkit::{OsMem, unique_name};
use serde_json::{Value, json};

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    client: OpenSearchClient,
    indexer: OpenSearchIndexer,
    search: OpenSearchSearch,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let config = OpenSearchConfig::new(OsMem::shared().url()).with_index_prefix(unique_name("idx"));
    let client = OpenSearchClient::from_config(&config).expect("client");
    Fixture {
        _dir: dir,
        store,
        indexer: OpenSearchIndexer::new(client.clone()).with_wait_for_refresh(true),
        search: OpenSearchSearch::new(client.clone()),
        client,
    }
}

fn patient() -> ResourceType {
    ResourceType::parse("Patient").expect("type")
}

async fn put(store: &SqliteStore, id: &str, family: &str) -> StoredResource {
    let write = Write::upsert(
        patient(),
        ResourceId::parse(id).expect("id"),
        json!({"resourceType": "Patient", "name": [{"family": family}]}),
        Precondition::None,
    );
    store
        .write(write)
        .await
        .expect("write")
        .stored
        .expect("stored")
}

async fn delete(store: &SqliteStore, id: &str) -> StoredResource {
    let write = Write::delete(
        patient(),
        ResourceId::parse(id).expect("id"),
        Precondition::None,
    );
    store
        .write(write)
        .await
        .expect("delete")
        .stored
        .expect("stored")
}

/// The `(id, version)` of the Patients matching `criteria`.
async fn found(search: &OpenSearchSearch, criteria: &[(&str, &str)]) -> Vec<(String, u64)> {
    let query = SearchQuery {
        criteria: criteria
            .iter()
            .map(|(k, v)| Criterion::parse(k, v))
            .collect(),
        count: 100,
        cursor: None,
        total: TotalMode::Accurate,
        sort: Vec::new(),
    };
    let page = search
        .search(&SearchScope::Type(patient()), &query)
        .await
        .expect("search");
    page.matches
        .iter()
        .map(|m| (m.id.to_string(), m.version))
        .collect()
}

#[tokio::test]
async fn replayed_and_out_of_order_versions_never_replace_newer_ones() {
    let f = fixture();
    let v1 = put(&f.store, "a", "First").await;
    let v2 = put(&f.store, "a", "Second").await;
    let report = f
        .indexer
        .apply(&[v2.clone(), v1.clone()])
        .await
        .expect("apply");
    assert_eq!((report.indexed, report.stale), (1, 1));
    assert_eq!(
        found(&f.search, &[("family", "second")]).await,
        [("a".into(), 2)]
    );
    assert!(found(&f.search, &[("family", "first")]).await.is_empty());
    let replay = f.indexer.apply(&[v1, v2]).await.expect("replay");
    assert_eq!((replay.indexed, replay.stale), (0, 2));
    assert_eq!(found(&f.search, &[]).await, [("a".into(), 2)]);
}

#[tokio::test]
async fn deletions_cannot_be_undone_by_older_versions() {
    let f = fixture();
    let v1 = put(&f.store, "gone", "Doe").await;
    let v2 = delete(&f.store, "gone").await;
    let kept = put(&f.store, "kept", "Doe").await;
    let report = f
        .indexer
        .apply(&[v1.clone(), v2, kept])
        .await
        .expect("apply");
    assert_eq!((report.indexed, report.deleted), (2, 1));
    assert_eq!(
        found(&f.search, &[("family", "doe")]).await,
        [("kept".into(), 1)]
    );
    let replay = f.indexer.apply(&[v1]).await.expect("replay");
    assert_eq!(replay.stale, 1);
    assert_eq!(
        found(&f.search, &[("family", "doe")]).await,
        [("kept".into(), 1)]
    );
    let v3 = put(&f.store, "gone", "Doe").await;
    f.indexer.apply(&[v3]).await.expect("recreate");
    assert_eq!(
        found(&f.search, &[("family", "doe")]).await,
        [("kept".into(), 1), ("gone".into(), 3)]
    );
}

#[tokio::test]
async fn creating_indexes_twice_is_harmless() {
    let f = fixture();
    f.client.create_indexes().await.expect("create");
    let again = OpenSearchClient::from_config(
        &OpenSearchConfig::new(OsMem::shared().url())
            .with_index_prefix(f.client.alias().trim_end_matches("-all")),
    )
    .expect("client");
    again.create_indexes().await.expect("create again");
    assert!(found(&f.search, &[]).await.is_empty());
}

/// An index made by an earlier version (without the sort and full-text fields) gets them
/// when first used, so that new documents can be indexed and sorted; older documents get
/// their values by a reindex.
#[tokio::test]
async fn indexes_of_an_earlier_version_get_the_new_fields() {
    use opensearch::http::transport::Transport;
    use opensearch::indices::IndicesCreateParts;
    let f = fixture();
    let mut old = hearth_search_opensearch::mapping::index_body(&f.client.alias(), patient());
    let properties = &mut old["mappings"]["properties"];
    properties.as_object_mut().expect("properties").remove("s");
    let params = properties["p"]["properties"].as_object_mut().expect("p");
    params.remove("meta-text");
    params.remove("meta-content");
    let os = opensearch::OpenSearch::new(
        Transport::single_node(OsMem::shared().url()).expect("transport"),
    );
    let index = f.client.index(patient());
    let created = os
        .indices()
        .create(IndicesCreateParts::Index(&index))
        .body(old)
        .send()
        .await
        .expect("create the old index");
    assert!(created.status_code().is_success());

    let versions = vec![
        put(&f.store, "b", "Beta").await,
        put(&f.store, "a", "Alpha").await,
    ];
    let report = f.indexer.apply(&versions).await.expect("index");
    assert_eq!(report.indexed, 2);
    let mut query = SearchQuery {
        criteria: Vec::new(),
        count: 10,
        cursor: None,
        total: TotalMode::Accurate,
        sort: vec![hearth_interface::search::SortKey::parse("family").expect("key")],
    };
    let ids = |page: hearth_interface::search::SearchPage| -> Vec<String> {
        page.matches.iter().map(|m| m.id.to_string()).collect()
    };
    let scope = SearchScope::Type(patient());
    let page = f.search.search(&scope, &query).await.expect("sorted");
    assert_eq!(ids(page), ["a", "b"]);
    query.sort.clear();
    query.criteria = vec![Criterion::parse("_content", "alph")];
    let page = f.search.search(&scope, &query).await.expect("full text");
    assert_eq!(ids(page), ["a"]);
    f.client.create_indexes().await.expect("create again");
}

#[tokio::test]
async fn check_names_an_unreachable_cluster() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = OpenSearchClient::from_config(&OpenSearchConfig::new(&url)).expect("client");
    let err = client.check().await.expect_err("nothing listens there");
    assert!(
        err.message().contains(&url) && err.message().contains("unreachable"),
        "{}",
        err.message()
    );
    fixture().client.check().await.expect("osmem answers");
    let bad = OpenSearchConfig::new(&url).with_index_prefix("Bad_Prefix");
    assert!(OpenSearchClient::from_config(&bad).is_err());
}

#[tokio::test]
async fn signed_requests_reach_the_cluster() {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let aws = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .build();
    let config =
        OpenSearchConfig::new(OsMem::shared().url()).with_index_prefix(unique_name("signed"));
    let client = OpenSearchClient::from_config_with_aws(&config, &aws).expect("client");
    client.check().await.expect("check");
    client.create_indexes().await.expect("create");
    let unsigned = aws_types::SdkConfig::builder().build();
    let err = OpenSearchClient::from_config_with_aws(&config, &unsigned).expect_err("no creds");
    assert!(err.message().contains("cannot sign"), "{}", err.message());
}

#[tokio::test]
async fn reindex_rebuilds_the_index_and_reports_drift() {
    let f = fixture();
    let mut indexed = Vec::new();
    for i in 0..30 {
        let stored = put(&f.store, &format!("p{i}"), "Reindexed").await;
        if i < 20 {
            indexed.push(stored);
        }
    }
    // p0 is deleted in the store but the index missed it; a document exists for a
    // resource the store never had.
    let ghost = StoredResource {
        id: ResourceId::parse("ghost").expect("id"),
        ..indexed[0].clone()
    };
    indexed.push(ghost);
    f.indexer.apply(&indexed).await.expect("apply");
    delete(&f.store, "p0").await;
    let observation = Write::upsert(
        ResourceType::parse("Observation").expect("type"),
        ResourceId::parse("o").expect("id"),
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        Precondition::None,
    );
    f.store.write(observation).await.expect("write");

    let mut steps = Vec::new();
    let types = [patient(), ResourceType::parse("Observation").expect("type")];
    let report = f
        .indexer
        .reindex(&f.store, &types, &mut |p| steps.push(p))
        .await
        .expect("reindex");
    let by_type: Vec<(&str, u64, u64, u64, u64)> = report
        .types
        .iter()
        .map(|t| {
            let counts = (t.in_store, t.in_index_before, t.in_index_after, t.pruned);
            (
                t.resource_type.as_str(),
                counts.0,
                counts.1,
                counts.2,
                counts.3,
            )
        })
        .collect();
    assert_eq!(
        by_type,
        [("Patient", 29, 21, 29, 2), ("Observation", 1, 0, 1, 0)]
    );
    assert_eq!(report.drifted().count(), 2);
    assert_eq!(report.in_store(), 30);
    let last = steps.last().expect("progress");
    assert_eq!((last.type_index, last.type_count, last.total), (1, 2, 30));
    assert_eq!(found(&f.search, &[("family", "reindexed")]).await.len(), 29);

    let again = f
        .indexer
        .reindex(&f.store, &types, &mut |_| {})
        .await
        .expect("reindex again");
    assert_eq!(again.drifted().count(), 0, "{again:?}");
}

/// Indexing throughput: stream-sized batches (100 records, a DynamoDB stream batch)
/// through `_bulk`, then a reindex of the same resources from the store (run with
/// `--ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn indexing_throughput() {
    let f = fixture();
    let total = 10_000;
    let observation_type = ResourceType::parse("Observation").expect("type");
    let writes: Vec<Write> = (0..total)
        .map(|i| {
            Write::upsert(
                observation_type,
                ResourceId::parse(&format!("o{i}")).expect("id"),
                observation(i),
                Precondition::None,
            )
        })
        .collect();
    let mut versions = Vec::with_capacity(total);
    for result in f.store.write_batch(writes).await.expect("batch") {
        versions.extend(result.expect("write").stored);
    }
    let indexer = OpenSearchIndexer::new(f.client.clone());
    let started = std::time::Instant::now();
    for records in versions.chunks(100) {
        let report = indexer.apply(records).await.expect("apply");
        assert_eq!(report.indexed, records.len());
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "stream indexing: {total} Observations in {elapsed:.2}s = {:.0} records/s",
        total as f64 / elapsed
    );
    let started = std::time::Instant::now();
    let report = indexer
        .reindex(&f.store, &[observation_type], &mut |_| {})
        .await
        .expect("reindex");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.drifted().count(), 0);
    println!(
        "reindex: {total} Observations in {elapsed:.2}s = {:.0} resources/s",
        total as f64 / elapsed
    );
}

fn observation(i: usize) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": format!("Patient/p{}", i % 1000)},
        "effectiveDateTime": "2024-05-01T10:00:00Z",
        "valueQuantity": {"value": 60 + i % 40, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}
    })
}
