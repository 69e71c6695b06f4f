//! Cognito RBAC over HTTP (issue 9) with real tokens from moto_server's Cognito: a user
//! pool, an app client, groups and users, `AdminInitiateAuth`, the pool's JWK Set.

mod support;

use hearth_testkit::{Moto, unique_name};
use reqwest::Method;
use serde_json::{Value, json};
use support::TestServer;
use support::auth::call;

/// Calls a Cognito API on moto (moto ignores request signatures).
async fn cognito(op: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(Moto::shared().endpoint())
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{op}"),
        )
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{op}: {status} {answer}");
    answer
}

struct Pool {
    id: String,
    client_id: String,
    other_client_id: String,
}

async fn pool() -> Pool {
    let created = cognito("CreateUserPool", json!({"PoolName": unique_name("hearth")})).await;
    let id = created["UserPool"]["Id"].as_str().unwrap().to_owned();
    let mut clients = Vec::new();
    for name in ["fhir", "other"] {
        let c = cognito(
            "CreateUserPoolClient",
            json!({"UserPoolId": id, "ClientName": name,
                "ExplicitAuthFlows": ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
        )
        .await;
        clients.push(c["UserPoolClient"]["ClientId"].as_str().unwrap().to_owned());
    }
    for group in ["practitioner", "non-practitioner", "auditor"] {
        cognito("CreateGroup", json!({"UserPoolId": id, "GroupName": group})).await;
    }
    Pool {
        id,
        client_id: clients[0].clone(),
        other_client_id: clients[1].clone(),
    }
}

/// A user in `groups`; returns (ID token, access token) for `client_id`.
async fn user(pool: &Pool, name: &str, groups: &[&str], client_id: &str) -> (String, String) {
    let password = "Correct-Horse-9";
    cognito(
        "AdminCreateUser",
        json!({"UserPoolId": pool.id, "Username": name, "TemporaryPassword": password,
            "MessageAction": "SUPPRESS"}),
    )
    .await;
    cognito(
        "AdminSetUserPassword",
        json!({"UserPoolId": pool.id, "Username": name, "Password": password, "Permanent": true}),
    )
    .await;
    for group in groups {
        cognito(
            "AdminAddUserToGroup",
            json!({"UserPoolId": pool.id, "Username": name, "GroupName": group}),
        )
        .await;
    }
    let auth = cognito(
        "AdminInitiateAuth",
        json!({"UserPoolId": pool.id, "ClientId": client_id, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": name, "PASSWORD": password}}),
    )
    .await;
    let result = &auth["AuthenticationResult"];
    (
        result["IdToken"].as_str().unwrap().to_owned(),
        result["AccessToken"].as_str().unwrap().to_owned(),
    )
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn server(pool: &Pool, dir: &std::path::Path, extra: &[&str]) -> TestServer {
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{}", pool.id);
    let jwks = format!(
        "{}/{}/.well-known/jwks.json",
        Moto::shared().endpoint(),
        pool.id
    );
    let mut args = vec![
        "--auth",
        "rbac",
        "--cognito-issuer",
        &issuer,
        "--cognito-jwks-url",
        &jwks,
        "--cognito-client-id",
        &pool.client_id,
    ];
    args.extend_from_slice(extra);
    TestServer::start_on(dir, &args).await
}

#[tokio::test]
async fn cognito_groups_decide_what_users_may_do() {
    let pool = pool().await;
    let (doctor_id, doctor_access) =
        user(&pool, "doctor", &["practitioner"], &pool.client_id).await;
    let (_, auditor) = user(&pool, "auditor", &["auditor"], &pool.client_id).await;
    let (_, billing) = user(&pool, "billing", &["non-practitioner"], &pool.client_id).await;
    let (_, nobody) = user(&pool, "nobody", &[], &pool.client_id).await;
    let (_, elsewhere) = user(&pool, "elsewhere", &["practitioner"], &pool.other_client_id).await;
    // What moto puts in its tokens: the AWS issuer form, groups, client id or audience.
    let id_claims = claims(&doctor_id);
    assert_eq!(
        id_claims["iss"],
        format!("https://cognito-idp.us-east-1.amazonaws.com/{}", pool.id)
    );
    assert_eq!(id_claims["aud"], pool.client_id);
    assert_eq!(id_claims["cognito:groups"], json!(["practitioner"]));
    assert_eq!(claims(&doctor_access)["client_id"], pool.client_id);

    let dir = tempfile::tempdir().unwrap();
    let s = server(&pool, dir.path(), &[]).await;
    let patient = json!({"resourceType": "Patient", "id": "p1", "active": true});
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
    let claim = json!({"resourceType": "Claim", "id": "c1", "status": "active",
        "type": {"text": "t"}, "use": "claim", "patient": {"reference": "Patient/p1"},
        "created": "2024-01-01", "provider": {"display": "x"}, "priority": {"text": "normal"},
        "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "c"}}]});
    // Practitioner (ID token and access token alike): everything.
    for (token, path, body) in [
        (&doctor_id, "Patient/p1", &patient),
        (&doctor_access, "Observation/o1", &obs),
        (&doctor_access, "Claim/c1", &claim),
    ] {
        let (status, answer) = call(&s, Method::PUT, path, token, Some(body)).await;
        assert_eq!(status, 201, "{path}: {answer}");
    }
    assert_eq!(
        call(
            &s,
            Method::GET,
            "Observation?subject=Patient/p1",
            &doctor_id,
            None
        )
        .await
        .0,
        200
    );
    // Auditor: read and search Patient only.
    assert_eq!(
        call(&s, Method::GET, "Patient/p1", &auditor, None).await.0,
        200
    );
    assert_eq!(
        call(&s, Method::GET, "Patient?active=true", &auditor, None)
            .await
            .0,
        200
    );
    let (status, body) = call(&s, Method::GET, "Observation/o1", &auditor, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(
        call(&s, Method::PUT, "Patient/p1", &auditor, Some(&patient))
            .await
            .0,
        403
    );
    assert_eq!(
        call(&s, Method::DELETE, "Patient/p1", &auditor, None)
            .await
            .0,
        403
    );
    let (status, body) = call(
        &s,
        Method::GET,
        "Patient?_revinclude=Observation:subject",
        &auditor,
        None,
    )
    .await;
    assert_eq!(status, 403, "revinclude of a type not granted: {body}");
    let (status, _) = call(
        &s,
        Method::GET,
        "Patient?_has:Observation:subject:code:text=x",
        &auditor,
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        call(&s, Method::GET, "_history", &auditor, None).await.0,
        200
    );
    let (_, history) = call(&s, Method::GET, "_history", &auditor, None).await;
    assert!(
        !history.to_string().contains("\"Observation\""),
        "{history}"
    );
    // Non-practitioner: financial resources only.
    assert_eq!(
        call(&s, Method::GET, "Claim/c1", &billing, None).await.0,
        200
    );
    assert_eq!(
        call(&s, Method::GET, "Patient/p1", &billing, None).await.0,
        403
    );
    let (status, body) = call(
        &s,
        Method::GET,
        "Claim?_include=Claim:patient",
        &billing,
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // No group: nothing. Another app client's token: not accepted at all.
    assert_eq!(
        call(&s, Method::GET, "Patient/p1", &nobody, None).await.0,
        403
    );
    assert_eq!(
        call(&s, Method::GET, "Patient/p1", &elsewhere, None)
            .await
            .0,
        401
    );
    // A forged group claim breaks the signature.
    let parts: Vec<&str> = auditor.split('.').collect();
    let mut forged_claims = claims(&auditor);
    forged_claims["cognito:groups"] = json!(["practitioner"]);
    let forged = {
        use base64::Engine;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_claims.to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    assert_eq!(
        call(&s, Method::GET, "Observation/o1", &forged, None)
            .await
            .0,
        401
    );
    // Transaction entries are checked one by one.
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "active": false}, "request": {"method": "POST", "url": "Patient"}}
    ]});
    assert_eq!(
        call(&s, Method::POST, "", &auditor, Some(&transaction))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn a_rules_file_replaces_the_defaults() {
    let pool = pool().await;
    let (_, nurse) = user(&pool, "nurse", &["auditor"], &pool.client_id).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"groups": {"auditor": {"interactions": ["read", "search", "create"], "resourceTypes": ["Observation"]}}}"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = server(&pool, &data, &["--rbac-rules", rules.to_str().unwrap()]).await;
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    assert_eq!(
        call(&s, Method::POST, "Observation", &nurse, Some(&obs))
            .await
            .0,
        201
    );
    assert_eq!(
        call(&s, Method::GET, "Observation", &nurse, None).await.0,
        200
    );
    assert_eq!(call(&s, Method::GET, "Patient", &nurse, None).await.0, 403);
}
