//! The built-in SMART Backend Services authorization server (`POST /auth/token`).
//!
//! Clients are registered with `hearth clients add` ([`ClientRegistry`]) and authenticate
//! with `private_key_jwt`: a client assertion signed RS384 or ES384 with a key of their
//! registered JWK Set (`kid` required), `iss` = `sub` = client id, `aud` = the token URL,
//! `exp` at most five minutes ahead, and a `jti` never seen before. The answer is a
//! short-lived access token granting the requested `system/` scopes the registration
//! covers, signed with the server's ES256 key kept in `<data dir>/smart/signing-key.p8`
//! and published at `/auth/jwks`.

mod clients;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use hearth_authz_jwt::{JwksCache, LEEWAY_SECONDS, now};
use hearth_interface::Result;
use hearth_interface::authz::{TokenEndpoint, TokenError, unauthorized};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

pub use clients::{Client, ClientError, ClientKeys, ClientRegistry, parse_public_keys};

use crate::scopes::{Context, Scope};

/// The `iss` of tokens the built-in server issues.
pub const ISSUER: &str = "urn:hearth:smart-builtin";
/// The `aud` of tokens the built-in server issues.
const AUDIENCE: &str = "urn:hearth:fhir";
/// Lifetime of issued access tokens, in seconds.
pub const TOKEN_SECONDS: u64 = 300;
/// The furthest ahead a client assertion may expire, in seconds.
const MAX_ASSERTION_SECONDS: u64 = 300;
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The server's signing key.
struct ServerKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Jwk,
}

/// A key file or registry that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuiltinError {
    /// The signing key cannot be read, created or used.
    #[error("cannot use the SMART signing key {path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl ServerKey {
    /// Loads `<data_dir>/smart/signing-key.p8`, creating it on first use.
    fn open(data_dir: &Path) -> std::result::Result<Self, BuiltinError> {
        let path = data_dir.join("smart").join("signing-key.p8");
        let failed = |reason: String| BuiltinError::Key {
            path: path.display().to_string(),
            reason,
        };
        let der = match std::fs::read(&path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|e| failed(e.to_string()))?;
                let der = pkcs8.as_ref().to_vec();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
                }
                write_private(&path, &der).map_err(|e| failed(e.to_string()))?;
                der
            }
            Err(e) => return Err(failed(e.to_string())),
        };
        let encoding = EncodingKey::from_ec_der(&der);
        let mut public = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| failed(e.to_string()))?;
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| failed(e.to_string()))?;
        public.common.key_id = Some(kid.clone());
        let decoding = DecodingKey::from_jwk(&public).map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            kid,
            encoding,
            decoding,
            public,
        })
    }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// The built-in token endpoint.
pub struct BuiltinServer {
    key: ServerKey,
    registry: ClientRegistry,
    /// Key sets of clients registered by URL.
    client_keys: Mutex<HashMap<String, std::sync::Arc<JwksCache>>>,
    /// Assertion ids seen, with their expiry, to refuse replays.
    seen: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for BuiltinServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinServer")
            .field("kid", &self.key.kid)
            .field("registry", &self.registry)
            .finish()
    }
}

impl BuiltinServer {
    /// The server of `data_dir` (its key, created on first use, and its client registry).
    ///
    /// # Errors
    /// When the signing key cannot be read or created.
    pub fn open(data_dir: &Path) -> std::result::Result<Self, BuiltinError> {
        Ok(Self {
            key: ServerKey::open(data_dir)?,
            registry: ClientRegistry::new(data_dir),
            client_keys: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `token` claims to be signed by this server's key.
    pub fn issued(&self, token: &str) -> bool {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .is_some_and(|kid| kid == self.key.kid)
    }

    /// Verifies a token this server issued.
    ///
    /// # Errors
    /// `Unauthorized` for bad signatures, other algorithms, expired tokens.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "the access token has expired",
                    _ => "the access token is invalid",
                })
            })
    }

    /// The key of `client` that signed an assertion with `kid` and `alg`.
    async fn client_key(
        &self,
        client: &Client,
        kid: &str,
        alg: Algorithm,
    ) -> std::result::Result<DecodingKey, TokenError> {
        let bad_key = || {
            TokenError::new(
                "invalid_client",
                "no registered key matches the assertion's kid and alg",
            )
        };
        match &client.keys {
            ClientKeys::Jwks(set) => {
                let jwk = set.find(kid).ok_or_else(bad_key)?;
                let key = DecodingKey::from_jwk(jwk).map_err(|_| bad_key())?;
                if key.family() != alg.family() {
                    return Err(bad_key());
                }
                Ok(key)
            }
            ClientKeys::JwksUrl(url) => {
                let cache = {
                    let mut caches = self
                        .client_keys
                        .lock()
                        .map_err(|_| TokenError::new("invalid_client", "key cache unavailable"))?;
                    std::sync::Arc::clone(caches.entry(client.client_id.clone()).or_insert_with(
                        || {
                            std::sync::Arc::new(JwksCache::new(
                                url.clone(),
                                Duration::from_secs(10),
                            ))
                        },
                    ))
                };
                cache.key(kid, alg).await.map_err(|e| {
                    tracing::info!(client_id = %client.client_id, error = %e, "client key unusable");
                    bad_key()
                })
            }
        }
    }

    /// Records `jti` until `exp`; false when it was seen before.
    fn first_use(&self, client_id: &str, jti: &str, exp: u64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let now = now();
        seen.retain(|_, e| *e + LEEWAY_SECONDS >= now);
        seen.insert(format!("{client_id} {jti}"), exp).is_none()
    }

    /// The requested scopes the registration covers.
    fn grant(client: &Client, requested: &str) -> std::result::Result<String, TokenError> {
        let registered = crate::scopes::parse_all(&client.scope);
        let granted: Vec<&str> = requested
            .split_whitespace()
            .filter(|text| {
                Scope::parse(text).is_some_and(|s| {
                    s.context == Context::System && registered.iter().any(|r| r.includes(&s))
                })
            })
            .collect();
        if granted.is_empty() {
            return Err(TokenError::new(
                "invalid_scope",
                "none of the requested scopes is granted to this client",
            ));
        }
        Ok(granted.join(" "))
    }
}

