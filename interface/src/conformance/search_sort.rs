//! `_sort` conformance ([`SortKey`] semantics): every parameter type both ways, missing
//! values last, ties by type and id, several keys, system searches, refused keys, and
//! paging through a sorted order in both directions while data changes. Run by
//! [`run_all`](super::search::run_all).

use serde_json::json;

use super::search::{Backend, MakeVisible, loaded, query};
use crate::search::{SearchEngine, SearchPage, SearchQuery, SearchScope, SortKey};
use crate::store::ResourceStore;
use crate::{IssueKind, ResourceType};

/// A query of every resource, in the order of `sort` (`_sort` syntax: `a,-b`).
pub fn sorted(sort: &str) -> SearchQuery {
    let mut q = query(&[]);
    q.sort = sort.split(',').filter_map(SortKey::parse).collect();
    q
}

fn page_ids(page: &SearchPage) -> Vec<String> {
    page.matches.iter().map(|m| m.id.to_string()).collect()
}

async fn order(b: &Backend<'_>, ty: &str, sort: &str) -> Vec<String> {
    page_ids(&b.run(ty, &sorted(sort)).await.expect(sort))
}

/// Pages forwards from `q`, returning the pages.
async fn walk(b: &Backend<'_>, ty: &str, mut q: SearchQuery) -> Vec<SearchPage> {
    let mut pages = Vec::new();
    loop {
        let page = b.run(ty, &q).await.expect("page");
        q.cursor = page.next_cursor.clone();
        pages.push(page);
        if q.cursor.is_none() || pages.len() > 10 {
            return pages;
        }
    }
}

/// Each parameter type ascending and descending: lowest value ascending, highest
/// descending, missing values last both ways, ties by id, several keys.
pub async fn sorts_each_parameter_type_both_ways_with_missing_values_last(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    loaded(&b).await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("Patient", "birthdate", &["p1", "p2", "p3", "p4", "p5"]),
        ("Patient", "-birthdate", &["p5", "p4", "p3", "p2", "p1"]),
        // Several keys; p3 has no gender and comes last both ways.
        (
            "Patient",
            "gender,-birthdate",
            &["p5", "p1", "p4", "p2", "p3"],
        ),
        (
            "Patient",
            "-gender,birthdate",
            &["p2", "p4", "p1", "p5", "p3"],
        ),
        // Several values: the lowest ascending (given names), the highest descending
        // (family names); p1 and p2 tie on "muller" and fall back to the id.
        ("Patient", "name", &["p1", "p2", "p3", "p5", "p4"]),
        ("Patient", "-name", &["p4", "p3", "p1", "p2", "p5"]),
        ("Patient", "-_id", &["p5", "p4", "p3", "p2", "p1"]),
        ("Patient", "_id", &["p1", "p2", "p3", "p4", "p5"]),
        ("Patient", "-_lastUpdated", &["p5", "p4", "p3", "p2", "p1"]),
        // Only p1 has a general practitioner: the others tie (missing) and follow by id.
        (
            "Patient",
            "-general-practitioner",
            &["p1", "p2", "p3", "p4", "p5"],
        ),
        ("Observation", "-value-quantity", &["o3", "o2", "o1", "o4"]),
        ("Observation", "value-quantity", &["o1", "o2", "o3", "o4"]),
        ("Observation", "code", &["o1", "o4", "o2", "o3"]),
        ("Observation", "-code", &["o3", "o2", "o1", "o4"]),
        // The reference text: `Group/p1` < `Patient/…` < `http://…`.
        ("Observation", "subject", &["o4", "o1", "o2", "o3"]),
        // Descending by the end of each date: o1 and o3 are the same instant.
        ("Observation", "-date", &["o2", "o1", "o3", "o4"]),
        ("Observation", "date", &["o4", "o1", "o3", "o2"]),
        ("Observation", "status,-date", &["o2", "o1", "o4", "o3"]),
    ];
    for (ty, sort, expected) in cases {
        assert_eq!(order(&b, ty, sort).await, *expected, "{ty}?_sort={sort}");
    }
    // With criteria, a total and pages.
    let mut q = sorted("-birthdate");
    q.criteria = query(&[("gender", "male")]).criteria;
    q.count = 1;
    let first = b.run("Patient", &q).await.expect("filtered");
    assert_eq!(
        (page_ids(&first), first.total),
        (vec!["p4".to_owned()], Some(2))
    );
    q.cursor = first.next_cursor.clone();
    let second = b.run("Patient", &q).await.expect("page 2");
    assert_eq!(page_ids(&second), ["p2"]);
    assert_eq!(second.next_cursor, None);
}

