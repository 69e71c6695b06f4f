//! Issue 6: `_sort`, `previous` links, composite parameters, `_text`/`_content`, `_list`
//! and `near` over HTTP.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, assert_outcome, send};

async fn put(server: &TestServer, resource: Value) {
    let path = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    let (status, body) = server.put(&path, &resource).await;
    assert!(status == 200 || status == 201, "{body}");
}

async fn patients(server: &TestServer) {
    for (id, family, given, birth, gender) in [
        ("p1", "Müller", "Anna", Some("1980-05-12"), Some("female")),
        ("p2", "Muller", "Bob", Some("1990"), Some("male")),
        ("p3", "Smith", "Carl", None, None),
        ("p4", "Smithson", "Dora", Some("2000-06-15"), Some("male")),
        ("p5", "Jones", "Eve", Some("2010-02-03"), Some("female")),
    ] {
        let mut patient = json!({"resourceType": "Patient", "id": id,
            "name": [{"family": family, "given": [given]}]});
        if let Some(birth) = birth {
            patient["birthDate"] = json!(birth);
        }
        if let Some(gender) = gender {
            patient["gender"] = json!(gender);
        }
        put(server, patient).await;
    }
}

/// The matches' `Type/id`, in bundle order.
fn matches(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_owned())
}

async fn search(server: &TestServer, path: &str) -> Value {
    let (status, bundle) = server.get(path).await;
    assert_eq!(status, 200, "{path}: {bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle
}

async fn follow(server: &TestServer, url: &str) -> Value {
    search(server, url.strip_prefix(&server.base).unwrap()).await
}

#[tokio::test]
async fn sorts_on_several_keys_with_missing_values_last() {
    let server = TestServer::start().await;
    patients(&server).await;
    for (query, expected) in [
        ("_sort=birthdate", ["p1", "p2", "p4", "p5", "p3"]),
        ("_sort=-birthdate", ["p5", "p4", "p2", "p1", "p3"]),
        ("_sort=gender,-birthdate", ["p5", "p1", "p4", "p2", "p3"]),
        ("_sort=-family", ["p4", "p3", "p1", "p2", "p5"]),
        ("_sort=-_id", ["p5", "p4", "p3", "p2", "p1"]),
        ("_sort=_lastUpdated", ["p1", "p2", "p3", "p4", "p5"]),
    ] {
        let bundle = search(&server, &format!("Patient?{query}")).await;
        assert_eq!(matches(&bundle), expected, "{query}");
        let self_link = link(&bundle, "self").unwrap();
        assert!(self_link.contains("_sort="), "{self_link}");
    }
    let (status, outcome) = server.get("Patient?_sort=shoe-size").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "shoe-size");
    let (status, outcome) = server.get("Observation?_sort=code-value-quantity").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "code-value-quantity");
    let (status, outcome) = server.get("?_sort=birthdate").await;
    assert_eq!(status, 400, "not every type has a birthdate");
    assert_outcome(&outcome, "birthdate");
    let lenient = server
        .request(Method::GET, "Patient?_sort=shoe-size&family=smith")
        .header("prefer", "handling=lenient");
    let (status, bundle) = send(lenient).await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(matches(&bundle), ["p3", "p4"]);
}

