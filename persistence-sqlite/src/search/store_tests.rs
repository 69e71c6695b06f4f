//! Searches over a real store: scopes, paging, totals, updates and deletes.

use super::*;
use hearth_interface::instant::Instant;
use hearth_interface::store::{Precondition, ResourceStore, Write};
use hearth_interface::{IssueKind, ResourceId};
use serde_json::Value;
use serde_json::json;

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

pub(super) fn patients() -> Vec<Value> {
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

pub(super) fn observations() -> Vec<Value> {
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

pub(super) fn scope(ty: &str) -> SearchScope {
    SearchScope::Type(ResourceType::parse(ty).expect("type"))
}

pub(super) async fn run(f: &Fixture, ty: &str, q: &SearchQuery) -> Result<SearchPage> {
    f.search.search(&scope(ty), q).await
}

/// The ids matching `criteria`, in result order.
async fn ids(f: &Fixture, ty: &str, criteria: &[(&str, &str)]) -> Vec<String> {
    let page = run(f, ty, &query(criteria)).await.expect("search");
    page.matches.iter().map(|m| m.id.to_string()).collect()
}

/// Runs one-criterion searches `(key, value, expected ids)` on `ty`.
async fn expect(f: &Fixture, ty: &str, cases: &[(&str, &str, &[&str])]) {
    for (key, value, expected) in cases {
        let found = ids(f, ty, &[(key, value)]).await;
        assert_eq!(found, *expected, "{ty}?{key}={value}");
    }
}

async fn error(f: &Fixture, ty: &str, criteria: &[(&str, &str)]) -> Error {
    let result = run(f, ty, &query(criteria)).await;
    result.expect_err("search must fail")
}

#[tokio::test]
async fn string_searches() {
    let f = loaded().await;
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
    expect(&f, "Patient", cases).await;
}

#[tokio::test]
async fn token_searches() {
    let f = loaded().await;
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
    expect(&f, "Observation", observations).await;
    let patients: &[(&str, &str, &[&str])] = &[
        ("gender", "male", &["p2", "p4"]),
        ("gender:not", "male", &["p1", "p3", "p5"]),
        ("language:text", "fren", &["p3"]),
        ("language", "urn:ietf:bcp:47|fr", &["p3"]),
    ];
    expect(&f, "Patient", patients).await;
}

#[tokio::test]
async fn identifier_searches() {
    let f = loaded().await;
    let mr = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1";
    let cases: &[(&str, &str, &[&str])] = &[
        ("identifier", "http://hospital/mrn|MRN-1", &["p1"]),
        ("identifier", "MRN-1", &["p1"]),
        ("identifier", "http://other|MRN-1", &[]),
        ("identifier", r"http://other|X\|1", &["p2"]),
        ("identifier:of-type", mr, &["p1"]),
    ];
    expect(&f, "Patient", cases).await;
}

#[tokio::test]
async fn reference_searches() {
    let f = loaded().await;
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
    expect(&f, "Observation", cases).await;
    let gp = [("general-practitioner", "Practitioner/doc1", &["p1"][..])];
    expect(&f, "Patient", &gp).await;
}

#[tokio::test]
async fn date_searches() {
    let f = loaded().await;
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
    expect(&f, "Patient", patients).await;
    let observations: &[(&str, &str, &[&str])] = &[
        ("date", "2021-03-04", &["o1", "o3"]),
        ("date", "2021-03-04T10:00:00Z", &["o1", "o3"]),
        ("date", "2020-06", &[]),
        ("date", "lt2020-06", &["o4"]),
        ("date", "2020", &["o4"]),
    ];
    expect(&f, "Observation", observations).await;
}

#[tokio::test]
async fn number_and_quantity_searches() {
    let f = fixture();
    for (id, factor) in [("c1", 0.4), ("c2", 1.25), ("c3", 2.0)] {
        let item = json!({"resourceType": "ChargeItem", "id": id, "factorOverride": factor});
        put(&f.store, item).await;
    }
    put(&f.store, json!({"resourceType": "ChargeItem", "id": "c4"})).await;
    let numbers: &[(&str, &str, &[&str])] = &[
        ("factor-override", "1.25", &["c2"]),
        ("factor-override", "1", &["c2"]),
        ("factor-override", "gt1.25", &["c3"]),
        ("factor-override", "le1.25", &["c1", "c2"]),
        ("factor-override", "lt1", &["c1"]),
        ("factor-override:missing", "true", &["c4"]),
    ];
    expect(&f, "ChargeItem", numbers).await;

    let f = loaded().await;
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
    expect(&f, "Observation", quantities).await;
}

#[tokio::test]
async fn uri_missing_and_id_searches() {
    let f = loaded().await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("_profile:below", "http://example.org/fhir/", &["p1"]),
        ("_profile", "http://example.org/fhir/", &[]),
        ("gender:missing", "true", &["p3"]),
        ("gender:missing", "false", &["p1", "p2", "p4", "p5"]),
        ("_id", "p3,p5", &["p3", "p5"]),
        ("_id", "nope", &[]),
    ];
    expect(&f, "Patient", cases).await;
}

#[tokio::test]
async fn and_across_criteria_or_within() {
    let f = loaded().await;
    let both = [("gender", "male"), ("birthdate", "ge2000")];
    assert_eq!(ids(&f, "Patient", &both).await, ["p4"]);
    let either = [("family", "jones,smithson")];
    assert_eq!(ids(&f, "Patient", &either).await, ["p4", "p5"]);
    let repeated = [("birthdate", "ge1985"), ("birthdate", "lt2000-03")];
    assert_eq!(ids(&f, "Patient", &repeated).await, ["p2", "p3"]);
    assert_eq!(ids(&f, "Patient", &[]).await.len(), 5);
}

#[tokio::test]
async fn last_updated_searches() {
    let f = fixture();
    let mut all = patients().into_iter();
    for resource in all.by_ref().take(2) {
        put(&f.store, resource).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mid = Instant::now()
        .to_datetime()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for resource in all {
        put(&f.store, resource).await;
    }
    let ge = format!("ge{mid}");
    let lt = format!("lt{mid}");
    assert_eq!(
        ids(&f, "Patient", &[("_lastUpdated", ge.as_str())]).await,
        ["p3", "p4", "p5"]
    );
    assert_eq!(
        ids(&f, "Patient", &[("_lastUpdated", lt.as_str())]).await,
        ["p1", "p2"]
    );
}

#[tokio::test]
async fn pages_through_matches_with_a_stable_cursor() {
    let f = loaded().await;
    let mut q = query(&[("birthdate", "ge1900")]);
    q.count = 2;
    let first = run(&f, "Patient", &q).await.expect("page 1");
    assert_eq!(first.total, Some(5));
    q.cursor = first.next_cursor.clone();
    let second = run(&f, "Patient", &q).await.expect("page 2");
    let again = run(&f, "Patient", &q).await.expect("page 2 again");
    assert_eq!(second, again);
    assert_eq!(second.total, None);
    q.cursor = second.next_cursor.clone();
    let third = run(&f, "Patient", &q).await.expect("page 3");
    assert_eq!(third.next_cursor, None);
    let pages: Vec<Vec<String>> = [&first, &second, &third]
        .iter()
        .map(|p| p.matches.iter().map(|m| m.id.to_string()).collect())
        .collect();
    assert_eq!(pages, [vec!["p1", "p2"], vec!["p3", "p4"], vec!["p5"]]);
}

#[tokio::test]
async fn next_page_only_when_another_match_exists() {
    let f = loaded().await;
    let mut q = query(&[("gender", "male")]);
    q.count = 2;
    q.total = TotalMode::None;
    let page = run(&f, "Patient", &q).await.expect("search");
    assert_eq!(page.matches.len(), 2);
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.total, None);
    q.count = 1;
    let page = run(&f, "Patient", &q).await.expect("search");
    assert!(page.next_cursor.is_some());
}

#[tokio::test]
async fn count_zero_gives_only_the_total() {
    let f = loaded().await;
    let mut q = query(&[("gender", "male")]);
    q.count = 0;
    let page = run(&f, "Patient", &q).await.expect("search");
    assert!(page.matches.is_empty());
    assert_eq!(page.total, Some(2));
    assert_eq!(page.next_cursor, None);
    q.total = TotalMode::Estimate;
    assert_eq!(run(&f, "Patient", &q).await.expect("search").total, Some(2));
}

#[tokio::test]
async fn pages_over_many_resources() {
    let f = fixture();
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
    f.store.write_batch(writes).await.expect("batch");
    let mut q = query(&[("gender", "male")]);
    q.count = 3;
    let first = run(&f, "Patient", &q).await.expect("page 1");
    assert_eq!(first.total, Some(6));
    q.cursor = first.next_cursor;
    let second = run(&f, "Patient", &q).await.expect("page 2");
    let ids: Vec<String> = second.matches.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, ["b300", "b400", "b500"]);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn cursors_follow_updates_and_deletes() {
    let f = loaded().await;
    let mut q = query(&[("gender", "male")]);
    q.count = 1;
    let first = run(&f, "Patient", &q).await.expect("page 1");
    let p2 = first.matches.first().expect("one match");
    assert_eq!(p2.id.as_str(), "p2");
    assert_eq!(first.next_cursor, Some(format!("n0:{}", p2.last_updated.0)));
    // An update moves p2 after p4 and reindexes it; a delete unindexes.
    put(
        &f.store,
        json!({"resourceType": "Patient", "id": "p2", "gender": "female"}),
    )
    .await;
    assert_eq!(ids(&f, "Patient", &[("gender", "male")]).await, ["p4"]);
    assert_eq!(
        ids(&f, "Patient", &[("gender", "female")]).await,
        ["p1", "p5", "p2"]
    );
    assert!(ids(&f, "Patient", &[("family", "muller")]).await == ["p1"]);
    let delete = Write {
        resource_type: ResourceType::parse("Patient").expect("type"),
        id: ResourceId::parse("p4").expect("id"),
        action: hearth_interface::store::WriteAction::Delete,
        precondition: Precondition::None,
    };
    f.store.write(delete).await.expect("delete");
    assert!(ids(&f, "Patient", &[("gender", "male")]).await.is_empty());
    assert_eq!(ids(&f, "Patient", &[]).await, ["p1", "p3", "p5", "p2"]);
    put(
        &f.store,
        json!({"resourceType": "Patient", "id": "p4", "gender": "male"}),
    )
    .await;
    assert_eq!(ids(&f, "Patient", &[("gender", "male")]).await, ["p4"]);
}

#[tokio::test]
async fn invalid_searches_fail_before_scanning() {
    let f = loaded().await;
    let unknown = error(&f, "Patient", &[("shoe-size", "42")]).await;
    assert_eq!(unknown.kind(), IssueKind::Invalid);
    assert_eq!(
        unknown.message(),
        "unknown search parameter 'shoe-size' for Patient"
    );
    let date = error(&f, "Patient", &[("birthdate", "ge2020-02-30")]).await;
    assert_eq!(date.kind(), IssueKind::Invalid);
    assert!(date.message().contains("birthdate") && date.message().contains("ge2020-02-30"));
    let chain = error(&f, "Observation", &[("subject.name", "x")]).await;
    assert_eq!(chain.kind(), IssueKind::Invalid);
    assert!(chain.message().contains("chained"), "{}", chain.message());
    let mut bad_cursor = query(&[]);
    bad_cursor.cursor = Some("garbage".into());
    let err = run(&f, "Patient", &bad_cursor).await.expect_err("cursor");
    assert_eq!(err.kind(), IssueKind::Invalid);
}

#[tokio::test]
async fn system_search_spans_types_and_pages_across_them() {
    let f = loaded().await;
    let ty = |t: &str| ResourceType::parse(t).expect("type");
    let all = f
        .search
        .search(&SearchScope::System(Vec::new()), &query(&[]))
        .await
        .expect("system");
    assert_eq!(all.total, Some(9));
    let two = SearchScope::System(vec![ty("Patient"), ty("Observation")]);
    let by_id = f
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
        let page = f.search.search(&two, &q).await.expect("page");
        seen.extend(page.matches.iter().map(|m| m.id.to_string()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9, "{seen:?}");
    let unknown = f.search.search(&two, &query(&[("gender", "male")])).await;
    assert_eq!(
        unknown
            .expect_err("gender is not an Observation parameter")
            .kind(),
        IssueKind::Invalid
    );
}

#[tokio::test]
async fn compartment_search_follows_the_compartment_definition() {
    let f = loaded().await;
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
    let observations = f
        .search
        .search(&in_compartment(Some("Observation")), &query(&[]))
        .await
        .expect("search");
    assert_eq!(
        ids(observations),
        ["o1", "o3"],
        "Group/p1 is not the patient"
    );
    let weights = f
        .search
        .search(
            &in_compartment(Some("Observation")),
            &query(&[("code", "29463-7")]),
        )
        .await
        .expect("search");
    assert_eq!(ids(weights), ["o1"]);
    let itself = f
        .search
        .search(&in_compartment(Some("Patient")), &query(&[]))
        .await
        .expect("search");
    assert_eq!(ids(itself), ["p1"]);
    let everything = f
        .search
        .search(&in_compartment(None), &query(&[]))
        .await
        .expect("search");
    assert_eq!(everything.total, Some(3));
    let outside = f
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
    let unknown = f.search.search(&encounter, &query(&[])).await;
    assert_eq!(
        unknown.expect_err("no definition").kind(),
        IssueKind::NotFound
    );
}

#[test]
fn supported_params_cover_the_searchable_kinds() {
    let f = fixture();
    let params = f
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
    assert!(find("code-value-quantity").is_some_and(|p| p.kind == "composite"));
    assert!(find("_text").is_some() && find("_content").is_some());
}
