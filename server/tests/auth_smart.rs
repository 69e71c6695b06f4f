//! SMART on FHIR authorization over HTTP (issue 9): tokens of an external authorization
//! server (a JWK Set served on loopback by the test), every token attack, scopes, and
//! patient-compartment confinement across reads, searches, includes, chains, `_has`,
//! bundles and history. Tokens never reach the logs.

mod support;

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use serde_json::{Value, json};
use support::auth::{
    AUDIENCE, ISSUER, auth_file, call, claims, entry_ids, now, rsa_jwks, serve_jwks, sign,
    sign_with,
};
use support::{TestServer, assert_outcome, send};

struct Setup {
    server: TestServer,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A SMART server trusting the test issuer, with two patients' records:
/// Patient p1 (Observations o1 lab, o1v vital signs, performer Practitioner pr1) and
/// Patient p2 (Observation o2).
async fn setup() -> Setup {
    let jwks_url = serve_jwks(rsa_jwks()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let server = TestServer::start_logged(
        &data,
        &[
            "--auth",
            "smart",
            "--smart-issuer",
            ISSUER,
            "--smart-jwks-url",
            &jwks_url,
            "--smart-audience",
            AUDIENCE,
        ],
        "debug",
        Some(&log),
    )
    .await;
    let admin = sign(&claims("system/*.cruds", None));
    let category = |code: &str| {
        json!([{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code}]}])
    };
    let resources = [
        json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Alpha"}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Beta"}]}),
        json!({"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Doc"}]}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "category": category("laboratory"), "code": {"text": "a"},
            "subject": {"reference": "Patient/p1"}, "performer": [{"reference": "Practitioner/pr1"}]}),
        json!({"resourceType": "Observation", "id": "o1v", "status": "final",
            "category": category("vital-signs"), "code": {"text": "b"},
            "subject": {"reference": "Patient/p1"}}),
        json!({"resourceType": "Observation", "id": "o2", "status": "final",
            "category": category("laboratory"), "code": {"text": "c"},
            "subject": {"reference": "Patient/p2"}}),
    ];
    for r in resources {
        let path = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        let (status, body) = call(&server, Method::PUT, &path, &admin, Some(&r)).await;
        assert_eq!(status, 201, "{body}");
    }
    Setup {
        server,
        log,
        _dir: dir,
    }
}

fn assert_challenge(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["code"], "login");
}

async fn get_as(s: &Setup, token: &str, path: &str) -> (u16, Value) {
    call(&s.server, Method::GET, path, token, None).await
}

#[tokio::test]
async fn rejects_missing_malformed_and_forged_tokens() {
    let s = setup().await;
    // Missing: 401 with a Bearer challenge and an OperationOutcome.
    let response = s
        .server
        .request(Method::GET, "Patient/p1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_outcome(&body, "access token");
    // Not a bearer scheme.
    let (status, body) = send(
        s.server
            .request(Method::GET, "Patient/p1")
            .header("authorization", "Basic dXNlcjpwYXNz"),
    )
    .await;
    assert_challenge(status, &body);

    let valid = claims("system/*.rs", None);
    let mut attacks: Vec<(&str, String)> = vec![
        ("malformed", "not.a.jwt".to_owned()),
        ("garbage", "x".repeat(40)),
    ];
    let mut expired = valid.clone();
    expired["exp"] = json!(now() - 3600);
    attacks.push(("expired", sign(&expired)));
    let mut early = valid.clone();
    early["nbf"] = json!(now() + 3600);
    attacks.push(("nbf in the future", sign(&early)));
    let mut wrong_aud = valid.clone();
    wrong_aud["aud"] = json!("https://other.test");
    attacks.push(("wrong audience", sign(&wrong_aud)));
    let mut wrong_iss = valid.clone();
    wrong_iss["iss"] = json!("https://evil.test");
    attacks.push(("wrong issuer", sign(&wrong_iss)));
    let rsa = EncodingKey::from_rsa_pem(auth_file("rsa-private.pem").as_bytes()).unwrap();
    attacks.push((
        "unknown kid",
        sign_with(&valid, Algorithm::RS384, "no-such-key", &rsa),
    ));
    // alg none: header {"alg":"none"}, no signature.
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    attacks.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": "test-rsa"})),
            b64(&valid)
        ),
    ));
    // HS256 with the public key as the HMAC secret (algorithm confusion).
    let public_pem = auth_file("rsa-public.pem");
    attacks.push((
        "HS256 signed with the public key",
        sign_with(
            &valid,
            Algorithm::HS256,
            "test-rsa",
            &EncodingKey::from_secret(public_pem.as_bytes()),
        ),
    ));
    // Tampered payload: a valid token's payload swapped for a wider grant.
    let genuine = sign(&claims("system/Patient.r", None));
    let parts: Vec<&str> = genuine.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims("system/*.cruds", None)),
        parts[2]
    );
    attacks.push(("tampered payload", tampered));
    for (name, token) in &attacks {
        let (status, body) = get_as(&s, token, "Patient/p1").await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_challenge(status, &body);
        assert!(!body.to_string().contains("Alpha"), "{name} leaked data");
    }
    // The genuine narrow token still works: the server is not just refusing everything.
    let (status, body) = get_as(&s, &genuine, "Patient/p1").await;
    assert_eq!(status, 200, "{body}");
    // No token reaches the logs.
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(!log.is_empty(), "the server logged nothing at debug level");
    for (name, token) in attacks.iter().chain([("genuine", genuine.clone())].iter()) {
        let signature = token.rsplit('.').next().unwrap_or(token);
        if signature.len() > 8 {
            assert!(!log.contains(signature), "{name} token in the log");
        }
        assert!(!log.contains(token.as_str()), "{name} token in the log");
    }
}

