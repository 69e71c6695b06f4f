//! `_sort` and paging in both directions over a real store.

use super::store_tests::{Fixture, loaded, put, query, run};
use super::*;
use hearth_interface::search::SortKey;
use hearth_interface::store::{Precondition, ResourceStore, Write};
use hearth_interface::{IssueKind, ResourceId};
use serde_json::json;

fn sorted(sort: &str) -> SearchQuery {
    let mut q = query(&[]);
    q.sort = sort.split(',').filter_map(SortKey::parse).collect();
    q
}

fn page_ids(page: &SearchPage) -> Vec<String> {
    page.matches.iter().map(|m| m.id.to_string()).collect()
}

async fn order(f: &Fixture, ty: &str, sort: &str) -> Vec<String> {
    page_ids(&run(f, ty, &sorted(sort)).await.expect(sort))
}

#[tokio::test]
async fn sorts_each_parameter_type_both_ways_with_missing_values_last() {
    let f = loaded().await;
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
        ("Patient", "-_lastUpdated", &["p5", "p4", "p3", "p2", "p1"]),
        ("Observation", "-value-quantity", &["o3", "o2", "o1", "o4"]),
        ("Observation", "value-quantity", &["o1", "o2", "o3", "o4"]),
        ("Observation", "code", &["o1", "o4", "o2", "o3"]),
        // The reference text: `Group/p1` < `Patient/…` < `http://…`.
        ("Observation", "subject", &["o4", "o1", "o2", "o3"]),
        // Descending by the end of each date: o1 and o3 are the same instant.
        ("Observation", "-date", &["o2", "o1", "o3", "o4"]),
        ("Observation", "date", &["o4", "o1", "o3", "o2"]),
    ];
    for (ty, sort, expected) in cases {
        assert_eq!(order(&f, ty, sort).await, *expected, "{ty}?_sort={sort}");
    }
}

#[tokio::test]
async fn sorts_across_types_of_a_system_search() {
    let f = loaded().await;
    let types = ["Patient", "Observation"]
        .iter()
        .map(|t| ResourceType::parse(t).expect("type"))
        .collect();
    let page = f
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
    let page = f.search.search(&SearchScope::System(types), &q).await;
    assert_eq!(page.expect("patients only").matches.len(), 5);
}

#[tokio::test]
async fn rejects_unknown_and_unsortable_keys() {
    let f = loaded().await;
    for (ty, sort, needle) in [
        ("Patient", "-bogus", "bogus"),
        ("Observation", "code-value-quantity", "composite"),
        ("Patient", "_text", "_text"),
    ] {
        let err = run(&f, ty, &sorted(sort)).await.expect_err(sort);
        assert_eq!(err.kind(), IssueKind::Invalid, "{sort}");
        assert!(err.message().contains(needle), "{sort}: {}", err.message());
    }
}

/// Pages forwards from `q`, returning each page's ids and the pages themselves.
async fn walk(f: &Fixture, ty: &str, mut q: SearchQuery) -> Vec<SearchPage> {
    let mut pages = Vec::new();
    loop {
        let page = run(f, ty, &q).await.expect("page");
        q.cursor = page.next_cursor.clone();
        pages.push(page);
        if q.cursor.is_none() || pages.len() > 10 {
            return pages;
        }
    }
}

#[tokio::test]
async fn sorted_pages_keep_their_position_while_data_changes() {
    let f = loaded().await;
    let mut q = sorted("-birthdate");
    q.count = 2;
    let pages = walk(&f, "Patient", q.clone()).await;
    let ids: Vec<Vec<String>> = pages.iter().map(page_ids).collect();
    assert_eq!(ids, [vec!["p5", "p4"], vec!["p3", "p2"], vec!["p1"]]);
    assert_eq!(pages[0].previous_cursor, None);
    assert!(pages[1].previous_cursor.is_some());
    // A new resource before the second page, and the removal of the first page's last
    // match, leave the second page as it was.
    put(
        &f.store,
        json!({"resourceType": "Patient", "id": "p0", "birthDate": "2005"}),
    )
    .await;
    let p4 = ResourceId::parse("p4").expect("id");
    let patient = ResourceType::parse("Patient").expect("type");
    let delete = Write::delete(patient, p4, Precondition::None);
    f.store.write(delete).await.expect("delete");
    q.cursor = pages[0].next_cursor.clone();
    let second = run(&f, "Patient", &q).await.expect("page 2");
    assert_eq!(page_ids(&second), ["p3", "p2"]);
    // Its previous page is the two matches now before it; then the first page.
    q.cursor = second.previous_cursor.clone();
    let previous = run(&f, "Patient", &q).await.expect("previous");
    assert_eq!(page_ids(&previous), ["p5", "p0"]);
    assert_eq!(previous.previous_cursor, None);
    assert_eq!(previous.next_cursor.as_ref().map(|_| ()), Some(()));
    q.cursor = previous.next_cursor.clone();
    assert_eq!(
        page_ids(&run(&f, "Patient", &q).await.expect("next")),
        ["p3", "p2"]
    );
}

#[tokio::test]
async fn previous_pages_in_the_default_order() {
    let f = loaded().await;
    let mut q = query(&[("birthdate", "ge1900")]);
    q.count = 2;
    let pages = walk(&f, "Patient", q.clone()).await;
    let ids: Vec<Vec<String>> = pages.iter().map(page_ids).collect();
    assert_eq!(ids, [vec!["p1", "p2"], vec!["p3", "p4"], vec!["p5"]]);
    q.cursor = pages[2].previous_cursor.clone();
    let back = run(&f, "Patient", &q).await.expect("previous of 3");
    assert_eq!(page_ids(&back), ["p3", "p4"]);
    assert!(back.previous_cursor.is_some());
    q.cursor = back.previous_cursor.clone();
    let first = run(&f, "Patient", &q).await.expect("previous of 2");
    assert_eq!(page_ids(&first), ["p1", "p2"]);
    assert_eq!(first.previous_cursor, None);
    assert!(first.next_cursor.is_some());
}

#[tokio::test]
async fn sorted_pages_cover_every_match_once() {
    let f = loaded().await;
    for sort in ["name", "-name", "gender,-birthdate", "-gender,_id"] {
        let all = order(&f, "Patient", sort).await;
        let mut q = sorted(sort);
        q.count = 2;
        let paged: Vec<String> = walk(&f, "Patient", q)
            .await
            .iter()
            .flat_map(page_ids)
            .collect();
        assert_eq!(paged, all, "{sort}");
    }
}
