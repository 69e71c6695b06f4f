//! The [`SearchEngine`] conformance suite: one `pub async fn` per behaviour, each run
//! against an empty backend: a [`ResourceStore`], a [`SearchEngine`] over what it stores,
//! and a [`MakeVisible`] hook that makes acknowledged writes searchable (a no-op where the
//! engine reads the store's own index, an indexer run where it is fed asynchronously).
//!
//! Scopes, every parameter type with its modifiers and prefixes, `:missing`, `_id`,
//! `_lastUpdated`, AND/OR, totals, paging with cursors across updates and deletes, and
//! the errors for bad criteria; `_sort` ([`search_sort`]), `_text`/`_content` and
//! composite parameters ([`search_text`]).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::instant::Instant;
use crate::search::{Criterion, SearchEngine, SearchPage, SearchQuery, SearchScope, TotalMode};
use crate::store::{Precondition, ResourceStore, StoredResource, Write, WriteAction};
use crate::{Error, IssueKind, ResourceId, ResourceType, Result};

use super::{search_sort, search_text};

/// Makes versions just written to the store visible to the search engine under test.
#[async_trait]
pub trait MakeVisible: Send + Sync {
    /// Called after each group of writes with the versions they stored (deletions
    /// included); returns once searches see them.
    async fn written(&self, versions: &[StoredResource]);
}

/// The hook of engines that see the store's writes at once.
#[derive(Debug, Clone, Copy)]
pub struct Immediate;

#[async_trait]
impl MakeVisible for Immediate {
    async fn written(&self, _versions: &[StoredResource]) {}
}

/// One empty backend to run a test against.
pub struct SearchBackend {
    /// The store the test writes to.
    pub store: Arc<dyn ResourceStore>,
    /// The engine searching what the store holds.
    pub search: Arc<dyn SearchEngine>,
    /// Makes the store's writes visible to the engine.
    pub visible: Arc<dyn MakeVisible>,
}

/// Runs every test of the suite, each against a new empty backend from `fresh`.
pub async fn run_all<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = SearchBackend>,
{
    macro_rules! each {
        ($($test:path),* $(,)?) => {$(
            let backend = fresh().await;
            $test(backend.store.as_ref(), backend.search.as_ref(), backend.visible.as_ref()).await;
        )*};
    }
    each!(
        string_searches,
        token_searches,
        identifier_searches,
        reference_searches,
        date_searches,
        number_and_quantity_searches,
        uri_missing_and_id_searches,
        and_across_criteria_or_within,
        last_updated_searches,
        pages_through_matches_with_a_stable_cursor,
        previous_pages_in_the_default_order,
        next_page_only_when_another_match_exists,
        count_zero_gives_only_the_total,
        pages_over_many_resources,
        cursors_follow_updates_and_deletes,
        invalid_searches_fail_before_scanning,
        system_search_spans_types_and_pages_across_them,
        compartment_search_follows_the_compartment_definition,
        supported_params_cover_the_searchable_kinds,
        search_sort::sorts_each_parameter_type_both_ways_with_missing_values_last,
        search_sort::sorts_across_types_of_a_system_search,
        search_sort::rejects_unknown_and_unsortable_keys,
        search_sort::sorted_pages_keep_their_position_while_data_changes,
        search_sort::sorted_pages_cover_every_match_once,
        search_text::full_text_searches,
        search_text::composite_searches,
    );
}

/// The backend under test, borrowed.
pub(crate) struct Backend<'a> {
    pub(crate) store: &'a dyn ResourceStore,
    pub(crate) search: &'a dyn SearchEngine,
    pub(crate) visible: &'a dyn MakeVisible,
}

