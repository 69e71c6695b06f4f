//! Issue 6 (partial): search over HTTP: parameter types, paging, chains, `_has`, includes,
//! system and compartment search, `Prefer: handling=lenient`, `_summary=count`.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, send};

async fn put(server: &TestServer, resource: Value) {
    let path = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    let (status, body) = server.put(&path, &resource).await;
    assert!(status == 200 || status == 201, "{body}");
}

async fn seeded() -> TestServer {
    let server = TestServer::start().await;
    put(
        &server,
        json!({"resourceType": "Organization", "id": "org1", "name": "General Hospital"}),
    )
    .await;
    put(
        &server,
        json!({"resourceType": "Organization", "id": "org2", "name": "Other Clinic"}),
    )
    .await;
    for (id, family, org, birth) in [
        ("p1", "Smith", "org1", "1970-01-01"),
        ("p2", "Smithson", "org2", "1985-06-15"),
        ("p3", "Jones", "org1", "2001-03-03"),
    ] {
        put(&server, json!({"resourceType": "Patient", "id": id, "name": [{"family": family}], "birthDate": birth,
            "managingOrganization": {"reference": format!("Organization/{org}")}})).await;
    }
    for (id, patient, code, value) in [
        ("o1", "p1", "29463-7", 70),
        ("o2", "p1", "8867-4", 60),
        ("o3", "p2", "29463-7", 90),
        ("o4", "p3", "8867-4", 75),
    ] {
        put(&server, json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "kg"}})).await;
    }
    server
}

