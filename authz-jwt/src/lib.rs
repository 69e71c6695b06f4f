//! JWT verification for Hearth's authorizers: signatures checked against a JWK Set fetched
//! over HTTP and cached (refetched, rate limited, when a token names an unknown `kid`),
//! an algorithm allow-list (asymmetric only: never `none`, never HMAC), the issuer, the
//! audience or `client_id`, and `exp`/`nbf` with a small leeway.
//!
//! [`TokenCache`] keeps what verified tokens grant until they expire, so that a token is
//! verified once, not on every request.

mod cache;
mod jwks;

use std::collections::HashSet;
use std::time::Duration;

use hearth_interface::authz::unauthorized;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

pub use cache::TokenCache;
pub use jwks::JwksCache;

/// The algorithms a token may be signed with. HMAC (`HS*`) is excluded: a verifier that
/// accepted it could be fooled by a token "signed" with a public key.
pub const ALLOWED_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// A failure to verify a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not acceptable; the message says why, never repeating the token.
    #[error("{0}")]
    Rejected(String),
    /// The key set could not be fetched or read.
    #[error("the signing keys at {url} cannot be used")]
    KeySet {
        /// The JWKS URL.
        url: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<JwtError> for hearth_interface::Error {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Rejected(message) => unauthorized(message),
            e @ JwtError::KeySet { .. } => {
                hearth_interface::Error::internal("cannot verify access tokens", e)
            }
        }
    }
}

fn rejected(message: impl Into<String>) -> JwtError {
    JwtError::Rejected(message.into())
}

/// Verifies tokens of one issuer.
#[derive(Debug)]
pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    keys: JwksCache,
}

impl JwtVerifier {
    /// Verifies tokens from `issuer` signed by keys at `jwks_url`. A token must name one of
    /// `audiences` in `aud`, or (Cognito access tokens, which have no `aud`) in
    /// `client_id`; an empty list checks neither.
    pub fn new(
        issuer: impl Into<String>,
        jwks_url: impl Into<String>,
        audiences: Vec<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            keys: JwksCache::new(jwks_url.into(), Duration::from_secs(10)),
        }
    }

    /// The issuer this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The URL of the issuer's key set.
    pub fn jwks_url(&self) -> &str {
        self.keys.url()
    }

    /// Verifies `token` and returns its claims.
    ///
    /// # Errors
    /// [`JwtError::Rejected`] for malformed tokens, algorithms outside
    /// [`ALLOWED_ALGORITHMS`], unknown keys, bad signatures, wrong issuer or audience, and
    /// tokens outside their validity window; [`JwtError::KeySet`] when the keys cannot be
    /// fetched.
    pub async fn verify(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        let header = decode_header(token).map_err(|_| rejected("the access token is malformed"))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(rejected(format!(
                "the access token algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| rejected("the access token names no signing key (kid)"))?;
        let key = self.keys.key(kid, header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            rejected(match e.kind() {
                ErrorKind::ExpiredSignature => "the access token has expired",
                ErrorKind::ImmatureSignature => "the access token is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "the access token is from another issuer",
                ErrorKind::InvalidSignature => "the access token signature is invalid",
                ErrorKind::MissingRequiredClaim(_) => "the access token lacks exp or iss",
                _ => "the access token is invalid",
            })
        })?;
        self.check_audience(&data.claims)?;
        Ok(data.claims)
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), JwtError> {
        if self.audiences.is_empty() {
            return Ok(());
        }
        let named: HashSet<&str> = match claims.get("aud") {
            Some(Value::String(a)) => HashSet::from([a.as_str()]),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => claims
                .get("client_id")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
        };
        if self.audiences.iter().any(|a| named.contains(a.as_str())) {
            Ok(())
        } else {
            Err(rejected("the access token is meant for another audience"))
        }
    }
}

/// The `exp` claim, in seconds since the epoch (0 when absent).
pub fn expiry(claims: &Map<String, Value>) -> u64 {
    claims.get("exp").and_then(Value::as_u64).unwrap_or(0)
}

/// Seconds since the epoch now.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}