#[tokio::test]
async fn sorted_paging_links_survive_writes_in_both_directions() {
    let server = TestServer::start().await;
    patients(&server).await;
    let first = search(&server, "Patient?_sort=-birthdate&_count=2").await;
    assert_eq!(matches(&first), ["p5", "p4"]);
    assert_eq!(first["total"], 5);
    assert!(link(&first, "previous").is_none());
    assert!(link(&first, "first").is_none());
    let second_url = link(&first, "next").unwrap();
    let second = follow(&server, &second_url).await;
    assert_eq!(matches(&second), ["p2", "p1"]);
    assert!(link(&second, "first").is_some());
    // Writes before the page's position (a new match, an update of a match on page one)
    // do not move it.
    put(
        &server,
        json!({"resourceType": "Patient", "id": "p6", "birthDate": "2005"}),
    )
    .await;
    put(
        &server,
        json!({"resourceType": "Patient", "id": "p4", "birthDate": "2001", "gender": "male"}),
    )
    .await;
    let again = follow(&server, &second_url).await;
    assert_eq!(matches(&again), ["p2", "p1"]);
    let previous = follow(&server, &link(&again, "previous").unwrap()).await;
    assert_eq!(matches(&previous), ["p6", "p4"]);
    let start = follow(&server, &link(&previous, "previous").unwrap()).await;
    assert_eq!(matches(&start), ["p5", "p6"]);
    assert!(link(&start, "previous").is_none());
    let last = follow(&server, &link(&again, "next").unwrap()).await;
    assert_eq!(matches(&last), ["p3"]);
    assert!(link(&last, "next").is_none());
    let (status, outcome) = server.get("Patient?_sort=-birthdate&_cursor=nbogus").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "cursor");
}

#[tokio::test]
async fn previous_links_in_the_default_order() {
    let server = TestServer::start().await;
    patients(&server).await;
    let first = search(&server, "Patient?_count=2").await;
    let second = follow(&server, &link(&first, "next").unwrap()).await;
    let third = follow(&server, &link(&second, "next").unwrap()).await;
    assert_eq!(matches(&third), ["p5"]);
    let back = follow(&server, &link(&third, "previous").unwrap()).await;
    assert_eq!(matches(&back), ["p3", "p4"]);
    let start = follow(&server, &link(&back, "previous").unwrap()).await;
    assert_eq!(matches(&start), ["p1", "p2"]);
    assert!(link(&start, "previous").is_none());
}

fn blood_pressure(id: &str, systolic: f64, diastolic: f64) -> Value {
    let component = |code: &str, value: f64| {
        json!({"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}})
    };
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "component": [component("8480-6", systolic), component("8462-4", diastolic)]})
}

