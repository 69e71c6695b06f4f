//! Broad drivers over a real store (the `_sort` and paging behaviours every engine
//! shares are in `hearth_interface::conformance::search_sort`).

use super::*;
use hearth_interface::ResourceId;
use hearth_interface::conformance::search::query;
use hearth_interface::search::SortKey;
use hearth_interface::store::{Precondition, ResourceStore, Write};
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    search: SqliteSearch,
}

/// An empty store.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    let search = SqliteSearch::new(store.clone());
    Fixture {
        _dir: dir,
        store,
        search,
    }
}

async fn run(f: &Fixture, ty: &str, q: &SearchQuery) -> Result<SearchPage> {
    f.search
        .search(
            &SearchScope::Type(ResourceType::parse(ty).expect("type")),
            q,
        )
        .await
}

/// A driver matching more than [`BROAD_DRIVER`] rows makes the query walk the versions in
/// order: pages, cursors and totals stay the same as with a narrow driver.
#[tokio::test]
async fn broad_criteria_page_and_count_like_narrow_ones() {
    let f = fixture();
    let n = usize::try_from(BROAD_DRIVER).expect("size") + 1000;
    let writes = (0..n)
        .map(|i| {
            Write::upsert(
                ResourceType::parse("Patient").expect("type"),
                ResourceId::parse(&format!("w{i}")).expect("id"),
                json!({
                    "resourceType": "Patient",
                    "gender": if i % 7 == 0 { "male" } else { "female" },
                    "birthDate": if i % 2 == 0 { "2000-01-01" } else { "1990-01-01" },
                }),
                Precondition::None,
            )
        })
        .collect();
    f.store.write_batch(writes).await.expect("batch");
    let mut q = query(&[("gender", "female"), ("birthdate", "lt1995")]);
    q.count = 2;
    let first = run(&f, "Patient", &q).await.expect("page 1");
    let expected = (0..n).filter(|i| i % 7 != 0 && i % 2 == 1).count();
    assert_eq!(first.total, Some(expected as u64));
    let ids: Vec<String> = first.matches.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, ["w1", "w3"]);
    q.cursor = first.next_cursor;
    let second = run(&f, "Patient", &q).await.expect("page 2");
    let ids: Vec<String> = second.matches.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, ["w5", "w9"]);
    let male = run(&f, "Patient", &query(&[("gender", "male")]))
        .await
        .expect("male");
    assert_eq!(male.total, Some(n.div_ceil(7) as u64));
}

/// Observations with an `effective[x]` each, from `(id, effective)` pairs.
async fn observations(f: &Fixture, effective: &[(&str, serde_json::Value)]) {
    let writes = effective
        .iter()
        .map(|(id, effective)| {
            let mut body = json!({"resourceType": "Observation", "status": "final",
                "code": {"text": "x"}});
            if let (Some(body), Some(effective)) = (body.as_object_mut(), effective.as_object()) {
                body.extend(effective.clone());
            }
            Write::upsert(
                ResourceType::parse("Observation").expect("type"),
                ResourceId::parse(id).expect("id"),
                body,
                Precondition::None,
            )
        })
        .collect();
    f.store.write_batch(writes).await.expect("batch");
}

async fn ids_and_total(f: &Fixture, q: &SearchQuery) -> (Vec<String>, Option<u64>) {
    let page = run(f, "Observation", q).await.expect("search");
    let mut ids: Vec<String> = page.matches.iter().map(|m| m.id.to_string()).collect();
    ids.sort();
    (ids, page.total)
}

