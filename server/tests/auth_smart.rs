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

/// `claims` with a `fhirUser` claim.
fn user_claims(scope: &str, patient: Option<&str>, fhir_user: Value) -> Value {
    let mut c = claims(scope, patient);
    c["fhirUser"] = fhir_user;
    c
}

#[tokio::test]
async fn fhir_user_must_reference_a_user_resource() {
    let s = setup().await;
    for bad in [
        json!("Observation/o1"),
        json!("Patient"),
        json!("Patient/p1/_history/1"),
        json!("ftp://ehr.test/Patient/p1"),
        json!(42),
    ] {
        let token = sign(&user_claims("user/*.rs", None, bad.clone()));
        let (status, body) = get_as(&s, &token, "Patient/p1").await;
        assert_challenge(status, &body);
        assert_outcome(&body, "fhirUser");
        assert!(!body.to_string().contains("Alpha"), "{bad} leaked data");
    }
    // A Patient user whose patient claim names someone else contradicts itself.
    let token = sign(&user_claims(
        "patient/*.rs",
        Some("p2"),
        json!("Patient/p1"),
    ));
    let (status, body) = get_as(&s, &token, "Patient/p2").await;
    assert_challenge(status, &body);
    // Relative and absolute references to each user type are accepted; a Practitioner
    // user gets what the user/ scopes grant, every patient's records included.
    for user in [
        "Practitioner/pr1",
        "https://ehr.test/fhir/Practitioner/pr1",
        "PractitionerRole/r1",
        "RelatedPerson/rp1",
        "Person/x1",
    ] {
        let token = sign(&user_claims("user/*.rs", None, json!(user)));
        let (status, body) = get_as(&s, &token, "Observation/o2").await;
        assert_eq!(status, 200, "{user}: {body}");
    }
    let doctor = sign(&user_claims("user/*.rs", None, json!("Practitioner/pr1")));
    let (_, bundle) = get_as(&s, &doctor, "Observation").await;
    assert_eq!(entry_ids(&bundle).len(), 3, "{bundle}");
}

#[tokio::test]
async fn fhir_user_patient_is_the_patient_context() {
    let s = setup().await;
    for user in ["Patient/p1", "https://fhir.test/Patient/p1"] {
        let token = sign(&user_claims("patient/*.rs", None, json!(user)));
        let (status, bundle) = get_as(&s, &token, "Observation").await;
        assert_eq!(status, 200, "{bundle}");
        let mut ids = entry_ids(&bundle);
        ids.sort();
        assert_eq!(ids, ["Observation/o1", "Observation/o1v"], "{user}");
        assert_eq!(get_as(&s, &token, "Observation/o2").await.0, 404);
        assert_eq!(get_as(&s, &token, "Patient/p1").await.0, 200);
    }
    // The patient claim and the same Patient as fhirUser agree.
    let token = sign(&user_claims(
        "patient/*.rs",
        Some("p1"),
        json!("Patient/p1"),
    ));
    assert_eq!(get_as(&s, &token, "Observation/o1").await.0, 200);
}

#[tokio::test]
async fn patient_scopes_without_a_patient_in_context_are_refused() {
    let s = setup().await;
    let no_context = [
        sign(&claims("patient/*.rs", None)),
        sign(&user_claims(
            "patient/*.rs user/Practitioner.rs",
            None,
            json!("Practitioner/pr1"),
        )),
    ];
    for token in &no_context {
        for path in ["Observation", "Observation/o1", "Patient/p1"] {
            let (status, body) = get_as(&s, token, path).await;
            assert_eq!(status, 403, "{path}: {body}");
            assert_outcome(&body, "patient in context");
            assert!(!body.to_string().contains("Alpha"));
        }
    }
    // Other scopes of the same token still work.
    assert_eq!(get_as(&s, &no_context[1], "Practitioner/pr1").await.0, 200);
}

