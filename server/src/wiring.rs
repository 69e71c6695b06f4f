//! Building the components a configuration names and wiring them into the router's state.

use std::sync::Arc;

use hearth_interface::binary::{BinaryStore, SignedUrlServer};
use hearth_interface::store::ResourceStore;
use hearth_interface::validate::JsonSchemaValidator;
use hearth_routing::{AppState, RouterConfig};
use hearth_sqlite::{FsBinaryStore, SqliteSearch, SqliteStore};

use hearth_interface::authz::Authorizer;

use crate::cli::Backend;
use crate::config::{AuthConfig, StoreConfig};

/// The storage components of a backend.
#[derive(Debug, Clone)]
pub struct Components {
    /// Resources and history.
    pub store: Arc<dyn ResourceStore>,
    /// Search.
    pub search: Arc<dyn hearth_interface::search::SearchEngine>,
    /// The content of `Binary` resources.
    pub binaries: Arc<dyn BinaryStore>,
    /// The server side of the binary store's URLs, when they point at this server.
    pub signed_urls: Option<Arc<dyn SignedUrlServer>>,
}

/// Opens the configured backend.
///
/// # Errors
/// When the backend cannot be opened (for SQLite: the data directory or file).
pub fn open(config: &StoreConfig) -> hearth_interface::Result<Components> {
    match config.backend {
        Backend::Sqlite => {
            let store = SqliteStore::open(&config.data_dir)?;
            let search = SqliteSearch::new(store.clone());
            let binaries = Arc::new(FsBinaryStore::open(&config.data_dir)?);
            Ok(Components {
                store: Arc::new(store),
                search: Arc::new(search),
                binaries: binaries.clone(),
                signed_urls: Some(binaries),
            })
        }
    }
}

/// The router state over opened components, behind `authorizer` when there is one.
pub fn state(
    components: Components,
    router: RouterConfig,
    authorizer: Option<Arc<dyn Authorizer>>,
) -> AppState {
    let state = AppState::new(
        components.store,
        components.search,
        Arc::new(JsonSchemaValidator::r4()),
        router,
    )
    .with_binary_store(components.binaries);
    let state = match components.signed_urls {
        Some(server) => state.with_signed_urls(server),
        None => state,
    };
    match authorizer {
        Some(authorizer) => state.with_authorizer(authorizer),
        None => state,
    }
}

/// The configured authorizer; `None` for `--auth none`.
///
/// # Errors
/// When the RBAC rules file or the built-in SMART server's key cannot be used.
pub fn authorizer(
    auth: &AuthConfig,
    data_dir: &std::path::Path,
) -> Result<Option<Arc<dyn Authorizer>>, String> {
    match auth {
        AuthConfig::None => Ok(None),
        AuthConfig::Rbac {
            issuer,
            jwks_url,
            client_ids,
            rules,
        } => {
            let rules = match rules {
                Some(path) => {
                    hearth_authz_rbac::RbacRules::load(path).map_err(|e| e.to_string())?
                }
                None => hearth_authz_rbac::RbacRules::defaults(),
            };
            Ok(Some(Arc::new(hearth_authz_rbac::CognitoRbac::from_config(
                hearth_authz_rbac::RbacConfig {
                    issuer: issuer.clone(),
                    jwks_url: jwks_url.clone(),
                    client_ids: client_ids.clone(),
                    rules,
                },
            ))))
        }
        AuthConfig::Smart { external, builtin } => {
            let builtin = match builtin {
                true => Some(
                    hearth_authz_smart::BuiltinServer::open(data_dir).map_err(|e| e.to_string())?,
                ),
                false => None,
            };
            Ok(Some(Arc::new(
                hearth_authz_smart::SmartAuthorizer::from_config(hearth_authz_smart::SmartConfig {
                    external: external.clone(),
                    builtin,
                }),
            )))
        }
    }
}