/// ANDed date ranges on a single-valued parameter are looked up as one range of rows
/// (short values by their start, wide ones by their own index); once a resource has
/// several values, a match may come from two different values and every filter is
/// checked on its own again. Both give the matches and totals FHIR defines.
#[tokio::test]
async fn anded_date_ranges_match_per_resource() {
    let f = fixture();
    observations(
        &f,
        &[
            (
                "before",
                json!({"effectiveDateTime": "2020-12-31T23:00:00Z"}),
            ),
            (
                "inside",
                json!({"effectiveDateTime": "2021-01-15T10:00:00Z"}),
            ),
            ("day", json!({"effectiveDateTime": "2021-01-31"})),
            (
                "after",
                json!({"effectiveDateTime": "2021-02-01T00:00:00Z"}),
            ),
            ("month", json!({"effectiveDateTime": "2021-01"})),
            ("year", json!({"effectiveDateTime": "2020"})),
            (
                "long",
                json!({"effectivePeriod": {"start": "2019-06-01", "end": "2022-01-01"}}),
            ),
            ("open", json!({"effectivePeriod": {"start": "2020-06-01"}})),
        ],
    )
    .await;
    let q = query(&[("date", "ge2021-01-01"), ("date", "lt2021-02-01")]);
    let expected = ["day", "inside", "long", "month", "open"];
    assert_eq!(
        ids_and_total(&f, &q).await,
        (expected.map(String::from).to_vec(), Some(5))
    );
    let q = query(&[("date", "gt2020-12-31"), ("date", "le2021-01-15")]);
    let (ids, total) = ids_and_total(&f, &q).await;
    assert_eq!(ids, ["inside", "long", "month", "open"]);
    assert_eq!(total, Some(4));

    // Two values, one before and one after the searched month: each filter holds on
    // one of them, so the resource matches.
    observations(
        &f,
        &[(
            "timing",
            json!({"effectiveTiming": {"event": ["2020-03-01T00:00:00Z", "2022-03-01T00:00:00Z"]}}),
        )],
    )
    .await;
    let q = query(&[("date", "ge2021-01-01"), ("date", "lt2021-02-01")]);
    let (ids, total) = ids_and_total(&f, &q).await;
    assert_eq!(ids, ["day", "inside", "long", "month", "open", "timing"]);
    assert_eq!(total, Some(6));
}

/// Totals count resources, not index rows: a resource with several matching values
/// counts once (the unit tests check values passing two lookups of one value).
#[tokio::test]
async fn totals_count_each_resource_once() {
    let f = fixture();
    observations(
        &f,
        &[
            ("high", json!({"valueQuantity": {"value": 150}})),
            ("low", json!({"valueQuantity": {"value": 50}})),
        ],
    )
    .await;
    let (ids, total) = ids_and_total(&f, &query(&[("value-quantity", "gt100")])).await;
    assert_eq!(ids, ["high"]);
    assert_eq!(total, Some(1));
    let codes = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "a", "code": "c"}, {"system": "b", "code": "c"}]}});
    f.store
        .write(Write::upsert(
            ResourceType::parse("Observation").expect("type"),
            ResourceId::parse("two-codings").expect("id"),
            codes,
            Precondition::None,
        ))
        .await
        .expect("write");
    let (ids, total) = ids_and_total(&f, &query(&[("code", "c")])).await;
    assert_eq!(ids, ["two-codings"]);
    assert_eq!(total, Some(1));
}

/// Every id of a sorted search, following `next` cursors two at a time.
async fn sorted_ids(f: &Fixture, criteria: &[(&str, &str)], key: &str) -> Vec<String> {
    let mut q = query(criteria);
    q.count = 2;
    q.sort = vec![SortKey::parse(key).expect("sort key")];
    let mut ids = Vec::new();
    loop {
        let page = run(f, "Observation", &q).await.expect("page");
        ids.extend(page.matches.iter().map(|m| m.id.to_string()));
        match page.next_cursor {
            Some(cursor) => q.cursor = Some(cursor),
            None => return ids,
        }
    }
}

/// A sort on one key walks its value index: a resource with several values sorts by its
/// lowest ascending and its highest descending, once; resources without a value come last
/// by id; pages continue where the previous one stopped, through both parts.
#[tokio::test]
async fn sorts_walk_the_value_index_through_pages() {
    let f = fixture();
    observations(
        &f,
        &[
            ("a", json!({"effectiveDateTime": "2021-01-01"})),
            (
                "b",
                json!({"effectiveTiming": {"event": ["2019-01-01", "2023-01-01", "2020-01-01"]}}),
            ),
            ("c", json!({})),
            ("d", json!({"effectiveDateTime": "2022-06-01"})),
            ("e", json!({})),
            ("f", json!({"effectiveDateTime": "2021-01-01"})),
        ],
    )
    .await;
    assert_eq!(
        sorted_ids(&f, &[], "-date").await,
        ["b", "d", "a", "f", "c", "e"]
    );
    assert_eq!(
        sorted_ids(&f, &[], "date").await,
        ["b", "a", "f", "d", "c", "e"]
    );
    // Narrow criteria sort their matches instead: the same order.
    for criteria in [&[][..], &[("status", "final")][..]] {
        assert_eq!(
            sorted_ids(&f, criteria, "-_lastUpdated").await,
            ["f", "e", "d", "c", "b", "a"]
        );
        assert_eq!(
            sorted_ids(&f, criteria, "-date").await,
            ["b", "d", "a", "f", "c", "e"]
        );
    }
}
