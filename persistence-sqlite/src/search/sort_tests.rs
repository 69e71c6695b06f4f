//! Broad drivers over a real store (the `_sort` and paging behaviours every engine
//! shares are in `hearth_interface::conformance::search_sort`).

use super::*;
use hearth_interface::ResourceId;
use hearth_interface::conformance::search::query;
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