impl Backend<'_> {
    /// Writes `resource` (with `resourceType` and `id`) and makes it visible.
    pub(crate) async fn put(&self, resource: Value) {
        self.put_all([resource]).await;
    }

    /// Writes each resource, then makes them all visible.
    pub(crate) async fn put_all(&self, resources: impl IntoIterator<Item = Value>) {
        let mut stored = Vec::new();
        for resource in resources {
            let ty = resource["resourceType"].as_str().expect("resourceType");
            let id = resource["id"].as_str().expect("id");
            let write = Write::upsert(
                ResourceType::parse(ty).expect("type"),
                ResourceId::parse(id).expect("id"),
                resource,
                Precondition::None,
            );
            let result = self.store.write(write).await.expect("write");
            stored.extend(result.stored);
        }
        self.visible.written(&stored).await;
    }

    /// Deletes `ty/id` and makes the deletion visible.
    pub(crate) async fn delete(&self, ty: &str, id: &str) {
        let delete = Write {
            resource_type: ResourceType::parse(ty).expect("type"),
            id: ResourceId::parse(id).expect("id"),
            action: WriteAction::Delete,
            precondition: Precondition::None,
        };
        let deleted = self.store.write(delete).await.expect("delete");
        self.visible.written(&Vec::from_iter(deleted.stored)).await;
    }

    pub(crate) async fn run(&self, ty: &str, q: &SearchQuery) -> Result<SearchPage> {
        self.search.search(&scope(ty), q).await
    }

    /// The ids matching `criteria`, in result order.
    pub(crate) async fn ids(&self, ty: &str, criteria: &[(&str, &str)]) -> Vec<String> {
        let page = self.run(ty, &query(criteria)).await.expect("search");
        page.matches.iter().map(|m| m.id.to_string()).collect()
    }

    /// Runs one-criterion searches `(key, value, expected ids)` on `ty`.
    pub(crate) async fn expect(&self, ty: &str, cases: &[(&str, &str, &[&str])]) {
        for (key, value, expected) in cases {
            let found = self.ids(ty, &[(key, value)]).await;
            assert_eq!(found, *expected, "{ty}?{key}={value}");
        }
    }

    pub(crate) async fn error(&self, ty: &str, criteria: &[(&str, &str)]) -> Error {
        let result = self.run(ty, &query(criteria)).await;
        result.expect_err("search must fail")
    }
}

/// Five patients with names, genders, birth dates and identifiers to search.
pub fn patients() -> Vec<Value> {
    vec![
        json!({
            "resourceType": "Patient", "id": "p1",
            "meta": {"profile": ["http://example.org/fhir/StructureDefinition/vip"]},
            "name": [{"family": "Müller", "given": ["Anna"]}],
            "gender": "female", "birthDate": "1980-05-12",
            "identifier": [{
                "system": "http://hospital/mrn", "value": "MRN-1",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
            }],
            "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}]},
            "generalPractitioner": [{"reference": "Practitioner/doc1"}]
        }),
        json!({
            "resourceType": "Patient", "id": "p2",
            "name": [{"family": "Muller", "given": ["Bob"]}],
            "gender": "male", "birthDate": "1990",
            "identifier": [{"system": "http://other", "value": "X|1"}]
        }),
        json!({
            "resourceType": "Patient", "id": "p3",
            "name": [{"family": "Smith", "given": ["Carl"]}],
            "birthDate": "2000-01-01",
            "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}], "text": "French"}}]
        }),
        json!({
            "resourceType": "Patient", "id": "p4",
            "name": [{"family": "Smithson"}],
            "gender": "male", "birthDate": "2000-06-15"
        }),
        json!({
            "resourceType": "Patient", "id": "p5",
            "name": [{"family": "Jones"}],
            "gender": "female", "birthDate": "2010-02-03"
        }),
    ]
}

/// Four observations with codes, quantities, dates and subjects to search.
pub fn observations() -> Vec<Value> {
    let loinc = |code: &str, display: &str| json!({"coding": [{"system": "http://loinc.org", "code": code, "display": display}]});
    let ucum = "http://unitsofmeasure.org";
    vec![
        json!({
            "resourceType": "Observation", "id": "o1", "status": "final",
            "code": loinc("29463-7", "Body Weight"),
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2021-03-04T10:00:00Z",
            "valueQuantity": {"value": 70, "unit": "kg", "system": ucum, "code": "kg"}
        }),
        json!({
            "resourceType": "Observation", "id": "o2", "status": "final",
            "code": loinc("8867-4", "Heart rate"),
            "subject": {"reference": "Patient/p2"},
            "effectiveDateTime": "2021-03-05",
            "valueQuantity": {"value": 80, "unit": "beats/minute", "system": ucum, "code": "/min"}
        }),
        json!({
            "resourceType": "Observation", "id": "o3", "status": "preliminary",
            "code": {"coding": [{"code": "local-1"}], "text": "Custom thing"},
            "subject": {"reference": "http://example.org/fhir/Patient/p1"},
            "effectiveDateTime": "2021-03-04T12:00:00+02:00",
            "valueQuantity": {"value": 150, "unit": "lbs"}
        }),
        json!({
            "resourceType": "Observation", "id": "o4", "status": "final",
            "code": loinc("29463-7", "Body Weight"),
            "subject": {"reference": "Group/p1"},
            "effectivePeriod": {"start": "2020-01-01", "end": "2020-12-31"}
        }),
    ]
}

