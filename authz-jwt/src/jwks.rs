//! A JWK Set fetched over HTTP: decoded keys cached by `kid`, refetched when a token
//! names a key the cache does not have (key rotation), at most once per interval.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::{JwtError, rejected};

/// One usable key: its decoded form and the algorithm its JWK pins, if any.
#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    alg: Option<Algorithm>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
}

/// The cached key set of one issuer.
pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    min_refetch: Duration,
    state: RwLock<Arc<State>>,
    fetch: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").field("url", &self.url).finish()
    }
}

impl JwksCache {
    /// Keys from `url`, refetched at most once per `min_refetch` for unknown `kid`s.
    pub fn new(url: String, min_refetch: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            url,
            client,
            min_refetch,
            state: RwLock::new(Arc::new(State::default())),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    /// The key set URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn snapshot(&self) -> Arc<State> {
        self.state
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// The key `kid` for a token signed with `alg`.
    ///
    /// # Errors
    /// `Rejected` when no such key exists (after one refetch) or it is for another
    /// algorithm; `KeySet` when the set cannot be fetched.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, JwtError> {
        let key = match self.snapshot().keys.get(kid) {
            Some(key) => key.clone(),
            None => self.refetch_for(kid).await?,
        };
        if key.alg.is_some_and(|pinned| pinned != alg) || key.decoding.family() != alg.family() {
            return Err(rejected(
                "the access token algorithm does not match its signing key",
            ));
        }
        Ok(key.decoding)
    }

    async fn refetch_for(&self, kid: &str) -> Result<Key, JwtError> {
        let _one_fetch_at_a_time = self.fetch.lock().await;
        let state = self.snapshot();
        if let Some(key) = state.keys.get(kid) {
            return Ok(key.clone());
        }
        if state
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.min_refetch)
        {
            return Err(rejected("the access token names an unknown signing key"));
        }
        let fresh = Arc::new(self.fetch().await?);
        let found = fresh.keys.get(kid).cloned();
        if let Ok(mut slot) = self.state.write() {
            *slot = fresh;
        }
        found.ok_or_else(|| rejected("the access token names an unknown signing key"))
    }

    async fn fetch(&self) -> Result<State, JwtError> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| JwtError::KeySet {
            url: self.url.clone(),
            source,
        };
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| failed(e.into()))?
            .json()
            .await
            .map_err(|e| failed(e.into()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            keys.insert(kid, Key { decoding, alg });
        }
        tracing::info!(url = %self.url, keys = keys.len(), "fetched signing keys");
        Ok(State {
            keys,
            fetched_at: Some(Instant::now()),
        })
    }
}