#[tokio::test]
async fn a_patient_user_sees_only_their_own_data() {
    let s = setup().await;
    let me = sign(&user_claims("user/*.cruds", None, json!("Patient/p1")));
    let (_, bundle) = get_as(&s, &me, "Observation").await;
    let mut ids = entry_ids(&bundle);
    ids.sort();
    assert_eq!(ids, ["Observation/o1", "Observation/o1v"]);
    let (_, bundle) = get_as(&s, &me, "Patient").await;
    assert_eq!(entry_ids(&bundle), ["Patient/p1"]);
    assert_eq!(get_as(&s, &me, "Observation/o2").await.0, 404);
    assert_eq!(get_as(&s, &me, "Patient/p2").await.0, 404);
    // Not in the patient's compartment: the performing Practitioner.
    assert_eq!(get_as(&s, &me, "Practitioner/pr1").await.0, 404);
    assert_eq!(get_as(&s, &me, "Patient/p2/Observation").await.0, 403);
    let (_, bundle) = get_as(
        &s,
        &me,
        "Observation?_include=Observation:subject&_revinclude=Observation:subject",
    )
    .await;
    let text = bundle.to_string();
    assert!(
        !text.contains("\"o2\"") && !text.contains("\"p2\""),
        "{text}"
    );
    let (_, bundle) = get_as(&s, &me, "Observation?subject:Patient.family=Beta").await;
    assert!(entry_ids(&bundle).is_empty(), "{bundle}");
    let (_, history) = get_as(&s, &me, "_history").await;
    assert!(!history.to_string().contains("\"o2\""));
    // Writes: their own record only.
    let theirs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "n"},
        "subject": {"reference": "Patient/p2"}});
    let (status, body) = call(&s.server, Method::POST, "Observation", &me, Some(&theirs)).await;
    assert_eq!(status, 403, "{body}");
    let mine = json!({"resourceType": "Observation", "status": "final", "code": {"text": "n"},
        "subject": {"reference": "Patient/p1"}});
    let (status, body) = call(&s.server, Method::POST, "Observation", &me, Some(&mine)).await;
    assert_eq!(status, 201, "{body}");
}

