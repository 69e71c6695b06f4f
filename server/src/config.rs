//! Configuration: built from the command line locally, from the environment in Lambda.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HEARTH_ADDR` | listen address (`serve`) | `127.0.0.1:8080` |
//! | `HEARTH_DATA_DIR` | embedded backend directory | `./hearth-data` (`/tmp/hearth-data` in Lambda) |
//! | `HEARTH_BACKEND` | `sqlite` | `sqlite` |
//! | `HEARTH_BASE_URL` | public base URL | from the `Host` header |
//! | `HEARTH_AUTH` | `none` | `none` |
//! | `HEARTH_INSECURE_NO_AUTH` | allow `--auth none` off loopback | `false` |
//! | `HEARTH_MAX_BODY_BYTES` | largest request body | 16 MiB |
//! | `HEARTH_MAX_COUNT` | largest `_count` | 1000 |
//! | `HEARTH_MAX_BUNDLE_ENTRIES` | most entries in a batch or transaction | 20000 |
//! | `HEARTH_IMPORT_BATCH` | resources per import transaction | 1000 |
//! | `AWS_LAMBDA_RUNTIME_API` | set by Lambda: serve API Gateway events | unset |

use std::path::PathBuf;

use hearth_routing::RouterConfig;

use crate::cli::{Auth, Backend, ServeArgs, StoreArgs};

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable has a value that does not parse.
    #[error("{name} has an invalid value '{value}': {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `--auth none` on an address other people can reach.
    #[error(
        "--auth none is refused on the non-loopback address {0}: configure authorization or pass --insecure-no-auth"
    )]
    UnsafeNoAuth(std::net::SocketAddr),
}

/// Where and how resources are stored.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The backend.
    pub backend: Backend,
    /// The embedded backend's directory.
    pub data_dir: PathBuf,
}

impl From<&StoreArgs> for StoreConfig {
    fn from(args: &StoreArgs) -> Self {
        Self {
            backend: args.backend,
            data_dir: args.data_dir.clone(),
        }
    }
}

/// Everything the HTTP server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Storage.
    pub store: StoreConfig,
    /// Router limits and base URL.
    pub router: RouterConfig,
}

impl ServerConfig {
    /// From `hearth serve` arguments.
    ///
    /// # Errors
    /// [`ConfigError::UnsafeNoAuth`] for `--auth none` off loopback without `--insecure-no-auth`.
    pub fn from_serve_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        if args.auth == Auth::None && !args.addr.ip().is_loopback() && !args.insecure_no_auth {
            return Err(ConfigError::UnsafeNoAuth(args.addr));
        }
        Ok(Self {
            store: StoreConfig::from(&args.store),
            router: RouterConfig {
                base_url: args.base_url.clone(),
                max_body_bytes: args.max_body_bytes,
                max_count: args.max_count,
                max_bundle_entries: args.max_bundle_entries,
                ..RouterConfig::default()
            },
        })
    }

    /// From the environment, for Lambda.
    ///
    /// # Errors
    /// [`ConfigError::InvalidEnv`] for values that do not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = RouterConfig::default();
        let backend = match env("HEARTH_BACKEND").as_deref() {
            None | Some("sqlite") => Backend::Sqlite,
            Some(other) => {
                return Err(ConfigError::InvalidEnv {
                    name: "HEARTH_BACKEND",
                    value: other.to_owned(),
                    reason: "expected sqlite".into(),
                });
            }
        };
        Ok(Self {
            store: StoreConfig {
                backend,
                data_dir: env("HEARTH_DATA_DIR")
                    .map_or_else(|| PathBuf::from("/tmp/hearth-data"), PathBuf::from),
            },
            router: RouterConfig {
                base_url: env("HEARTH_BASE_URL"),
                max_body_bytes: env_number("HEARTH_MAX_BODY_BYTES")?
                    .unwrap_or(defaults.max_body_bytes),
                max_count: env_number("HEARTH_MAX_COUNT")?.unwrap_or(defaults.max_count),
                max_bundle_entries: env_number("HEARTH_MAX_BUNDLE_ENTRIES")?
                    .unwrap_or(defaults.max_bundle_entries),
                ..defaults
            },
        })
    }
}

/// Whether the process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    env("AWS_LAMBDA_RUNTIME_API").is_some()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_number(name: &'static str) -> Result<Option<usize>, ConfigError> {
    env(name)
        .map(|v| {
            v.parse()
                .map_err(|e: std::num::ParseIntError| ConfigError::InvalidEnv {
                    name,
                    value: v.clone(),
                    reason: e.to_string(),
                })
        })
        .transpose()
}