/// A system search sorts the types together, ties by type and id.
pub async fn sorts_across_types_of_a_system_search(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    loaded(&b).await;
    let types = ["Patient", "Observation"]
        .iter()
        .map(|t| ResourceType::parse(t).expect("type"))
        .collect();
    let page = b
        .search
        .search(&SearchScope::System(types), &sorted("-_id"))
        .await
        .expect("search");
    assert_eq!(
        page_ids(&page),
        ["p5", "p4", "p3", "p2", "p1", "o4", "o3", "o2", "o1"]
    );
    let types = vec![ResourceType::parse("Patient").expect("type")];
    let q = sorted("birthdate");
    let page = b.search.search(&SearchScope::System(types), &q).await;
    assert_eq!(page.expect("patients only").matches.len(), 5);
}

/// Unknown, composite and special parameters cannot be sorted on: `Invalid` naming them.
pub async fn rejects_unknown_and_unsortable_keys(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    loaded(&b).await;
    for (ty, sort, needle) in [
        ("Patient", "-bogus", "bogus"),
        ("Observation", "code-value-quantity", "composite"),
        ("Patient", "_text", "_text"),
    ] {
        let err = b.run(ty, &sorted(sort)).await.expect_err(sort);
        assert_eq!(err.kind(), IssueKind::Invalid, "{sort}");
        assert!(err.message().contains(needle), "{sort}: {}", err.message());
    }
    let mut q = sorted("birthdate");
    q.cursor = Some("garbage".into());
    let err = b.run("Patient", &q).await.expect_err("cursor");
    assert_eq!(err.kind(), IssueKind::Invalid);
}

/// Next and previous cursors of a sorted order are positions in it: writes before or
/// after them do not shift the pages they lead to.
pub async fn sorted_pages_keep_their_position_while_data_changes(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    loaded(&b).await;
    let mut q = sorted("-birthdate");
    q.count = 2;
    let pages = walk(&b, "Patient", q.clone()).await;
    let ids: Vec<Vec<String>> = pages.iter().map(page_ids).collect();
    assert_eq!(ids, [vec!["p5", "p4"], vec!["p3", "p2"], vec!["p1"]]);
    assert_eq!(pages[0].previous_cursor, None);
    assert!(pages[1].previous_cursor.is_some());
    // A new resource before the second page, and the removal of the first page's last
    // match, leave the second page as it was.
    b.put(json!({"resourceType": "Patient", "id": "p0", "birthDate": "2005"}))
        .await;
    b.delete("Patient", "p4").await;
    q.cursor = pages[0].next_cursor.clone();
    let second = b.run("Patient", &q).await.expect("page 2");
    assert_eq!(page_ids(&second), ["p3", "p2"]);
    // Its previous page is the two matches now before it; then the first page.
    q.cursor = second.previous_cursor.clone();
    let previous = b.run("Patient", &q).await.expect("previous");
    assert_eq!(page_ids(&previous), ["p5", "p0"]);
    assert_eq!(previous.previous_cursor, None);
    assert!(previous.next_cursor.is_some());
    q.cursor = previous.next_cursor.clone();
    assert_eq!(
        page_ids(&b.run("Patient", &q).await.expect("next")),
        ["p3", "p2"]
    );
    // A page after the matches with values reaches those without, and back.
    b.put(json!({"resourceType": "Patient", "id": "p6"})).await;
    let mut q = sorted("-birthdate");
    q.count = 4;
    let pages = walk(&b, "Patient", q.clone()).await;
    let ids: Vec<Vec<String>> = pages.iter().map(page_ids).collect();
    assert_eq!(ids, [vec!["p5", "p0", "p3", "p2"], vec!["p1", "p6"]]);
    q.cursor = pages[1].previous_cursor.clone();
    let back = b.run("Patient", &q).await.expect("back");
    assert_eq!(page_ids(&back), ["p5", "p0", "p3", "p2"]);
}

/// Paging forwards through a sorted order gives every match once, in the order.
pub async fn sorted_pages_cover_every_match_once(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    loaded(&b).await;
    b.put(json!({"resourceType": "Patient", "id": "p6"})).await;
    for sort in [
        "name",
        "-name",
        "gender,-birthdate",
        "-gender,_id",
        "-birthdate",
    ] {
        let all = order(&b, "Patient", sort).await;
        assert_eq!(all.len(), 6, "{sort}");
        let mut q = sorted(sort);
        q.count = 2;
        let pages = walk(&b, "Patient", q.clone()).await;
        let paged: Vec<String> = pages.iter().flat_map(page_ids).collect();
        assert_eq!(paged, all, "{sort}");
        // And backwards from the last page.
        let mut back: Vec<String> = pages.last().map(page_ids).unwrap_or_default();
        q.cursor = pages.last().and_then(|p| p.previous_cursor.clone());
        while q.cursor.is_some() {
            let page = b.run("Patient", &q).await.expect("previous");
            back.splice(0..0, page_ids(&page));
            q.cursor = page.previous_cursor.clone();
        }
        assert_eq!(back, all, "{sort} backwards");
    }
}