/// Writes the patients and observations above.
pub(crate) async fn loaded(b: &Backend<'_>) {
    b.put_all(patients().into_iter().chain(observations()))
        .await;
}

/// A query of `criteria` returning up to 100 matches with an accurate total.
pub fn query(criteria: &[(&str, &str)]) -> SearchQuery {
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

fn scope(ty: &str) -> SearchScope {
    SearchScope::Type(ResourceType::parse(ty).expect("type"))
}

/// String parameters: starts-with, `:exact` and `:contains`, folding case and accents.
pub async fn string_searches(
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
        ("family", "muller", &["p1", "p2"]),
        ("name", "MÜL", &["p1", "p2"]),
        ("family:exact", "Müller", &["p1"]),
        ("family:exact", "müller", &[]),
        ("family:contains", "LLÉ", &["p1", "p2"]),
        ("family", "smith", &["p3", "p4"]),
        ("family:exact", "Smith", &["p3"]),
        ("given", "bo", &["p2"]),
    ];
    b.expect("Patient", cases).await;
}

/// Token forms (`code`, `system|code`, `|code`, `system|`) and `:not`, `:text`.
pub async fn token_searches(
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
    let observations: &[(&str, &str, &[&str])] = &[
        ("code", "http://loinc.org|29463-7", &["o1", "o4"]),
        ("code", "29463-7", &["o1", "o4"]),
        ("code", "|local-1", &["o3"]),
        ("code", "|29463-7", &[]),
        ("code", "http://loinc.org|", &["o1", "o2", "o4"]),
        ("code:not", "http://loinc.org|29463-7", &["o2", "o3"]),
        ("code:text", "heart", &["o2"]),
        ("code:text", "custom", &["o3"]),
        ("status", "final,preliminary", &["o1", "o2", "o3", "o4"]),
    ];
    b.expect("Observation", observations).await;
    let patients: &[(&str, &str, &[&str])] = &[
        ("gender", "male", &["p2", "p4"]),
        ("gender:not", "male", &["p1", "p3", "p5"]),
        ("language:text", "fren", &["p3"]),
        ("language", "urn:ietf:bcp:47|fr", &["p3"]),
    ];
    b.expect("Patient", patients).await;
}

/// Identifiers with escaped `|` and `:of-type`.
pub async fn identifier_searches(
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
    let mr = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1";
    let cases: &[(&str, &str, &[&str])] = &[
        ("identifier", "http://hospital/mrn|MRN-1", &["p1"]),
        ("identifier", "MRN-1", &["p1"]),
        ("identifier", "http://other|MRN-1", &[]),
        ("identifier", r"http://other|X\|1", &["p2"]),
        ("identifier:of-type", mr, &["p1"]),
    ];
    b.expect("Patient", cases).await;
}

/// Reference forms: `Type/id`, `id`, `:[Type]`, absolute URLs.
pub async fn reference_searches(
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
        ("subject", "Patient/p1", &["o1", "o3"]),
        ("subject", "p1", &["o1", "o3", "o4"]),
        ("subject:Patient", "p1", &["o1", "o3"]),
        ("subject:Group", "p1", &["o4"]),
        (
            "subject",
            "http://example.org/fhir/Patient/p1",
            &["o1", "o3"],
        ),
        ("patient", "p2", &["o2"]),
    ];
    b.expect("Observation", cases).await;
    let gp = [("general-practitioner", "Practitioner/doc1", &["p1"][..])];
    b.expect("Patient", &gp).await;
}

