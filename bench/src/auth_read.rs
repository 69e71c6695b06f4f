//! Authorization overhead (issue 9): `GET Patient/id` throughput with a SMART bearer token
//! (`--auth smart`, external issuer whose JWK Set this process serves, token and keys
//! cached after the first request) against the same reads on `--auth none`. Both servers
//! run in this process's measurement, interleaved twice; the best of each is kept.

use std::process::Command;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::http_load::{Args, Measured, Op, Server, load, seed, spawn};
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

fn hearth(data_dir: &std::path::Path, extra: &[&str]) -> Result<Server, String> {
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

/// Runs the comparison and prints a table.
pub async fn run(args: &Args) -> Result<(), String> {
    let jwks_url = serve_jwks().await?;
    let token = token()?;
    let open_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let auth_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let open = hearth(open_dir.path(), &[])?;
    let authorized = hearth(
        auth_dir.path(),
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
    for _ in 0..2 {
        let o = load(
            &open_client,
            args.requests(),
            args.concurrency(),
            args.limit(),
            paths(&open.base),
        )
        .await?;
        let a = load(
            &auth_client,
            args.requests(),
            args.concurrency(),
            args.limit(),
            paths(&authorized.base),
        )
        .await?;
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
    println!(
        "GET Patient/id, HTTP/1.1 keep-alive, {} connections, loopback; best of 2 interleaved runs each",
        args.concurrency()
    );
    println!("| server | req/s | p50 ms | p95 ms | p99 ms | ratio to --auth none |");
    println!("|---|---|---|---|---|---|");
    for (name, m) in [
        ("--auth none", &o),
        ("--auth smart, RS384 bearer token", &a),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            m.rate,
            m.p(0.50),
            m.p(0.95),
            m.p(0.99),
            m.rate / o.rate
        );
    }
    Ok(())
}