#[tokio::test]
async fn discovery_and_capability_need_no_token() {
    let s = setup().await;
    let (status, config) = s.server.get(".well-known/smart-configuration").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["issuer"], ISSUER);
    assert!(
        config["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("permission-v2"))
    );
    let (status, statement) = s.server.get("metadata").await;
    assert_eq!(status, 200);
    let security = &statement["rest"][0]["security"];
    assert_eq!(
        security["service"][0]["coding"][0]["code"], "SMART-on-FHIR",
        "{security}"
    );
}

#[tokio::test]
async fn scopes_limit_interactions_and_types() {
    let s = setup().await;
    let read_obs = sign(&claims("user/Observation.rs", None));
    assert_eq!(get_as(&s, &read_obs, "Observation/o2").await.0, 200);
    let (status, body) = get_as(&s, &read_obs, "Patient/p1").await;
    assert_eq!(status, 403, "{body}");
    assert_outcome(&body, "Patient");
    // Writing with a read scope.
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    let (status, body) = call(
        &s.server,
        Method::POST,
        "Observation",
        &read_obs,
        Some(&obs),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // A chain through a type the token cannot search.
    let (status, body) = get_as(&s, &read_obs, "Observation?subject:Patient.family=Beta").await;
    assert_eq!(status, 403, "{body}");
    // _has over a type the token cannot search.
    let read_patients = sign(&claims("user/Patient.rs", None));
    let (status, body) = get_as(
        &s,
        &read_patients,
        "Patient?_has:Observation:subject:code:text=c",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // _include of a type the token cannot read.
    let (status, body) = get_as(&s, &read_obs, "Observation?_include=Observation:subject").await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.to_string().contains("Alpha"));
    // History of a type not granted.
    assert_eq!(get_as(&s, &read_obs, "Patient/_history").await.0, 403);
    // v1 write scope: create allowed, read not.
    let write_obs = sign(&claims("user/Observation.write", None));
    let (status, body) = call(
        &s.server,
        Method::POST,
        "Observation",
        &write_obs,
        Some(&obs),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(get_as(&s, &write_obs, "Observation/o1").await.0, 403);
    // Granular scope: only laboratory Observations.
    let labs = sign(&claims("user/Observation.rs?category=laboratory", None));
    assert_eq!(get_as(&s, &labs, "Observation/o1").await.0, 200);
    assert_eq!(get_as(&s, &labs, "Observation/o1v").await.0, 404);
    let (status, bundle) = get_as(&s, &labs, "Observation?subject=Patient/p1").await;
    assert_eq!(status, 200);
    assert_eq!(entry_ids(&bundle), ["Observation/o1"]);
}

#[tokio::test]
async fn patient_scopes_confine_everything_to_the_compartment() {
    let s = setup().await;
    let p1 = sign(&claims("patient/*.rs launch/patient openid", Some("p1")));
    // Reads.
    assert_eq!(get_as(&s, &p1, "Patient/p1").await.0, 200);
    assert_eq!(get_as(&s, &p1, "Observation/o1").await.0, 200);
    let (status, body) = get_as(&s, &p1, "Observation/o2").await;
    assert!(status == 404 || status == 403, "{status} {body}");
    assert!(!body.to_string().contains("Patient/p2"));
    assert_eq!(get_as(&s, &p1, "Patient/p2").await.0, 404);
    assert_eq!(get_as(&s, &p1, "Observation/o2/_history/1").await.0, 404);
    // Searches are narrowed.
    let (_, bundle) = get_as(&s, &p1, "Observation").await;
    let mut ids = entry_ids(&bundle);
    ids.sort();
    assert_eq!(ids, ["Observation/o1", "Observation/o1v"]);
    let (_, bundle) = get_as(&s, &p1, "Patient").await;
    assert_eq!(entry_ids(&bundle), ["Patient/p1"]);
    // Includes: the other patient's resources never appear.
    let (_, bundle) = get_as(&s, &p1, "Patient?_revinclude=Observation:subject").await;
    let text = bundle.to_string();
    assert!(
        !text.contains("\"o2\"") && !text.contains("\"p2\""),
        "{text}"
    );
    let (status, bundle) = get_as(&s, &p1, "Observation?_include=*").await;
    assert_eq!(status, 200, "{bundle}");
    assert!(
        !bundle.to_string().contains("\"pr1\""),
        "outside the compartment"
    );
    // Chains and _has only see the compartment.
    let (_, bundle) = get_as(&s, &p1, "Observation?subject:Patient.family=Beta").await;
    assert!(entry_ids(&bundle).is_empty(), "{bundle}");
    let (_, bundle) = get_as(&s, &p1, "Patient?_has:Observation:subject:code:text=c").await;
    assert!(entry_ids(&bundle).is_empty(), "{bundle}");
    // Another patient's compartment, system search across types, system history.
    assert_eq!(get_as(&s, &p1, "Patient/p2/Observation").await.0, 403);
    let (status, bundle) = get_as(&s, &p1, "Patient/p1/Observation").await;
    assert_eq!(status, 200);
    assert_eq!(entry_ids(&bundle).len(), 2);
    let (status, bundle) = get_as(&s, &p1, "Patient/p1/*").await;
    assert_eq!(status, 200, "{bundle}");
    let mut ids = entry_ids(&bundle);
    ids.sort();
    assert_eq!(ids, ["Observation/o1", "Observation/o1v", "Patient/p1"]);
    assert_eq!(get_as(&s, &p1, "Patient/p2/*").await.0, 403);
    let (_, history) = get_as(&s, &p1, "_history").await;
    let text = history.to_string();
    assert!(
        text.contains("\"o1\"") && !text.contains("\"o2\""),
        "{text}"
    );
    let (_, history) = get_as(&s, &p1, "Observation/_history").await;
    assert!(!history.to_string().contains("\"o2\""));
    assert_eq!(get_as(&s, &p1, "Observation/o2/_history").await.0, 404);
}

#[tokio::test]
async fn patient_writes_are_checked_before_and_after() {
    let s = setup().await;
    let p1 = sign(&claims("patient/*.cruds", Some("p1")));
    let mine = json!({"resourceType": "Observation", "status": "final", "code": {"text": "n"},
        "subject": {"reference": "Patient/p1"}});
    let theirs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "n"},
        "subject": {"reference": "Patient/p2"}});
    assert_eq!(
        call(&s.server, Method::POST, "Observation", &p1, Some(&mine))
            .await
            .0,
        201
    );
    let (status, body) = call(&s.server, Method::POST, "Observation", &p1, Some(&theirs)).await;
    assert_eq!(status, 403, "{body}");
    // Moving one's own Observation to another patient (after) and rewriting another's (before).
    let mut moved = theirs.clone();
    moved["id"] = json!("o1");
    assert_eq!(
        call(&s.server, Method::PUT, "Observation/o1", &p1, Some(&moved))
            .await
            .0,
        403
    );
    let mut hijack = mine.clone();
    hijack["id"] = json!("o2");
    assert_eq!(
        call(&s.server, Method::PUT, "Observation/o2", &p1, Some(&hijack))
            .await
            .0,
        403
    );
    assert_eq!(
        call(&s.server, Method::DELETE, "Observation/o2", &p1, None)
            .await
            .0,
        403
    );
    // Conditional delete cannot reach the other patient's record.
    let (status, _) = call(
        &s.server,
        Method::DELETE,
        "Observation?code:text=c",
        &p1,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let admin = sign(&claims("system/*.rs", None));
    assert_eq!(
        get_as(&s, &admin, "Observation/o2").await.0,
        200,
        "o2 survived"
    );
    // Transaction and batch entries are checked one by one.
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": mine, "request": {"method": "POST", "url": "Observation"}},
        {"resource": theirs, "request": {"method": "POST", "url": "Observation"}}
    ]});
    let (status, body) = call(&s.server, Method::POST, "", &p1, Some(&transaction)).await;
    assert_eq!(status, 403, "{body}");
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/o2"}},
        {"request": {"method": "GET", "url": "Observation/o1"}},
        {"request": {"method": "GET", "url": "Observation?code:text=c"}}
    ]});
    let (status, body) = call(&s.server, Method::POST, "", &p1, Some(&batch)).await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> = body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap_or(""))
        .collect();
    assert!(statuses[0].starts_with("404"), "{statuses:?}");
    assert!(statuses[1].starts_with("200"), "{statuses:?}");
    assert!(!body.to_string().contains("Patient/p2"), "{body}");
    // $validate needs a write scope on the type.
    let reader = sign(&claims("patient/*.rs", Some("p1")));
    let (status, _) = call(
        &s.server,
        Method::POST,
        "Observation/$validate",
        &reader,
        Some(&mine),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &s.server,
        Method::POST,
        "Observation/$validate",
        &p1,
        Some(&mine),
    )
    .await;
    assert_eq!(status, 200);
}
