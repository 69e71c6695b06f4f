//! Issue 4: conditional create, update and delete (none, one and several matches) and
//! PATCH (JSON Patch and FHIRPath Patch), plain and conditional.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, assert_outcome, send};

fn patient(system: &str, value: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": system, "value": value}], "name": [{"family": "Cond", "given": ["A", "B"]}]})
}

async fn conditional_create(server: &TestServer, body: &Value, criteria: &str) -> (u16, Value) {
    let request = server
        .request(Method::POST, "Patient")
        .header("content-type", "application/fhir+json")
        .header("if-none-exist", criteria)
        .body(body.to_string());
    send(request).await
}

#[tokio::test]
async fn conditional_create_creates_once() {
    let server = TestServer::start().await;
    let body = patient("urn:sys", "1");
    let (status, first) = conditional_create(&server, &body, "identifier=urn:sys|1").await;
    assert_eq!(status, 201);
    let (status, second) = conditional_create(&server, &body, "Patient?identifier=urn:sys|1").await;
    assert_eq!(status, 200);
    assert_eq!(second["id"], first["id"]);
    server.post("Patient", &patient("urn:sys", "1")).await;
    let (status, outcome) = conditional_create(&server, &body, "identifier=urn:sys|1").await;
    assert_eq!(status, 412);
    assert_outcome(&outcome, "more than one");
    let (status, outcome) = conditional_create(&server, &body, "nonsense-param=1").await;
    assert_eq!(status, 400);
    assert_outcome(&outcome, "nonsense-param");
}

#[tokio::test]
async fn conditional_update_follows_the_match_rules() {
    let server = TestServer::start().await;
    let (status, created) = server
        .put("Patient?identifier=urn:sys|u1", &patient("urn:sys", "u1"))
        .await;
    assert_eq!(status, 201, "no match and no id: create");
    let id = created["id"].as_str().unwrap().to_owned();

    let mut changed = patient("urn:sys", "u1");
    changed["gender"] = json!("male");
    let (status, updated) = server.put("Patient?identifier=urn:sys|u1", &changed).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["meta"]["versionId"], "2");

    let mut wrong_id = changed.clone();
    wrong_id["id"] = json!("someone-else");
    let (status, _) = server.put("Patient?identifier=urn:sys|u1", &wrong_id).await;
    assert_eq!(status, 400, "one match with another id");

    let mut client_id = patient("urn:sys", "u2");
    client_id["id"] = json!("chosen-u2");
    let (status, created) = server
        .put("Patient?identifier=urn:sys|u2", &client_id)
        .await;
    assert_eq!(status, 201, "no match with an id: update as create");
    assert_eq!(created["id"], "chosen-u2");

    let mut existing_id = patient("urn:sys", "u3");
    existing_id["id"] = json!(id);
    let (status, _) = server
        .put("Patient?identifier=urn:sys|u3", &existing_id)
        .await;
    assert_eq!(status, 409, "no match but the id exists");

    server.post("Patient", &patient("urn:sys", "u1")).await;
    let (status, _) = server.put("Patient?identifier=urn:sys|u1", &changed).await;
    assert_eq!(status, 412, "several matches");
}

#[tokio::test]
async fn conditional_delete_follows_the_match_rules() {
    let server = TestServer::start().await;
    let (status, none) = server.delete("Patient?identifier=urn:sys|d0").await;
    assert_eq!(status, 200);
    assert_outcome(&none, "nothing deleted");
    let (_, created) = server.post("Patient", &patient("urn:sys", "d1")).await;
    let (status, _) = server.delete("Patient?identifier=urn:sys|d1").await;
    assert_eq!(status, 200);
    assert_eq!(
        server
            .get(&format!("Patient/{}", created["id"].as_str().unwrap()))
            .await
            .0,
        410
    );
    server.post("Patient", &patient("urn:sys", "d2")).await;
    server.post("Patient", &patient("urn:sys", "d2")).await;
    let (status, _) = server.delete("Patient?identifier=urn:sys|d2").await;
    assert_eq!(status, 412);
    let (status, _) = server.delete("Patient").await;
    assert_eq!(status, 400, "a conditional delete needs criteria");
}