/// Observations g0..g9 of Patient p1 (even laboratory, odd vital-signs) and one
/// social-history Observation: with the setup's o1 (lab, p1), o1v (vitals, p1) and o2
/// (lab, p2), 7 laboratory, 6 vital-signs and 1 social-history Observations.
async fn seed_categories(s: &Setup) {
    let admin = sign(&claims("system/*.cruds", None));
    let category = |code: &str| {
        json!([{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code}]}])
    };
    let mut resources: Vec<Value> = (0..10)
        .map(|i| {
            let code = if i % 2 == 0 {
                "laboratory"
            } else {
                "vital-signs"
            };
            json!({"resourceType": "Observation", "id": format!("g{i}"), "status": "final",
                "category": category(code), "code": {"text": format!("g{i}")},
                "subject": {"reference": "Patient/p1"}})
        })
        .collect();
    resources.push(
        json!({"resourceType": "Observation", "id": "social", "status": "final",
        "category": category("social-history"), "code": {"text": "s"},
        "subject": {"reference": "Patient/p1"}}),
    );
    for r in resources {
        let path = format!("Observation/{}", r["id"].as_str().unwrap());
        let (status, body) = call(&s.server, Method::PUT, &path, &admin, Some(&r)).await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Follows `next` links from `path`, returning every page's entry count, the first
/// page's total and the ids seen.
async fn pages(s: &Setup, token: &str, path: &str) -> (Vec<usize>, Option<u64>, Vec<String>) {
    let (status, first) = get_as(s, token, path).await;
    assert_eq!(status, 200, "{first}");
    let total = first["total"].as_u64();
    let (mut sizes, mut ids) = (Vec::new(), Vec::new());
    let mut page = first;
    loop {
        let found = entry_ids(&page);
        sizes.push(found.len());
        ids.extend(found);
        let next = page["link"].as_array().and_then(|links| {
            links
                .iter()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .map(str::to_owned)
        });
        let Some(next) = next else { break };
        let relative = next
            .strip_prefix(&s.server.url(""))
            .unwrap_or(&next)
            .to_owned();
        let (status, body) = get_as(s, token, &relative).await;
        assert_eq!(status, 200, "{body}");
        page = body;
        assert!(sizes.len() < 20, "paging does not end");
    }
    ids.sort();
    (sizes, total, ids)
}

#[tokio::test]
async fn granular_scopes_narrow_searches_to_full_pages_and_exact_totals() {
    let s = setup().await;
    seed_categories(&s).await;
    let labs = [
        "Observation/g0",
        "Observation/g2",
        "Observation/g4",
        "Observation/g6",
        "Observation/g8",
        "Observation/o1",
        "Observation/o2",
    ];
    // One granular scope: every page full, the total counts only laboratory results.
    let lab = sign(&claims("user/Observation.rs?category=laboratory", None));
    let (sizes, total, ids) = pages(&s, &lab, "Observation?_count=3&_total=accurate").await;
    assert_eq!((sizes, total), (vec![3, 3, 1], Some(7)));
    assert_eq!(ids, labs);
    // The same through the system search of one type.
    let (sizes, total, _) = pages(&s, &lab, "?_type=Observation&_count=3&_total=accurate").await;
    assert_eq!((sizes, total), (vec![3, 3, 1], Some(7)));
    // Patient-level: the compartment and the category together.
    let mine = sign(&claims(
        "patient/Observation.rs?category=laboratory",
        Some("p1"),
    ));
    let (sizes, total, ids) = pages(&s, &mine, "Observation?_count=4&_total=accurate").await;
    assert_eq!((sizes, total), (vec![4, 2], Some(6)));
    assert!(!ids.contains(&"Observation/o2".to_owned()));
    let (sizes, total, _) =
        pages(&s, &mine, "Patient/p1/Observation?_count=4&_total=accurate").await;
    assert_eq!((sizes, total), (vec![4, 2], Some(6)));
    // Two scopes on the same parameter: one ORed criterion.
    let both = sign(&claims(
        "user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs",
        None,
    ));
    let (sizes, total, ids) = pages(&s, &both, "Observation?_count=5&_total=accurate").await;
    assert_eq!((sizes, total), (vec![5, 5, 3], Some(13)));
    assert!(!ids.contains(&"Observation/social".to_owned()), "{ids:?}");
    // The client's own criteria still apply on top.
    let (sizes, total, _) = pages(
        &s,
        &both,
        "Observation?category=vital-signs&_total=accurate",
    )
    .await;
    assert_eq!((sizes, total), (vec![6], Some(6)));
    // Scopes on different parameters are no single query: matches are filtered instead,
    // and a total that counted hidden resources is left out.
    let mixed = sign(&claims(
        "user/Observation.rs?category=laboratory user/Observation.rs?status=amended",
        None,
    ));
    let (sizes, total, ids) = pages(&s, &mixed, "Observation?_count=50&_total=accurate").await;
    assert_eq!((sizes, total), (vec![7], None));
    assert_eq!(ids, labs);
}

#[tokio::test]
async fn granular_scopes_leak_nothing_through_includes_chains_and_has() {
    let s = setup().await;
    seed_categories(&s).await;
    let lab = sign(&claims(
        "user/Observation.rs?category=laboratory user/Patient.rs user/Practitioner.rs",
        None,
    ));
    let hidden = |bundle: &Value| {
        entry_ids(bundle)
            .into_iter()
            .filter(|id| {
                ["Observation/o1v", "Observation/g1", "Observation/social"].contains(&id.as_str())
            })
            .collect::<Vec<_>>()
    };
    for path in [
        "Patient?_revinclude=Observation:subject&_count=50",
        "Patient?_id=p1&_revinclude=Observation:patient",
        "Practitioner?_revinclude=Observation:performer",
        "Observation?_include=Observation:subject&_count=50",
        "Observation?subject:Patient.family=Alpha&_count=50",
        "Observation?code:text=b",
        "Observation?category=vital-signs",
    ] {
        let (status, bundle) = get_as(&s, &lab, path).await;
        assert_eq!(status, 200, "{path}: {bundle}");
        assert_eq!(hidden(&bundle), Vec::<String>::new(), "{path}");
    }
    let (_, bundle) = get_as(
        &s,
        &lab,
        "Patient?_revinclude=Observation:subject&_count=50",
    )
    .await;
    let ids = entry_ids(&bundle);
    assert!(ids.contains(&"Observation/o1".to_owned()), "{ids:?}");
    // _has finds patients only through Observations the token may see.
    let (_, bundle) = get_as(&s, &lab, "Patient?_has:Observation:subject:code:text=b").await;
    assert!(entry_ids(&bundle).is_empty(), "{bundle}");
    let (_, bundle) = get_as(
        &s,
        &lab,
        "Patient?_has:Observation:subject:category=social-history",
    )
    .await;
    assert!(entry_ids(&bundle).is_empty(), "{bundle}");
    let (_, bundle) = get_as(&s, &lab, "Patient?_has:Observation:subject:code:text=c").await;
    assert_eq!(entry_ids(&bundle), ["Patient/p2"]);
    // Reads, versions and history of hidden resources.
    for path in [
        "Observation/o1v",
        "Observation/o1v/_history/1",
        "Observation/social",
    ] {
        assert_eq!(get_as(&s, &lab, path).await.0, 404, "{path}");
    }
    let (_, history) = get_as(&s, &lab, "Observation/_history?_count=50").await;
    let text = history.to_string();
    assert!(
        text.contains("\"o1\"") && !text.contains("\"o1v\""),
        "{text}"
    );
}