/// Date prefixes against dates and periods of every precision.
pub async fn date_searches(
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
    let patients: &[(&str, &str, &[&str])] = &[
        ("birthdate", "2000", &["p3", "p4"]),
        ("birthdate", "eq2000-06", &["p4"]),
        ("birthdate", "1990-05", &[]),
        ("birthdate", "ge2000", &["p3", "p4", "p5"]),
        ("birthdate", "lt1990-06", &["p1", "p2"]),
        ("birthdate", "sa1990-06", &["p3", "p4", "p5"]),
        ("birthdate", "eb1990-06", &["p1"]),
        ("birthdate", "ne2000", &["p1", "p2", "p5"]),
    ];
    b.expect("Patient", patients).await;
    let observations: &[(&str, &str, &[&str])] = &[
        ("date", "2021-03-04", &["o1", "o3"]),
        ("date", "2021-03-04T10:00:00Z", &["o1", "o3"]),
        ("date", "2020-06", &[]),
        ("date", "lt2020-06", &["o4"]),
        ("date", "2020", &["o4"]),
    ];
    b.expect("Observation", observations).await;
}

/// Number precision and prefixes; quantities with and without units.
pub async fn number_and_quantity_searches(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    for (id, factor) in [("c1", 0.4), ("c2", 1.25), ("c3", 2.0)] {
        let item = json!({"resourceType": "ChargeItem", "id": id, "factorOverride": factor});
        b.put(item).await;
    }
    b.put(json!({"resourceType": "ChargeItem", "id": "c4"}))
        .await;
    let numbers: &[(&str, &str, &[&str])] = &[
        ("factor-override", "1.25", &["c2"]),
        ("factor-override", "1", &["c2"]),
        ("factor-override", "gt1.25", &["c3"]),
        ("factor-override", "le1.25", &["c1", "c2"]),
        ("factor-override", "lt1", &["c1"]),
        ("factor-override:missing", "true", &["c4"]),
    ];
    b.expect("ChargeItem", numbers).await;

    loaded(&b).await;
    let quantities: &[(&str, &str, &[&str])] = &[
        ("value-quantity", "70", &["o1"]),
        ("value-quantity", "gt60", &["o1", "o2", "o3"]),
        (
            "value-quantity",
            "gt60|http://unitsofmeasure.org|kg",
            &["o1"],
        ),
        ("value-quantity", "ge80||/min", &["o2"]),
        ("value-quantity", "lt200||lbs", &["o3"]),
        ("value-quantity", "le75||lbs", &[]),
    ];
    b.expect("Observation", quantities).await;
}

/// `:below` on uris, `:missing` both ways, `_id`.
pub async fn uri_missing_and_id_searches(
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
        ("_profile:below", "http://example.org/fhir/", &["p1"]),
        ("_profile", "http://example.org/fhir/", &[]),
        ("gender:missing", "true", &["p3"]),
        ("gender:missing", "false", &["p1", "p2", "p4", "p5"]),
        ("_id", "p3,p5", &["p3", "p5"]),
        ("_id", "nope", &[]),
        ("_id:not", "p3", &["p1", "p2", "p4", "p5"]),
        ("_id:missing", "false", &["p1", "p2", "p3", "p4", "p5"]),
        ("_id:missing", "true", &[]),
    ];
    b.expect("Patient", cases).await;
}

/// Criteria are ANDed, the values of one criterion ORed.
pub async fn and_across_criteria_or_within(
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
    let both = [("gender", "male"), ("birthdate", "ge2000")];
    assert_eq!(b.ids("Patient", &both).await, ["p4"]);
    let either = [("family", "jones,smithson")];
    assert_eq!(b.ids("Patient", &either).await, ["p4", "p5"]);
    let repeated = [("birthdate", "ge1985"), ("birthdate", "lt2000-03")];
    assert_eq!(b.ids("Patient", &repeated).await, ["p2", "p3"]);
    assert_eq!(b.ids("Patient", &[]).await.len(), 5);
}