async fn patch(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: &Value,
    if_match: Option<&str>,
) -> (u16, Value) {
    let mut request = server
        .request(Method::PATCH, path)
        .header("content-type", content_type)
        .body(body.to_string());
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    send(request).await
}

#[tokio::test]
async fn json_patch_and_fhirpath_patch() {
    let server = TestServer::start().await;
    let (_, created) = server.post("Patient", &patient("urn:sys", "p1")).await;
    let path = format!("Patient/{}", created["id"].as_str().unwrap());

    let ops = json!([{"op": "replace", "path": "/name/0/family", "value": "Patched"}, {"op": "add", "path": "/active", "value": true}]);
    let (status, patched) = patch(
        &server,
        &path,
        "application/json-patch+json",
        &ops,
        Some("W/\"1\""),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"][0]["family"], "Patched");
    assert_eq!(patched["active"], true);
    assert_eq!(patched["meta"]["versionId"], "2");

    let (status, _) = patch(
        &server,
        &path,
        "application/json-patch+json",
        &ops,
        Some("W/\"1\""),
    )
    .await;
    assert_eq!(status, 412);
    let failing_test = json!([{"op": "test", "path": "/gender", "value": "male"}]);
    assert_eq!(
        patch(
            &server,
            &path,
            "application/json-patch+json",
            &failing_test,
            None
        )
        .await
        .0,
        422
    );
    let breaks_schema = json!([{"op": "replace", "path": "/active", "value": "yes"}]);
    assert_eq!(
        patch(
            &server,
            &path,
            "application/json-patch+json",
            &breaks_schema,
            None
        )
        .await
        .0,
        422
    );
    let changes_id = json!([{"op": "replace", "path": "/id", "value": "other"}]);
    assert_eq!(
        patch(
            &server,
            &path,
            "application/json-patch+json",
            &changes_id,
            None
        )
        .await
        .0,
        400
    );

    let op = |parts: Value| json!({"name": "operation", "part": parts});
    let fhirpath_patch = json!({"resourceType": "Parameters", "parameter": [
        op(json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
                  {"name": "name", "valueString": "birthDate"}, {"name": "value", "valueDate": "1990-02-03"}])),
        op(json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Patient.name[0].given"},
                  {"name": "value", "valueString": "Z"}, {"name": "index", "valueInteger": 0}])),
        op(json!([{"name": "type", "valueCode": "move"}, {"name": "path", "valueString": "Patient.name[0].given"},
                  {"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 2}])),
        op(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.active"},
                  {"name": "value", "valueBoolean": false}])),
        op(json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.identifier.where(system='urn:sys')"}])),
        op(json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
                  {"name": "name", "valueString": "telecom"},
                  {"name": "value", "part": [{"name": "system", "valueCode": "phone"}, {"name": "value", "valueString": "555"}]}])),
    ]});
    let (status, patched) = patch(
        &server,
        &path,
        "application/fhir+json",
        &fhirpath_patch,
        None,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["birthDate"], "1990-02-03");
    assert_eq!(patched["name"][0]["given"], json!(["A", "B", "Z"]));
    assert_eq!(patched["active"], false);
    assert!(patched.get("identifier").is_none());
    assert_eq!(patched["telecom"][0]["value"], "555");

    let bad_path = json!({"resourceType": "Parameters", "parameter": [
        op(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.nothing"}, {"name": "value", "valueString": "x"}]))]});
    assert_eq!(
        patch(&server, &path, "application/fhir+json", &bad_path, None)
            .await
            .0,
        422
    );
    assert_eq!(
        patch(
            &server,
            &path,
            "application/fhir+json",
            &json!({"resourceType": "Patient"}),
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        patch(
            &server,
            "Patient/missing",
            "application/json-patch+json",
            &ops,
            None
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn conditional_patch_patches_the_single_match() {
    let server = TestServer::start().await;
    server.post("Patient", &patient("urn:sys", "cp")).await;
    let ops = json!([{"op": "add", "path": "/active", "value": false}]);
    let (status, patched) = patch(
        &server,
        "Patient?identifier=urn:sys|cp",
        "application/json-patch+json",
        &ops,
        None,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["active"], false);
    let (status, _) = patch(
        &server,
        "Patient?identifier=urn:sys|none",
        "application/json-patch+json",
        &ops,
        None,
    )
    .await;
    assert_eq!(status, 404);
}
