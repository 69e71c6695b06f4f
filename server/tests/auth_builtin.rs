//! The built-in SMART Backend Services token endpoint over HTTP (issue 9): client
//! registration with `hearth clients add`, `private_key_jwt` assertions (RS384 from an
//! inline JWK, ES384 from a JWK Set URL), every assertion attack, and the issued token
//! used against the FHIR API.

mod support;

use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use serde_json::{Value, json};
use support::auth::{auth_file, call, ec_key, now, rsa_key, serve_jwks, sign_with};
use support::{TestServer, hearth_bin, test_data};

/// Registers a client; returns the client_id printed alone on stdout.
fn register(data_dir: &std::path::Path, keys: &[&str], scope: &str) -> String {
    let output = std::process::Command::new(hearth_bin())
        .args(["clients", "add", "--data-dir"])
        .arg(data_dir)
        .args(keys)
        .args(["--scope", scope])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the client id: {stdout:?}");
    stdout.trim().to_owned()
}

fn assertion(server: &TestServer, client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": server.url("auth/token"),
        "exp": now() + 240,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

async fn token_request(server: &TestServer, assertion: &str, scope: &str) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_assertion", assertion)
        .append_pair("scope", scope)
        .finish();
    let response = server
        .client
        .post(server.url("auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn rs384(claims: &Value) -> String {
    sign_with(claims, Algorithm::RS384, "test-rsa", &rsa_key())
}

#[tokio::test]
async fn backend_services_clients_get_scoped_tokens_and_attacks_fail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let jwk_file = test_data().join("auth/rsa-public.jwk.json");
    let rsa_client = register(
        &data,
        &["--jwk", jwk_file.to_str().unwrap()],
        "system/Patient.rs system/Observation.rs",
    );
    let jwks_url =
        serve_jwks(serde_json::from_str(&auth_file("ec384-public.jwks.json")).unwrap()).await;
    let ec_client = register(&data, &["--jwks-url", &jwks_url], "system/*.cruds");
    let log = dir.path().join("server.log");
    let server = TestServer::start_logged(
        &data,
        &["--auth", "smart", "--smart-builtin"],
        "debug",
        Some(&log),
    )
    .await;

    // Discovery names the token endpoint and the server's keys are public.
    let (status, config) = server.get(".well-known/smart-configuration").await;
    assert_eq!(status, 200);
    assert_eq!(config["token_endpoint"], server.url("auth/token"));
    let (status, jwks) = server.get("auth/jwks").await;
    assert_eq!(status, 200);
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");

    // RS384 client: a token with the requested scopes the registration covers.
    let signed = rs384(&assertion(&server, &rsa_client));
    let (status, answer) = token_request(&server, &signed, "system/Patient.rs").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["scope"], "system/Patient.rs");
    assert!(answer["expires_in"].as_u64().unwrap() <= 300);
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let (status, bundle) = call(&server, Method::GET, "Patient", &token, None).await;
    assert_eq!(status, 200, "{bundle}");
    let patient = json!({"resourceType": "Patient", "active": true});
    let (status, body) = call(&server, Method::POST, "Patient", &token, Some(&patient)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        call(&server, Method::GET, "Observation", &token, None)
            .await
            .0,
        403
    );

    // Replaying the same assertion.
    let (status, answer) = token_request(&server, &signed, "system/Patient.rs").await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "invalid_client");

    // Bad assertions.
    let base = assertion(&server, &rsa_client);
    let mut cases: Vec<(&str, String)> = Vec::new();
    let mut wrong_aud = base.clone();
    wrong_aud["aud"] = json!("https://elsewhere.test/token");
    cases.push(("wrong aud", rs384(&wrong_aud)));
    let mut far = base.clone();
    far["exp"] = json!(now() + 3600);
    far["jti"] = json!("far");
    cases.push(("exp more than 5 minutes ahead", rs384(&far)));
    let mut expired = base.clone();
    expired["exp"] = json!(now() - 600);
    cases.push(("expired", rs384(&expired)));
    let mut other_sub = base.clone();
    other_sub["sub"] = json!("someone-else");
    cases.push(("sub differs from iss", rs384(&other_sub)));
    let mut no_jti = base.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", rs384(&no_jti)));
    let mut unknown = base.clone();
    unknown["iss"] = json!("unknown-client");
    unknown["sub"] = json!("unknown-client");
    cases.push(("unknown client", rs384(&unknown)));
    cases.push((
        "RS256 instead of RS384",
        sign_with(&base, Algorithm::RS256, "test-rsa", &rsa_key()),
    ));
    cases.push((
        "unknown kid",
        sign_with(&base, Algorithm::RS384, "other", &rsa_key()),
    ));
    cases.push((
        "signed by another client's key",
        sign_with(&base, Algorithm::ES384, "test-rsa", &ec_key()),
    ));
    cases.push((
        "HS256 with the public key",
        sign_with(
            &base,
            Algorithm::HS256,
            "test-rsa",
            &EncodingKey::from_secret(auth_file("rsa-public.pem").as_bytes()),
        ),
    ));
    for (name, assertion) in &cases {
        let (status, answer) = token_request(&server, assertion, "system/Patient.rs").await;
        assert_eq!(status, 401, "{name}: {answer}");
        assert_eq!(answer["error"], "invalid_client", "{name}");
        assert!(answer.get("access_token").is_none());
    }

    // Scope escalation at the token endpoint.
    for scope in [
        "system/Patient.cruds",
        "system/*.rs",
        "patient/*.rs",
        "user/Patient.rs",
    ] {
        let (status, answer) =
            token_request(&server, &rs384(&assertion(&server, &rsa_client)), scope).await;
        assert_eq!(status, 400, "{scope}: {answer}");
        assert_eq!(answer["error"], "invalid_scope");
    }

    // ES384 client whose keys are fetched from its JWK Set URL.
    let signed = sign_with(
        &assertion(&server, &ec_client),
        Algorithm::ES384,
        "test-ec",
        &ec_key(),
    );
    let (status, answer) = token_request(&server, &signed, "system/*.cruds").await;
    assert_eq!(status, 200, "{answer}");
    let writer = answer["access_token"].as_str().unwrap().to_owned();
    let (status, body) = call(&server, Method::POST, "Patient", &writer, Some(&patient)).await;
    assert_eq!(status, 201, "{body}");

    // Tokens never reach the logs.
    let text = std::fs::read_to_string(&log).unwrap();
    for t in [&token, &writer, &signed] {
        assert!(
            !text.contains(t.rsplit('.').next().unwrap()),
            "a token in the log"
        );
    }
}

#[tokio::test]
async fn clients_add_refuses_non_system_scopes_and_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(hearth_bin())
            .args(["clients", "add", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--jwks-url",
        "http://127.0.0.1:9/jwks",
        "--scope",
        "patient/*.rs",
    ]);
    assert!(!out.status.success());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"kty\": \"RSA\"}").unwrap();
    let out = run(&["--jwk", bad.to_str().unwrap(), "--scope", "system/*.rs"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let out = run(&["--scope", "system/*.rs"]);
    assert!(!out.status.success(), "keys are required");
}