/// `_lastUpdated` compares with the time each version was written.
pub async fn last_updated_searches(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    let mut all = patients().into_iter();
    for resource in all.by_ref().take(2) {
        b.put(resource).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mid = Instant::now()
        .to_datetime()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // p3 alone in its millisecond.
    for resource in all {
        b.put(resource).await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let ge = format!("ge{mid}");
    let lt = format!("lt{mid}");
    assert_eq!(
        b.ids("Patient", &[("_lastUpdated", ge.as_str())]).await,
        ["p3", "p4", "p5"]
    );
    assert_eq!(
        b.ids("Patient", &[("_lastUpdated", lt.as_str())]).await,
        ["p1", "p2"]
    );
    let p3 = store
        .read(
            ResourceType::parse("Patient").expect("type"),
            &ResourceId::parse("p3").expect("id"),
        )
        .await
        .expect("read")
        .expect("p3");
    let at = p3
        .last_updated
        .to_datetime()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let at = |prefix: &str| format!("{prefix}{at}");
    b.expect(
        "Patient",
        &[
            ("_lastUpdated", &at("eq"), &["p3"]),
            ("_lastUpdated", &at(""), &["p3"]),
            ("_lastUpdated", &at("ne"), &["p1", "p2", "p4", "p5"]),
            ("_lastUpdated", &at("gt"), &["p4", "p5"]),
            ("_lastUpdated", &at("le"), &["p1", "p2", "p3"]),
            ("_lastUpdated", &at("sa"), &["p4", "p5"]),
            ("_lastUpdated", &at("eb"), &["p1", "p2"]),
        ],
    )
    .await;
    let (from, to) = (at("ge"), at("le"));
    assert_eq!(
        b.ids(
            "Patient",
            &[("_lastUpdated", ge.as_str()), ("_lastUpdated", to.as_str())]
        )
        .await,
        ["p3"]
    );
    assert_eq!(
        b.ids(
            "Patient",
            &[
                ("_lastUpdated", from.as_str()),
                ("_lastUpdated", lt.as_str())
            ]
        )
        .await,
        Vec::<String>::new()
    );
}

/// Cursors page through all matches; a page read twice is the same.
pub async fn pages_through_matches_with_a_stable_cursor(
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
    let mut q = query(&[("birthdate", "ge1900")]);
    q.count = 2;
    let first = b.run("Patient", &q).await.expect("page 1");
    assert_eq!(first.total, Some(5));
    q.cursor = first.next_cursor.clone();
    let second = b.run("Patient", &q).await.expect("page 2");
    let again = b.run("Patient", &q).await.expect("page 2 again");
    assert_eq!(second, again);
    assert_eq!(second.total, None);
    q.cursor = second.next_cursor.clone();
    let third = b.run("Patient", &q).await.expect("page 3");
    assert_eq!(third.next_cursor, None);
    let pages: Vec<Vec<String>> = [&first, &second, &third]
        .iter()
        .map(|p| p.matches.iter().map(|m| m.id.to_string()).collect())
        .collect();
    assert_eq!(pages, [vec!["p1", "p2"], vec!["p3", "p4"], vec!["p5"]]);
}

/// Previous cursors lead back page by page; the first page has none.
pub async fn previous_pages_in_the_default_order(
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
    let mut q = query(&[("birthdate", "ge1900")]);
    q.count = 2;
    let mut pages = Vec::new();
    loop {
        let page = b.run("Patient", &q).await.expect("page");
        q.cursor = page.next_cursor.clone();
        pages.push(page);
        if q.cursor.is_none() || pages.len() > 10 {
            break;
        }
    }
    let ids = |page: &SearchPage| -> Vec<String> {
        page.matches.iter().map(|m| m.id.to_string()).collect()
    };
    let all: Vec<Vec<String>> = pages.iter().map(ids).collect();
    assert_eq!(all, [vec!["p1", "p2"], vec!["p3", "p4"], vec!["p5"]]);
    assert_eq!(pages[0].previous_cursor, None);
    q.cursor = pages[2].previous_cursor.clone();
    let back = b.run("Patient", &q).await.expect("previous of 3");
    assert_eq!(ids(&back), ["p3", "p4"]);
    assert!(back.previous_cursor.is_some());
    q.cursor = back.previous_cursor.clone();
    let first = b.run("Patient", &q).await.expect("previous of 2");
    assert_eq!(ids(&first), ["p1", "p2"]);
    assert_eq!(first.previous_cursor, None);
    assert!(first.next_cursor.is_some());
}

/// A next cursor only when another match exists.
pub async fn next_page_only_when_another_match_exists(
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
    let mut q = query(&[("gender", "male")]);
    q.count = 2;
    q.total = TotalMode::None;
    let page = b.run("Patient", &q).await.expect("search");
    assert_eq!(page.matches.len(), 2);
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.total, None);
    q.count = 1;
    let page = b.run("Patient", &q).await.expect("search");
    assert!(page.next_cursor.is_some());
}

/// `_count=0` gives the total and no matches.
pub async fn count_zero_gives_only_the_total(
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
    let mut q = query(&[("gender", "male")]);
    q.count = 0;
    let page = b.run("Patient", &q).await.expect("search");
    assert!(page.matches.is_empty());
    assert_eq!(page.total, Some(2));
    assert_eq!(page.next_cursor, None);
    q.total = TotalMode::Estimate;
    assert_eq!(b.run("Patient", &q).await.expect("search").total, Some(2));
}

/// Paging over a selective criterion among many resources.
pub async fn pages_over_many_resources(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    let writes = (0..520)
        .map(|i| {
            Write::upsert(
                ResourceType::parse("Patient").expect("type"),
                ResourceId::parse(&format!("b{i}")).expect("id"),
                json!({
                    "resourceType": "Patient",
                    "gender": if i % 100 == 0 { "male" } else { "female" },
                }),
                Precondition::None,
            )
        })
        .collect();
    let results = b.store.write_batch(writes).await.expect("batch");
    let stored: Vec<StoredResource> = results
        .into_iter()
        .filter_map(|r| r.expect("write").stored)
        .collect();
    b.visible.written(&stored).await;
    let mut q = query(&[("gender", "male")]);
    q.count = 3;
    let first = b.run("Patient", &q).await.expect("page 1");
    assert_eq!(first.total, Some(6));
    q.cursor = first.next_cursor;
    let second = b.run("Patient", &q).await.expect("page 2");
    let ids: Vec<String> = second.matches.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, ["b300", "b400", "b500"]);
    assert_eq!(second.next_cursor, None);
}

