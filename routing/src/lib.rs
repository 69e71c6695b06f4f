//! The Hearth router: every FHIR R4 RESTful interaction over pluggable components.
//!
//! [`app`] builds one `axum::Router` from an [`AppState`]; the same router is served by a
//! TCP listener locally and by `lambda_http` inside AWS Lambda.

mod authz;
mod bundle;
mod capability;
mod conditional;
mod error;
mod extract;
mod handlers;
mod include;
mod list_param;
mod negotiate;
mod patch;
mod respond;
mod search_plan;
mod summary;

use std::sync::{Arc, OnceLock};

use hearth_interface::authz::Authorizer;
use hearth_interface::binary::{BinaryStore, SignedUrlServer};
use hearth_interface::search::SearchEngine;
use hearth_interface::store::ResourceStore;
use hearth_interface::validate::Validator;

pub use error::ApiError;
pub use handlers::app;

/// Limits and presentation settings of the router.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The public base URL of the FHIR endpoint (no trailing slash). When `None`, the base
    /// is derived from each request's `Host` header (`http://host`).
    pub base_url: Option<String>,
    /// The largest request body accepted, in bytes; larger bodies get a 413.
    pub max_body_bytes: usize,
    /// Page size when `_count` is not given.
    pub default_count: usize,
    /// The largest `_count` honoured; larger values are capped.
    pub max_count: usize,
    /// The most entries a batch or transaction Bundle may have; more get a 413.
    pub max_bundle_entries: usize,
    /// The largest upload accepted through the server's own signed `_binary` URLs.
    pub max_binary_bytes: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            max_body_bytes: 16 * 1024 * 1024,
            default_count: 20,
            max_count: 1000,
            max_bundle_entries: 20_000,
            max_binary_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The components behind the router, shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    store: Arc<dyn ResourceStore>,
    search: Arc<dyn SearchEngine>,
    validator: Arc<dyn Validator>,
    config: Arc<RouterConfig>,
    binaries: Option<Arc<dyn BinaryStore>>,
    signed_urls: Option<Arc<dyn SignedUrlServer>>,
    capability_cache: Arc<OnceLock<serde_json::Value>>,
    authorizer: Option<Arc<dyn Authorizer>>,
}

impl AppState {
    /// Wires the components the router serves.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        search: Arc<dyn SearchEngine>,
        validator: Arc<dyn Validator>,
        config: RouterConfig,
    ) -> Self {
        Self {
            store,
            search,
            validator,
            config: Arc::new(config),
            binaries: None,
            signed_urls: None,
            capability_cache: Arc::new(OnceLock::new()),
            authorizer: None,
        }
    }

    /// Requires a bearer token on every request but the public ones and checks every
    /// interaction against what the token grants (see the `authz` module). The store and
    /// search engine are wrapped so that each access to data is checked.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.store = Arc::new(authz::guard::GuardedStore::new(self.store));
        self.search = Arc::new(authz::guard::GuardedSearch::new(self.search));
        self.authorizer = Some(authorizer);
        self
    }

    /// Keeps the content of `Binary` resources in `store`: writes answer with a presigned
    /// upload URL (`presignedPutUrl`), reads with a download URL (`presignedGetUrl`), and
    /// inline `data` moves to the store. Without one, `Binary` is an ordinary resource.
    pub fn with_binary_store(mut self, store: Arc<dyn BinaryStore>) -> Self {
        self.binaries = Some(store);
        self
    }

    /// Serves the signed URLs of a store whose URLs point at this server
    /// (`_binary/{key}?expires=..&signature=..`).
    pub fn with_signed_urls(mut self, server: Arc<dyn SignedUrlServer>) -> Self {
        self.signed_urls = Some(server);
        self
    }
}
