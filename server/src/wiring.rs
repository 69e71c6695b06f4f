//! Building the components a configuration names and wiring them into the router's state.

use std::sync::Arc;

use hearth_interface::binary::{BinaryStore, SignedUrlServer};
use hearth_interface::store::ResourceStore;
use hearth_interface::validate::JsonSchemaValidator;
use hearth_routing::{AppState, RouterConfig};
use hearth_sqlite::{FsBinaryStore, SqliteSearch, SqliteStore};

use crate::cli::Backend;
use crate::config::StoreConfig;

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

/// The router state over opened components.
pub fn state(components: Components, router: RouterConfig) -> AppState {
    let state = AppState::new(
        components.store,
        components.search,
        Arc::new(JsonSchemaValidator::r4()),
        router,
    )
    .with_binary_store(components.binaries);
    match components.signed_urls {
        Some(server) => state.with_signed_urls(server),
        None => state,
    }
}
