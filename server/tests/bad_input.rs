//! Issue 4: a corpus of bad requests. Each must get the expected 4xx with an
//! `OperationOutcome`, and none may change what is stored.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, send};

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
}

fn case(name: &'static str, method: Method, path: &str, body: Option<&str>, status: u16) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        content_type: Some("application/fhir+json"),
        headers: Vec::new(),
        body: body.map(|b| b.as_bytes().to_vec()),
        status,
    }
}

fn corpus(id: &str) -> Vec<Case> {
    let p = format!("Patient/{id}");
    let valid = json!({"resourceType": "Patient", "id": id, "gender": "male"}).to_string();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let mut cases = vec![
        case(
            "malformed json",
            Method::POST,
            "Patient",
            Some("{\"resourceType\": \"Patient\","),
            400,
        ),
        case(
            "truncated json",
            Method::PUT,
            &p,
            Some("{\"resourceType\": \"Pat"),
            400,
        ),
        case(
            "not an object",
            Method::POST,
            "Patient",
            Some("[1,2,3]"),
            400,
        ),
        case("empty body", Method::POST, "Patient", Some(""), 400),
        case(
            "no resourceType",
            Method::POST,
            "Patient",
            Some("{\"gender\": \"male\"}"),
            400,
        ),
        case(
            "resourceType not a string",
            Method::POST,
            "Patient",
            Some("{\"resourceType\": 5}"),
            400,
        ),
        case(
            "wrong resourceType",
            Method::POST,
            "Patient",
            Some("{\"resourceType\": \"Observation\"}"),
            400,
        ),
        case(
            "wrong resourceType on update",
            Method::PUT,
            &p,
            Some(&format!(
                "{{\"resourceType\": \"Observation\", \"id\": \"{id}\"}}"
            )),
            400,
        ),
        case(
            "unknown resourceType in body",
            Method::POST,
            "Patient",
            Some("{\"resourceType\": \"Nope\"}"),
            400,
        ),
        case("unknown type in url", Method::GET, "Nope/1", None, 404),
        case(
            "unknown type create",
            Method::POST,
            "Nope",
            Some("{\"resourceType\": \"Nope\"}"),
            404,
        ),
        case("lowercase type", Method::GET, "patient/1", None, 404),
        case(
            "invalid id in url",
            Method::GET,
            "Patient/bad_id!",
            None,
            400,
        ),
        case(
            "too long id",
            Method::PUT,
            &format!("Patient/{}", "a".repeat(65)),
            Some(&valid),
            400,
        ),
        case(
            "id mismatch",
            Method::PUT,
            "Patient/other-id",
            Some(&valid),
            400,
        ),
        case(
            "id not a string",
            Method::PUT,
            &p,
            Some("{\"resourceType\": \"Patient\", \"id\": 5}"),
            400,
        ),
        case(
            "schema: wrong type",
            Method::PUT,
            &p,
            Some(&format!(
                "{{\"resourceType\": \"Patient\", \"id\": \"{id}\", \"active\": \"yes\"}}"
            )),
            422,
        ),
        case(
            "schema: unknown element",
            Method::PUT,
            &p,
            Some(&format!(
                "{{\"resourceType\": \"Patient\", \"id\": \"{id}\", \"foo\": 1}}"
            )),
            422,
        ),
        case(
            "schema: bad code",
            Method::PUT,
            &p,
            Some(&format!(
                "{{\"resourceType\": \"Patient\", \"id\": \"{id}\", \"gender\": \"robot\"}}"
            )),
            422,
        ),
        case(
            "schema: bad date",
            Method::PUT,
            &p,
            Some(&format!(
                "{{\"resourceType\": \"Patient\", \"id\": \"{id}\", \"birthDate\": \"1990-13-45\"}}"
            )),
            422,
        ),
        case(
            "schema: missing required",
            Method::POST,
            "Observation",
            Some("{\"resourceType\": \"Observation\", \"status\": \"final\"}"),
            422,
        ),
        case("deep nesting", Method::POST, "Patient", Some(&deep), 400),
        case(
            "huge number",
            Method::PUT,
            &p,
            Some(&format!(
                "{{\"resourceType\": \"Patient\", \"id\": \"{id}\", \"multipleBirthInteger\": 1e400}}"
            )),
            400,
        ),
        case(
            "invalid since",
            Method::GET,
            "Patient/_history?_since=2024-99-01",
            None,
            400,
        ),
        case("invalid at", Method::GET, "_history?_at=soon", None, 400),
        case(
            "bad count",
            Method::GET,
            "Patient/_history?_count=many",
            None,
            400,
        ),
        case(
            "unknown history param",
            Method::GET,
            "Patient/_history?foo=bar",
            None,
            400,
        ),
        case(
            "bad summary",
            Method::GET,
            &format!("{p}?_summary=maybe"),
            None,
            400,
        ),
        case(
            "bad pretty",
            Method::GET,
            &format!("{p}?_pretty=yes"),
            None,
            400,
        ),
        case(
            "xml format",
            Method::GET,
            &format!("{p}?_format=xml"),
            None,
            406,
        ),
        case(
            "unknown format",
            Method::GET,
            &format!("{p}?_format=text/csv"),
            None,
            406,
        ),
        case(
            "version not a number",
            Method::GET,
            &format!("{p}/_history/abc"),
            None,
            404,
        ),
        case(
            "version zero",
            Method::GET,
            &format!("{p}/_history/0"),
            None,
            404,
        ),
        case("if-match garbage", Method::PUT, &p, Some(&valid), 400),
        case("stale if-match", Method::PUT, &p, Some(&valid), 412),
        case(
            "patch with bad json patch",
            Method::PATCH,
            &p,
            Some("{\"op\": \"replace\"}"),
            400,
        ),
        case(
            "patch removing required",
            Method::PATCH,
            &p,
            Some("[{\"op\": \"remove\", \"path\": \"/resourceType\"}]"),
            400,
        ),
        case("method not allowed", Method::DELETE, "metadata", None, 405),
        case("no route", Method::GET, "Patient/1/2/3/4", None, 404),
        case(
            "conditional delete without criteria",
            Method::DELETE,
            "Patient",
            None,
            400,
        ),
        case(
            "unknown search parameter",
            Method::GET,
            "Patient?shoe-size=42",
            None,
            400,
        ),
    ];
    let mut with = |mut c: Case, f: &dyn Fn(&mut Case)| {
        f(&mut c);
        cases.push(c);
    };
    with(
        case("xml body", Method::POST, "Patient", Some("<Patient/>"), 415),
        &|c| c.content_type = Some("application/fhir+xml"),
    );
    with(
        case("form body", Method::POST, "Patient", Some("a=b"), 415),
        &|c| c.content_type = Some("application/x-www-form-urlencoded"),
    );
    with(
        case(
            "no content type",
            Method::POST,
            "Patient",
            Some(&valid),
            415,
        ),
        &|c| c.content_type = None,
    );
    with(
        case("text body", Method::PUT, &p, Some(&valid), 415),
        &|c| c.content_type = Some("text/plain"),
    );
    with(case("accept xml", Method::GET, &p, None, 406), &|c| {
        c.headers.push(("accept", "application/fhir+xml".into()))
    });
    with(case("accept csv", Method::GET, &p, None, 406), &|c| {
        c.headers.push(("accept", "text/csv".into()))
    });
    with(
        case(
            "body too large",
            Method::POST,
            "Patient",
            Some(&format!(
                "{{\"resourceType\": \"Patient\", \"text\": \"{}\"}}",
                "x".repeat(2 * 1024 * 1024)
            )),
            413,
        ),
        &|_| {},
    );
    with(
        case("invalid utf-8", Method::POST, "Patient", None, 400),
        &|c| c.body = Some(b"{\"resourceType\": \"Patient\", \"gender\": \"\xff\"}".to_vec()),
    );
    with(
        case(
            "lone surrogate",
            Method::POST,
            "Patient",
            Some("{\"resourceType\": \"Patient\", \"gender\": \"\\udc00\"}"),
            400,
        ),
        &|_| {},
    );
    for c in cases.iter_mut() {
        match c.name {
            "if-match garbage" => c.headers.push(("if-match", "not-an-etag".into())),
            "stale if-match" => c.headers.push(("if-match", "W/\"42\"".into())),
            "patch with bad json patch" | "patch removing required" => {
                c.content_type = Some("application/json-patch+json")
            }
            _ => {}
        }
    }
    cases
}

