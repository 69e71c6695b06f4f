//! A store with the shared search suite's Patients and Observations, for the tests of
//! SQLite-specific search features (`_sort`, composites, full text).

use super::*;
use hearth_interface::conformance::search::{observations, patients};
use hearth_interface::store::{Precondition, ResourceStore, Write};
use hearth_interface::{ResourceId, search::TotalMode};
use serde_json::Value;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) store: SqliteStore,
    pub(super) search: SqliteSearch,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    let search = SqliteSearch::new(store.clone());
    Fixture {
        _dir: dir,
        store,
        search,
    }
}

pub(super) async fn put(store: &SqliteStore, resource: Value) {
    let ty = resource["resourceType"].as_str().expect("resourceType");
    let id = resource["id"].as_str().expect("id");
    let write = Write::upsert(
        ResourceType::parse(ty).expect("type"),
        ResourceId::parse(id).expect("id"),
        resource,
        Precondition::None,
    );
    store.write(write).await.expect("write");
}

pub(super) async fn loaded() -> Fixture {
    let f = fixture();
    for resource in patients().into_iter().chain(observations()) {
        put(&f.store, resource).await;
    }
    f
}

pub(super) fn query(criteria: &[(&str, &str)]) -> SearchQuery {
    SearchQuery {
        criteria: criteria
            .iter()
            .map(|(k, v)| Criterion::parse(k, v))
            .collect(),
        count: 100,
        cursor: None,
        total: TotalMode::Accurate,
        sort: Vec::new(),
    }
}

pub(super) async fn run(f: &Fixture, ty: &str, q: &SearchQuery) -> Result<SearchPage> {
    let scope = SearchScope::Type(ResourceType::parse(ty).expect("type"));
    f.search.search(&scope, q).await
}

#[tokio::test]
async fn cursors_name_the_plan_and_the_version_time() {
    let f = loaded().await;
    let mut q = query(&[("gender", "male")]);
    q.count = 1;
    let first = run(&f, "Patient", &q).await.expect("page 1");
    let p2 = first.matches.first().expect("one match");
    assert_eq!(first.next_cursor, Some(format!("n0:{}", p2.last_updated.0)));
}

#[test]
fn supports_composite_and_fulltext_parameters() {
    let params = fixture()
        .search
        .supported_params(ResourceType::parse("Observation").expect("type"));
    let find = |code: &str| params.iter().find(|p| p.code == code);
    assert!(find("code-value-quantity").is_some_and(|p| p.kind == "composite"));
    assert!(find("_text").is_some() && find("_content").is_some());
}
