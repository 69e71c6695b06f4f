//! Registered Backend Services clients, kept in `<data dir>/smart/clients.json`.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::{Deserialize, Serialize};

/// How a client proves who it is: its public keys, inline or at a URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientKeys {
    /// A JWK Set fetched from this URL (and refetched when the client rotates keys).
    JwksUrl(String),
    /// Public keys given at registration.
    Jwks(JwkSet),
}

/// One registered client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    /// The client id (`iss` and `sub` of its assertions).
    pub client_id: String,
    /// The widest scopes it may be granted (space separated `system/` scopes).
    pub scope: String,
    /// Its keys.
    pub keys: ClientKeys,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    clients: Vec<Client>,
}

/// A registration that cannot be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The registry file cannot be read or written.
    #[error("cannot use the client registry {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry or a given key is not valid JSON of the expected shape.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// The client registry of one data directory.
#[derive(Debug, Clone)]
pub struct ClientRegistry {
    path: PathBuf,
}

impl ClientRegistry {
    /// The registry under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("smart").join("clients.json"),
        }
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn read(&self) -> Result<File, ClientError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| ClientError::Invalid {
                what: self.path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The client `client_id`, if registered.
    ///
    /// # Errors
    /// When the registry cannot be read.
    pub fn find(&self, client_id: &str) -> Result<Option<Client>, ClientError> {
        Ok(self
            .read()?
            .clients
            .into_iter()
            .find(|c| c.client_id == client_id))
    }

    /// Registers a client with `keys` and `scope`; returns its new client id.
    ///
    /// # Errors
    /// When the registry cannot be read or written, or `scope` has no `system/` scope.
    pub fn add(&self, keys: ClientKeys, scope: &str) -> Result<String, ClientError> {
        let scopes = crate::scopes::parse_all(scope);
        if scopes.is_empty()
            || scopes
                .iter()
                .any(|s| s.context != crate::scopes::Context::System)
        {
            return Err(ClientError::Invalid {
                what: "scope".into(),
                reason: "give system/ scopes such as 'system/*.rs'".into(),
            });
        }
        let mut file = self.read()?;
        let client_id = uuid::Uuid::new_v4().to_string();
        file.clients.push(Client {
            client_id: client_id.clone(),
            scope: scope.to_owned(),
            keys,
        });
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let text = serde_json::to_string_pretty(&file).map_err(|e| ClientError::Invalid {
            what: "registry".into(),
            reason: e.to_string(),
        })?;
        let temp = self.path.with_extension("json.tmp");
        std::fs::write(&temp, text).map_err(|e| self.io(e))?;
        std::fs::rename(&temp, &self.path).map_err(|e| self.io(e))?;
        Ok(client_id)
    }
}

/// Reads public keys given at registration: one JWK or a JWK Set. Private parts (`d`)
/// are dropped: only public members are kept.
///
/// # Errors
/// When the text is neither, or a key has no `kid`.
pub fn parse_public_keys(text: &str) -> Result<JwkSet, ClientError> {
    let invalid = |reason: String| ClientError::Invalid {
        what: "JWK".into(),
        reason,
    };
    let set = match serde_json::from_str::<JwkSet>(text) {
        Ok(set) => set,
        Err(_) => JwkSet {
            keys: vec![serde_json::from_str::<Jwk>(text).map_err(|e| invalid(e.to_string()))?],
        },
    };
    if set.keys.is_empty() || set.keys.iter().any(|k| k.common.key_id.is_none()) {
        return Err(invalid("every key needs a kid".into()));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_finds_clients() {
        let dir = tempfile::tempdir().unwrap();
        let registry = ClientRegistry::new(dir.path());
        let id = registry
            .add(
                ClientKeys::JwksUrl("http://127.0.0.1:1/jwks".into()),
                "system/*.rs",
            )
            .unwrap();
        let client = registry.find(&id).unwrap().unwrap();
        assert_eq!(client.scope, "system/*.rs");
        assert!(registry.find("other").unwrap().is_none());
        assert!(
            registry
                .add(ClientKeys::JwksUrl("x".into()), "patient/*.rs")
                .is_err()
        );
    }
}
