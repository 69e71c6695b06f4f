//! Authorization overhead (issue 9): `GET Patient/id` throughput with a bearer token
//! against the same reads on `--auth none`, token and keys cached after the first request.
//! `--auth smart`: an external SMART issuer whose JWK Set this process serves, an RS384
//! token. `--auth rbac`: a Cognito user pool on moto_server (`HEARTH_MOTO_SERVER`), the
//! access token of a `practitioner` user from `AdminInitiateAuth`, the pool's JWK Set from
//! moto. Both servers run in this process's measurement, interleaved twice; the best
//! throughput of each is kept. The servers' CPU time per request (user + system, over both
//! runs) is printed too: on a shared, loaded machine it is steadier than throughput, which
//! also depends on how the scheduler treats the load generator.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hearth_testkit::{Moto, unique_name};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::http_load::{Args, Measured, Op, Server, load, seed, spawn};
use crate::report::out;
use crate::{hearth_binary, test_data};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "https://fhir.bench";

/// Serves the test RSA key's JWK Set on loopback; returns its URL.
async fn serve_jwks() -> Result<String, String> {
    let jwk: Value = serde_json::from_str(
        &std::fs::read_to_string(test_data().join("auth/rsa-public.jwk.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let jwks = json!({ "keys": [jwk] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/jwks.json",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn token() -> Result<String, String> {
    let pem = std::fs::read(test_data().join("auth/rsa-private.pem")).map_err(|e| e.to_string())?;
    let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| e.to_string())?;
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::RS384);
    header.kid = Some("test-rsa".into());
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bench", "iat": now,
        "exp": now + 3600, "scope": "system/*.cruds"});
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

fn hearth(data_dir: &Path, extra: &[&str]) -> Result<Server, String> {
    let mut command = Command::new(hearth_binary()?);
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn");
    spawn(command)
}

fn client(token: Option<&str>, concurrency: usize) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| e.to_string())?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())
}

/// The server under test with authorization on, and the bearer token its reads carry.
struct Authorized {
    server: Server,
    token: String,
    label: &'static str,
    /// The Cognito stand-in, stopped after the measurement.
    _moto: Option<Moto>,
}

/// `hearth serve --auth smart` trusting an issuer whose key set this process serves.
async fn smart(dir: &Path) -> Result<Authorized, String> {
    let jwks_url = serve_jwks().await?;
    let server = hearth(
        dir,
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
    )?;
    Ok(Authorized {
        server,
        token: token()?,
        label: "--auth smart, RS384 bearer token (system/*.cruds)",
        _moto: None,
    })
}

/// Calls a Cognito API on moto (which ignores request signatures).
async fn cognito(endpoint: &str, op: &str, body: Value) -> Result<Value, String> {
    let response = reqwest::Client::new()
        .post(endpoint)
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
        .map_err(|e| format!("{op}: {e}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(answer)
    } else {
        Err(format!("{op}: {status} {answer}"))
    }
}

/// `hearth serve --auth rbac` trusting a moto Cognito user pool, and the access token of a
/// user of its `practitioner` group.
async fn rbac(dir: &Path) -> Result<Authorized, String> {
    let moto = tokio::task::spawn_blocking(Moto::start)
        .await
        .map_err(|e| format!("moto_server did not start: {e}"))?;
    let endpoint = moto.endpoint().to_owned();
    let pool = cognito(
        &endpoint,
        "CreateUserPool",
        json!({"PoolName": unique_name("bench")}),
    )
    .await?;
    let pool_id = pool["UserPool"]["Id"]
        .as_str()
        .ok_or("no pool id")?
        .to_owned();
    let app = cognito(
        &endpoint,
        "CreateUserPoolClient",
        json!({"UserPoolId": pool_id, "ClientName": "fhir",
            "ExplicitAuthFlows": ["ALLOW_ADMIN_USER_PASSWORD_AUTH"]}),
    )
    .await?;
    let client_id = app["UserPoolClient"]["ClientId"]
        .as_str()
        .ok_or("no client id")?
        .to_owned();
    let password = "Correct-Horse-9";
    for (op, body) in [
        (
            "CreateGroup",
            json!({"UserPoolId": pool_id, "GroupName": "practitioner"}),
        ),
        (
            "AdminCreateUser",
            json!({"UserPoolId": pool_id, "Username": "bench", "TemporaryPassword": password,
                "MessageAction": "SUPPRESS"}),
        ),
        (
            "AdminSetUserPassword",
            json!({"UserPoolId": pool_id, "Username": "bench", "Password": password,
                "Permanent": true}),
        ),
        (
            "AdminAddUserToGroup",
            json!({"UserPoolId": pool_id, "Username": "bench", "GroupName": "practitioner"}),
        ),
    ] {
        cognito(&endpoint, op, body).await?;
    }
    let auth = cognito(
        &endpoint,
        "AdminInitiateAuth",
        json!({"UserPoolId": pool_id, "ClientId": client_id,
            "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": "bench", "PASSWORD": password}}),
    )
    .await?;
    let token = auth["AuthenticationResult"]["AccessToken"]
        .as_str()
        .ok_or("no access token")?
        .to_owned();
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool_id}");
    let jwks_url = format!("{endpoint}/{pool_id}/.well-known/jwks.json");
    let server = hearth(
        dir,
        &[
            "--auth",
            "rbac",
            "--cognito-issuer",
            &issuer,
            "--cognito-jwks-url",
            &jwks_url,
            "--cognito-client-id",
            &client_id,
        ],
    )?;
    Ok(Authorized {
        server,
        token,
        label: "--auth rbac, Cognito access token (practitioner group)",
        _moto: Some(moto),
    })
}

