//! Helpers for the authorization tests: signing keys from `tests/data/auth`, a JWK Set
//! served on loopback, token builders.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{TestServer, send, test_data};

/// The issuer of test tokens.
pub const ISSUER: &str = "https://issuer.test";
/// The audience of test tokens.
pub const AUDIENCE: &str = "https://fhir.test";

/// A file of `tests/data/auth`.
pub fn auth_file(name: &str) -> String {
    std::fs::read_to_string(test_data().join("auth").join(name)).expect("auth test data")
}

/// The RSA test key (kid `test-rsa`).
pub fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(auth_file("rsa-private.pem").as_bytes()).expect("rsa key")
}

/// The P-384 test key (kid `test-ec`).
pub fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(auth_file("ec384-private.pem").as_bytes()).expect("ec key")
}

/// The JWK Set holding the RSA test key's public half.
pub fn rsa_jwks() -> Value {
    let jwk: Value = serde_json::from_str(&auth_file("rsa-public.jwk.json")).expect("jwk");
    json!({ "keys": [jwk] })
}

/// Serves `jwks` at `http://127.0.0.1:PORT/jwks.json` for the rest of the test.
pub async fn serve_jwks(jwks: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Valid claims for `scope` (and a patient in context).
pub fn claims(scope: &str, patient: Option<&str>) -> Value {
    let mut c = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "test-user",
        "iat": now(),
        "nbf": now() - 5,
        "exp": now() + 300,
        "scope": scope,
    });
    if let Some(p) = patient {
        c["patient"] = Value::String(p.to_owned());
    }
    c
}

/// `claims` signed RS384 with the RSA test key, kid `test-rsa`.
pub fn sign(claims: &Value) -> String {
    sign_with(claims, Algorithm::RS384, "test-rsa", &rsa_key())
}

/// `claims` signed with `key`.
pub fn sign_with(claims: &Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// A request with `token` as bearer; returns status and JSON body.
pub async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = server
        .request(method, path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/fhir+json")
            .body(body.to_string());
    }
    send(request).await
}

/// Ids of the resources of a Bundle's entries (`Type/id`), in order.
pub fn entry_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    let r = &e["resource"];
                    Some(format!(
                        "{}/{}",
                        r["resourceType"].as_str()?,
                        r["id"].as_str()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}