/// Updates reindex a resource (and move it to the end), deletions unindex it.
pub async fn cursors_follow_updates_and_deletes(
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
    let mut q = query(&[("gender", "male")]);
    q.count = 1;
    let first = b.run("Patient", &q).await.expect("page 1");
    let p2 = first.matches.first().expect("one match");
    assert_eq!(p2.id.as_str(), "p2");
    assert!(first.next_cursor.is_some());
    // An update moves p2 after p4 and reindexes it; a delete unindexes.
    b.put(json!({"resourceType": "Patient", "id": "p2", "gender": "female"}))
        .await;
    assert_eq!(b.ids("Patient", &[("gender", "male")]).await, ["p4"]);
    assert_eq!(
        b.ids("Patient", &[("gender", "female")]).await,
        ["p1", "p5", "p2"]
    );
    assert!(b.ids("Patient", &[("family", "muller")]).await == ["p1"]);
    let delete = Write {
        resource_type: ResourceType::parse("Patient").expect("type"),
        id: ResourceId::parse("p4").expect("id"),
        action: WriteAction::Delete,
        precondition: Precondition::None,
    };
    let deleted = b.store.write(delete).await.expect("delete");
    b.visible.written(&Vec::from_iter(deleted.stored)).await;
    assert!(b.ids("Patient", &[("gender", "male")]).await.is_empty());
    assert_eq!(b.ids("Patient", &[]).await, ["p1", "p3", "p5", "p2"]);
    b.put(json!({"resourceType": "Patient", "id": "p4", "gender": "male"}))
        .await;
    assert_eq!(b.ids("Patient", &[("gender", "male")]).await, ["p4"]);
}

/// Unknown parameters, bad values, chains and bad cursors are `Invalid`.
pub async fn invalid_searches_fail_before_scanning(
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
    let unknown = b.error("Patient", &[("shoe-size", "42")]).await;
    assert_eq!(unknown.kind(), IssueKind::Invalid);
    assert_eq!(
        unknown.message(),
        "unknown search parameter 'shoe-size' for Patient"
    );
    let date = b.error("Patient", &[("birthdate", "ge2020-02-30")]).await;
    assert_eq!(date.kind(), IssueKind::Invalid);
    assert!(date.message().contains("birthdate") && date.message().contains("ge2020-02-30"));
    let chain = b.error("Observation", &[("subject.name", "x")]).await;
    assert_eq!(chain.kind(), IssueKind::Invalid);
    assert!(chain.message().contains("chained"), "{}", chain.message());
    let mut bad_cursor = query(&[]);
    bad_cursor.cursor = Some("garbage".into());
    let err = b.run("Patient", &bad_cursor).await.expect_err("cursor");
    assert_eq!(err.kind(), IssueKind::Invalid);
}