async fn snapshot(server: &TestServer) -> Value {
    let (status, history) = server.get("_history?_count=1000").await;
    assert_eq!(status, 200);
    history["entry"].clone()
}

#[tokio::test]
async fn bad_requests_get_4xx_outcomes_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(data.path(), &["--max-body-bytes", "1048576"]).await;
    let (_, created) = server
        .post(
            "Patient",
            &json!({"resourceType": "Patient", "gender": "female"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let before = snapshot(&server).await;
    let cases = corpus(&id);
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    for c in cases {
        let mut request = server.client.request(c.method.clone(), server.url(&c.path));
        if let Some(ct) = c.content_type {
            request = request.header("content-type", ct);
        }
        for (k, v) in &c.headers {
            request = request.header(*k, v);
        }
        if let Some(body) = c.body.clone() {
            request = request.body(body);
        }
        let (status, body) = send(request).await;
        assert_eq!(status, c.status, "case '{}': {body}", c.name);
        assert_eq!(
            body["resourceType"], "OperationOutcome",
            "case '{}': {body}",
            c.name
        );
        assert_eq!(body["issue"][0]["severity"], "error", "case '{}'", c.name);
        assert!(
            !body["issue"][0]["diagnostics"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "case '{}'",
            c.name
        );
    }
    assert_eq!(snapshot(&server).await, before, "stored data changed");
    let (status, read) = server.get(&format!("Patient/{id}")).await;
    assert_eq!((status, read), (200, created));
}