fn form_value<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[async_trait]
impl TokenEndpoint for BuiltinServer {
    async fn token(
        &self,
        token_url: &str,
        form: &[(String, String)],
    ) -> std::result::Result<Value, TokenError> {
        if form_value(form, "grant_type") != Some("client_credentials") {
            return Err(TokenError::new(
                "unsupported_grant_type",
                "this server issues tokens for grant_type=client_credentials",
            ));
        }
        if form_value(form, "client_assertion_type") != Some(ASSERTION_TYPE) {
            return Err(TokenError::new(
                "invalid_client",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let assertion = form_value(form, "client_assertion")
            .ok_or_else(|| TokenError::new("invalid_client", "client_assertion is missing"))?;
        let requested = form_value(form, "scope")
            .ok_or_else(|| TokenError::new("invalid_scope", "scope is missing"))?;
        let invalid = |d: &str| TokenError::new("invalid_client", d);
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| invalid("the client assertion is malformed"))?;
        if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
            return Err(invalid("client assertions must be signed RS384 or ES384"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the client assertion names no kid"))?;
        // The issuer selects the registration whose keys verify the signature below.
        let claimed: Map<String, Value> =
            jsonwebtoken::dangerous::insecure_decode_claims(assertion)
                .map_err(|_| invalid("the client assertion is malformed"))?;
        let client_id = claimed
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the client assertion has no iss"))?;
        let client = self
            .registry
            .find(client_id)
            .map_err(|e| {
                tracing::error!(error = %e, "client registry unreadable");
                invalid("the client registry is unavailable")
            })?
            .ok_or_else(|| invalid("unknown client"))?;
        let key = self.client_key(&client, &kid, header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&client.client_id]);
        validation.set_audience(&[token_url]);
        validation.sub = Some(client.client_id.clone());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &validation)
            .map_err(|e| {
                tracing::info!(client_id = %client.client_id, error = %e, "client assertion refused");
                invalid("the client assertion is invalid (signature, iss, sub, aud or exp)")
            })?
            .claims;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if exp > now() + MAX_ASSERTION_SECONDS + LEEWAY_SECONDS {
            return Err(invalid(
                "the client assertion expires more than 5 minutes ahead",
            ));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the client assertion has no jti"))?;
        if !self.first_use(&client.client_id, jti, exp) {
            return Err(invalid(
                "the client assertion was already used (jti replay)",
            ));
        }
        let scope = Self::grant(&client, requested)?;
        let issued_at = now();
        let mut token_header = Header::new(Algorithm::ES256);
        token_header.kid = Some(self.key.kid.clone());
        let access_token = jsonwebtoken::encode(
            &token_header,
            &json!({
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": client.client_id,
                "client_id": client.client_id,
                "scope": scope,
                "iat": issued_at,
                "exp": issued_at + TOKEN_SECONDS,
                "jti": uuid::Uuid::new_v4().to_string(),
            }),
            &self.key.encoding,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot sign an access token");
            TokenError::new("invalid_request", "the server cannot sign tokens")
        })?;
        tracing::info!(client_id = %client.client_id, scope = %scope, "access token issued");
        Ok(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": scope,
        }))
    }

    fn jwks(&self) -> Value {
        json!({ "keys": [self.key.public] })
    }
}