/// System searches over all or several types, paged across types.
pub async fn system_search_spans_types_and_pages_across_them(
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
    let ty = |t: &str| ResourceType::parse(t).expect("type");
    let all = b
        .search
        .search(&SearchScope::System(Vec::new()), &query(&[]))
        .await
        .expect("system");
    assert_eq!(all.total, Some(9));
    let two = SearchScope::System(vec![ty("Patient"), ty("Observation")]);
    let by_id = b
        .search
        .search(&two, &query(&[("_id", "p1,o2")]))
        .await
        .expect("by id");
    let found: Vec<String> = by_id
        .matches
        .iter()
        .map(|m| format!("{}/{}", m.resource_type, m.id))
        .collect();
    assert_eq!(found, ["Patient/p1", "Observation/o2"]);
    let mut q = query(&[]);
    q.count = 4;
    let mut seen = Vec::new();
    loop {
        let page = b.search.search(&two, &q).await.expect("page");
        seen.extend(page.matches.iter().map(|m| m.id.to_string()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9, "{seen:?}");
    let unknown = b.search.search(&two, &query(&[("gender", "male")])).await;
    assert_eq!(
        unknown
            .expect_err("gender is not an Observation parameter")
            .kind(),
        IssueKind::Invalid
    );
}

/// Patient compartment searches follow the CompartmentDefinition.
pub async fn compartment_search_follows_the_compartment_definition(
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
    let in_compartment = |target: Option<&str>| SearchScope::Compartment {
        compartment: ResourceType::parse("Patient").expect("type"),
        id: ResourceId::parse("p1").expect("id"),
        target: target.map(|t| ResourceType::parse(t).expect("type")),
    };
    let ids = |page: SearchPage| {
        page.matches
            .iter()
            .map(|m| m.id.to_string())
            .collect::<Vec<_>>()
    };
    let observations = b
        .search
        .search(&in_compartment(Some("Observation")), &query(&[]))
        .await
        .expect("search");
    assert_eq!(
        ids(observations),
        ["o1", "o3"],
        "Group/p1 is not the patient"
    );
    let weights = b
        .search
        .search(
            &in_compartment(Some("Observation")),
            &query(&[("code", "29463-7")]),
        )
        .await
        .expect("search");
    assert_eq!(ids(weights), ["o1"]);
    let itself = b
        .search
        .search(&in_compartment(Some("Patient")), &query(&[]))
        .await
        .expect("search");
    assert_eq!(ids(itself), ["p1"]);
    let everything = b
        .search
        .search(&in_compartment(None), &query(&[]))
        .await
        .expect("search");
    assert_eq!(everything.total, Some(3));
    let outside = b
        .search
        .search(&in_compartment(Some("Organization")), &query(&[]))
        .await;
    assert_eq!(
        outside.expect_err("not in the compartment").kind(),
        IssueKind::Invalid
    );
    let encounter = SearchScope::Compartment {
        compartment: ResourceType::parse("Encounter").expect("type"),
        id: ResourceId::parse("e1").expect("id"),
        target: None,
    };
    let unknown = b.search.search(&encounter, &query(&[])).await;
    assert_eq!(
        unknown.expect_err("no definition").kind(),
        IssueKind::NotFound
    );
}

/// The CapabilityStatement parameters: searchable kinds only.
pub async fn supported_params_cover_the_searchable_kinds(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    let params = b
        .search
        .supported_params(ResourceType::parse("Observation").expect("type"));
    let find = |code: &str| params.iter().find(|p| p.code == code);
    let code = find("code").expect("code");
    assert_eq!(code.kind, "token");
    assert_eq!(
        code.definition,
        "http://hl7.org/fhir/SearchParameter/clinical-code"
    );
    assert!(find("_id").is_some() && find("_lastUpdated").is_some());
    assert!(find("value-quantity").is_some_and(|p| p.kind == "quantity"));
}