fn ids(bundle: &Value, mode: &str) -> Vec<String> {
    let mut out: Vec<String> = bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap(),
                        e["resource"]["id"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn search(server: &TestServer, path: &str) -> Value {
    let (status, bundle) = server.get(path).await;
    assert_eq!(status, 200, "{path}: {bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle
}

#[tokio::test]
async fn searches_by_parameter_types_and_pages() {
    let server = seeded().await;
    assert_eq!(
        ids(&search(&server, "Patient?name=smith").await, "match"),
        ["Patient/p1", "Patient/p2"]
    );
    assert_eq!(
        ids(&search(&server, "Patient?name:exact=Smith").await, "match"),
        ["Patient/p1"]
    );
    assert_eq!(
        ids(
            &search(&server, "Patient?birthdate=ge1980&birthdate=lt2000").await,
            "match"
        ),
        ["Patient/p2"]
    );
    assert_eq!(
        ids(
            &search(&server, "Observation?code=http://loinc.org|29463-7").await,
            "match"
        ),
        ["Observation/o1", "Observation/o3"]
    );
    assert_eq!(
        ids(
            &search(
                &server,
                "Observation?subject=Patient/p1&value-quantity=gt65"
            )
            .await,
            "match"
        ),
        ["Observation/o1"]
    );
    assert_eq!(
        ids(&search(&server, "Observation?patient=p3").await, "match"),
        ["Observation/o4"]
    );

    let first = search(&server, "Observation?_count=3").await;
    assert_eq!(first["total"], 4);
    assert_eq!(first["entry"].as_array().unwrap().len(), 3);
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap();
    let second = search(&server, next.strip_prefix(&server.base).unwrap()).await;
    assert_eq!(second["entry"].as_array().unwrap().len(), 1);

    let count = search(&server, "Observation?_summary=count").await;
    assert_eq!(count["total"], 4);
    assert!(count.get("entry").is_none());
    let form = server
        .request(Method::POST, "Patient/_search")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("family=jones");
    let (status, bundle) = send(form).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&bundle, "match"), ["Patient/p3"]);
}

#[tokio::test]
async fn chains_and_reverse_chains() {
    let server = seeded().await;
    assert_eq!(
        ids(
            &search(&server, "Observation?subject:Patient.name=jones").await,
            "match"
        ),
        ["Observation/o4"]
    );
    assert_eq!(
        ids(
            &search(&server, "Observation?patient.family=smithson").await,
            "match"
        ),
        ["Observation/o3"]
    );
    let two_levels = search(
        &server,
        "Observation?subject:Patient.organization.name=general",
    )
    .await;
    assert_eq!(
        ids(&two_levels, "match"),
        ["Observation/o1", "Observation/o2", "Observation/o4"]
    );
    assert!(
        ids(
            &search(&server, "Observation?subject:Patient.name=nobody").await,
            "match"
        )
        .is_empty()
    );
    let has = search(&server, "Patient?_has:Observation:patient:code=8867-4").await;
    assert_eq!(ids(&has, "match"), ["Patient/p1", "Patient/p3"]);
    let nested = search(
        &server,
        "Organization?_has:Patient:organization:_has:Observation:patient:code=29463-7",
    )
    .await;
    assert_eq!(
        ids(&nested, "match"),
        ["Organization/org1", "Organization/org2"]
    );
    let (status, outcome) = server.get("Observation?status.name=x").await;
    assert_eq!(status, 400, "{outcome}");
}

#[tokio::test]
async fn includes_and_revincludes() {
    let server = seeded().await;
    let bundle = search(
        &server,
        "Observation?code=29463-7&_include=Observation:subject",
    )
    .await;
    assert_eq!(ids(&bundle, "match"), ["Observation/o1", "Observation/o3"]);
    assert_eq!(ids(&bundle, "include"), ["Patient/p1", "Patient/p2"]);
    let iterated = search(
        &server,
        "Observation?_id=o1&_include=Observation:subject&_include:iterate=Patient:organization",
    )
    .await;
    assert_eq!(
        ids(&iterated, "include"),
        ["Organization/org1", "Patient/p1"]
    );
    let reverse = search(&server, "Patient?_id=p1&_revinclude=Observation:subject").await;
    assert_eq!(
        ids(&reverse, "include"),
        ["Observation/o1", "Observation/o2"]
    );
    let all = search(&server, "Patient?_id=p3&_include=*").await;
    assert_eq!(ids(&all, "include"), ["Organization/org1"]);
    let (status, _) = server.get("Patient?_include=Patient:name").await;
    assert_eq!(status, 400, "name is not a reference parameter");
}

#[tokio::test]
async fn system_and_compartment_search() {
    let server = seeded().await;
    let both = search(&server, "?_type=Patient,Organization&_id=p1,org2").await;
    assert_eq!(ids(&both, "match"), ["Organization/org2", "Patient/p1"]);
    let everything = search(&server, "?_count=100").await;
    assert_eq!(everything["total"], 9);
    let form = server
        .request(Method::POST, "_search")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("_id=o4");
    let (status, bundle) = send(form).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&bundle, "match"), ["Observation/o4"]);

    let compartment = search(&server, "Patient/p1/Observation").await;
    assert_eq!(
        ids(&compartment, "match"),
        ["Observation/o1", "Observation/o2"]
    );
    let filtered = search(&server, "Patient/p1/Observation?code=8867-4").await;
    assert_eq!(ids(&filtered, "match"), ["Observation/o2"]);
    let record = search(&server, "Patient/p1/*").await;
    assert_eq!(
        ids(&record, "match"),
        ["Observation/o1", "Observation/o2", "Patient/p1"]
    );
    let (status, _) = server.get("Patient/p1/Organization").await;
    assert_eq!(
        status, 400,
        "Organization is not in the Patient compartment"
    );
}

#[tokio::test]
async fn lenient_handling_reports_ignored_parameters() {
    let server = seeded().await;
    let (status, outcome) = server.get("Patient?shoe-size=44&family=jones").await;
    assert_eq!(status, 400);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let lenient = server
        .request(Method::GET, "Patient?shoe-size=44&family=jones")
        .header("prefer", "handling=lenient");
    let (status, bundle) = send(lenient).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&bundle, "match"), ["Patient/p3"]);
    let outcome = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .unwrap();
    assert!(outcome["resource"].to_string().contains("shoe-size"));
    let self_link = bundle["link"][0]["url"].as_str().unwrap();
    assert!(
        self_link.contains("family=jones") && !self_link.contains("shoe-size"),
        "{self_link}"
    );
}