#[tokio::test]
async fn composite_parameters_keep_their_parts_together() {
    let server = TestServer::start().await;
    put(&server, blood_pressure("bp1", 150.0, 95.0)).await;
    put(&server, blood_pressure("bp2", 118.0, 150.0)).await;
    put(
        &server,
        json!({"resourceType": "Observation", "id": "w1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "valueQuantity": {"value": 72.5, "system": "http://unitsofmeasure.org", "code": "kg"}}),
    )
    .await;
    put(&server, json!({"resourceType": "Observation", "id": "s1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]}}))
    .await;
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    for (query, expected) in [
        // Only bp1 has a systolic value over 140 (bp2's 150 is its diastolic value).
        (
            "component-code-value-quantity=http://loinc.org|8480-6$gt140",
            vec!["bp1"],
        ),
        (
            "component-code-value-quantity=8462-4$ge150|http://unitsofmeasure.org|mm[Hg]",
            vec!["bp2"],
        ),
        ("component-code-value-quantity=8462-4$ge150||kg", vec![]),
        (
            "combo-code-value-quantity=8480-6$lt120,29463-7$72.5",
            vec!["bp2", "w1"],
        ),
        (
            "code-value-quantity=http://loinc.org|29463-7$gt70||kg",
            vec!["w1"],
        ),
        ("code-value-quantity=29463-7$lt70", vec![]),
        (
            "code-value-concept=72166-2$http://snomed.info/sct|8517006",
            vec!["s1"],
        ),
        ("code-value-concept:missing=false", vec!["s1"]),
    ] {
        let bundle = search(&server, &format!("Observation?{query}")).await;
        assert_eq!(sorted(matches(&bundle)), expected, "{query}");
    }
    for bad in [
        "component-code-value-quantity=8480-6",
        "component-code-value-quantity=8480-6$xx140",
        "component-code-value-quantity:exact=8480-6$140",
    ] {
        let (status, outcome) = server.get(&format!("Observation?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert_outcome(&outcome, "component-code-value-quantity");
    }
}

#[tokio::test]
async fn list_members_by_list_id() {
    let server = TestServer::start().await;
    patients(&server).await;
    put(
        &server,
        json!({"resourceType": "List", "id": "ward", "status": "current", "mode": "working",
        "entry": [{"item": {"reference": "Patient/p1"}}, {"item": {"reference": "Patient/p4"}},
            {"item": {"reference": "Patient/p5"}, "deleted": true},
            {"item": {"reference": "Organization/o1"}}]}),
    )
    .await;
    put(
        &server,
        json!({"resourceType": "List", "id": "other", "status": "current", "mode": "working",
        "entry": [{"item": {"reference": "Patient/p2"}}]}),
    )
    .await;
    let mut by_id = search(&server, "Patient?_list=ward").await;
    assert_eq!(matches(&by_id), ["p1", "p4"]);
    by_id = search(&server, "Patient?_list=List/ward&gender=male").await;
    assert_eq!(matches(&by_id), ["p4"]);
    let either = search(&server, "Patient?_list=ward,other&_sort=_id").await;
    assert_eq!(matches(&either), ["p1", "p2", "p4"]);
    let both = search(&server, "Patient?_list=ward&_list=other").await;
    assert!(matches(&both).is_empty());
    let missing = search(&server, "Patient?_list=nowhere").await;
    assert_eq!(missing["total"], 0);
    let self_link = link(&by_id, "self").unwrap();
    assert!(self_link.contains("_list="), "{self_link}");
    let (status, outcome) = server.get("Patient?_list=$current-allergies").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "_list");
    let (status, outcome) = server.get("?_list=ward").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "_list");
}

#[tokio::test]
async fn full_text_over_narrative_and_content() {
    let server = TestServer::start().await;
    put(&server, json!({"resourceType": "Condition", "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Congestive <b>heart</b> failure, seen at the Hôpital</p></div>"},
        "code": {"text": "CHF"}}))
    .await;
    put(&server, json!({"resourceType": "Condition", "id": "c2",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84114007", "display": "Heart failure"}]},
        "note": [{"text": "Patient reports shortness of breath"}]}))
    .await;
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    for (query, expected) in [
        ("_text=heart", vec!["c1"]),
        ("_text=HEART%20FAIL", vec!["c1"]),
        ("_text=hopital", vec!["c1"]),
        ("_text=breath", vec![]),
        ("_content=heart%20failure", vec!["c1", "c2"]),
        ("_content=breath", vec!["c2"]),
        ("_content=snomed", vec![]),
        ("_content=chf,shortness", vec!["c1", "c2"]),
        ("_content=heart&_content=breath", vec!["c2"]),
        ("_text=heart&_sort=-_id", vec!["c1"]),
    ] {
        let bundle = search(&server, &format!("Condition?{query}")).await;
        assert_eq!(sorted(matches(&bundle)), expected, "{query}");
    }
    let everything = search(&server, "?_content=failure").await;
    assert_eq!(everything["total"], 2);
    // Updates and deletes reach the full-text index.
    put(
        &server,
        json!({"resourceType": "Condition", "id": "c1",
        "subject": {"reference": "Patient/p1"}, "code": {"text": "Asthma"}}),
    )
    .await;
    assert!(matches(&search(&server, "Condition?_text=heart").await).is_empty());
    let (status, _) = server.delete("Condition/c2").await;
    assert!(status == 200 || status == 204);
    assert!(matches(&search(&server, "Condition?_content=heart").await).is_empty());
    let (status, outcome) = server.get("Condition?_text=%22%2A%22").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "_text");
}

#[tokio::test]
async fn capability_statement_lists_the_new_parameters() {
    let server = TestServer::start().await;
    let (status, cs) = server.get("metadata").await;
    assert_eq!(status, 200);
    let observation = cs["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Observation")
        .unwrap();
    let params: Vec<(&str, &str)> = observation["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["type"].as_str().unwrap()))
        .collect();
    for expected in [
        ("component-code-value-quantity", "composite"),
        ("_text", "string"),
        ("_content", "string"),
        ("_list", "special"),
    ] {
        assert!(params.contains(&expected), "{expected:?} in {params:?}");
    }
    let location = cs["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Location")
        .unwrap();
    assert!(
        location["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "near" && p["type"] == "special")
    );
}

#[tokio::test]
async fn near_finds_positions_within_a_distance() {
    let server = TestServer::start().await;
    for (id, position) in [
        ("paris", Some((48.8566, 2.3522))),
        ("versailles", Some((48.8049, 2.1204))),
        ("london", Some((51.5074, -0.1278))),
        ("sydney", Some((-33.8688, 151.2093))),
        ("nowhere", None),
    ] {
        let mut location = json!({"resourceType": "Location", "id": id, "name": id});
        if let Some((latitude, longitude)) = position {
            location["position"] = json!({"latitude": latitude, "longitude": longitude});
        }
        put(&server, location).await;
    }
    for (id, location) in [("near-paris", "versailles"), ("far", "london")] {
        put(
            &server,
            json!({"resourceType": "PractitionerRole", "id": id,
            "location": [{"reference": format!("Location/{location}")}]}),
        )
        .await;
    }
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    // Versailles is 17.4 km from Paris, London 343.5 km.
    for (query, expected) in [
        (
            "Location?near=48.8566|2.3522|20|km",
            vec!["paris", "versailles"],
        ),
        ("Location?near=48.8566|2.3522|10", vec!["paris"]),
        (
            "Location?near=48.8566|2.3522|344|km",
            vec!["london", "paris", "versailles"],
        ),
        (
            "Location?near=48.8566|2.3522|343|km",
            vec!["paris", "versailles"],
        ),
        (
            "Location?near=48.8566|2.3522|200|[mi_i]",
            vec!["paris", "versailles"],
        ),
        ("Location?near=48.8566|2.3522|15000|m", vec!["paris"]),
        ("Location?near=48.8566|2.3522", vec!["paris"]),
        (
            "Location?near=48.8566|2.3522|20|km,-33.87|151.21|5|km",
            vec!["paris", "sydney", "versailles"],
        ),
        (
            "Location?near=48.8566|2.3522|400&near=51.5|-0.12|20",
            vec!["london"],
        ),
        ("Location?near:missing=true", vec!["nowhere"]),
        (
            "PractitionerRole?location.near=48.8566|2.3522|20|km",
            vec!["near-paris"],
        ),
    ] {
        let bundle = search(
            &server,
            &query
                .replace('|', "%7C")
                .replace('[', "%5B")
                .replace(']', "%5D"),
        )
        .await;
        assert_eq!(sorted(matches(&bundle)), expected, "{query}");
    }
    let paris = search(
        &server,
        "Location?near=48.8566%7C2.3522%7C20%7Ckm&_total=accurate",
    )
    .await;
    assert_eq!(paris["total"], 2);
    // A move is searched where it moved to.
    put(
        &server,
        json!({"resourceType": "Location", "id": "paris", "name": "moved",
        "position": {"latitude": -33.87, "longitude": 151.2}}),
    )
    .await;
    let bundle = search(&server, "Location?near=48.8566%7C2.3522%7C20%7Ckm").await;
    assert_eq!(matches(&bundle), ["versailles"]);
    for bad in ["91%7C0", "1%7C2%7C3%7Cfurlong", "x%7C2", "1%7C2%7C-1"] {
        let (status, outcome) = server.get(&format!("Location?near={bad}")).await;
        assert_eq!(status, 400, "{bad}: {outcome}");
        assert_outcome(&outcome, "near");
    }
}