/// Runs the comparison for `args.auth` and prints a table.
pub async fn run(args: &Args) -> Result<(), String> {
    let open_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let auth_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let open = hearth(open_dir.path(), &[])?;
    let Authorized {
        server: authorized,
        token,
        label,
        _moto,
    } = match args.auth() {
        Some("rbac") => rbac(auth_dir.path()).await?,
        _ => smart(auth_dir.path()).await?,
    };
    let open_client = client(None, args.concurrency())?;
    let auth_client = client(Some(&token), args.concurrency())?;
    let ids = seed(&open_client, &open.base, 1000).await?;
    seed(&auth_client, &authorized.base, 1000).await?;
    let paths = |base: &str| -> Op {
        Op::Get(Arc::new(
            ids.iter()
                .map(|id| format!("{base}/Patient/{id}"))
                .collect(),
        ))
    };
    let mut best_open: Option<Measured> = None;
    let mut best_auth: Option<Measured> = None;
    let (mut open_cpu, mut auth_cpu) = (0.0, 0.0);
    for _ in 0..2 {
        let before = open.cpu_seconds()?;
        let o = load(
            &open_client,
            args.requests(),
            args.concurrency(),
            args.limit(),
            paths(&open.base),
        )
        .await?;
        open_cpu += open.cpu_seconds()? - before;
        let before = authorized.cpu_seconds()?;
        let a = load(
            &auth_client,
            args.requests(),
            args.concurrency(),
            args.limit(),
            paths(&authorized.base),
        )
        .await?;
        auth_cpu += authorized.cpu_seconds()? - before;
        if best_open.as_ref().is_none_or(|b| o.rate > b.rate) {
            best_open = Some(o);
        }
        if best_auth.as_ref().is_none_or(|b| a.rate > b.rate) {
            best_auth = Some(a);
        }
    }
    let (o, a) = (
        best_open.ok_or("no measurement")?,
        best_auth.ok_or("no measurement")?,
    );
    out!(
        "GET Patient/id, {} requests per run, HTTP/1.1 keep-alive, {} connections, loopback; best of 2 interleaved runs each; \
         server CPU: user + system time of the server process over both runs, per request",
        args.requests(),
        args.concurrency()
    );
    out!(
        "| server | req/s | p50 ms | p95 ms | p99 ms | ratio to --auth none | server CPU µs/req | CPU ratio |"
    );
    out!("|---|---|---|---|---|---|---|---|");
    let per_request = |cpu: f64| cpu * 1e6 / (2 * args.requests()) as f64;
    for (name, m, cpu) in [("--auth none", &o, open_cpu), (label, &a, auth_cpu)] {
        out!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} |",
            m.rate,
            m.p(0.50),
            m.p(0.95),
            m.p(0.99),
            m.rate / o.rate,
            per_request(cpu),
            cpu / open_cpu
        );
    }
    Ok(())
}
