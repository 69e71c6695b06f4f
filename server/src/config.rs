//! Configuration: built from the command line locally, from the environment in Lambda.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HEARTH_ADDR` | listen address (`serve`) | `127.0.0.1:8080` |
//! | `HEARTH_DATA_DIR` | embedded backend directory | `./hearth-data` (`/tmp/hearth-data` in Lambda) |
//! | `HEARTH_BACKEND` | `sqlite` or `aws` | `sqlite` |
//! | `HEARTH_DYNAMODB_TABLE` | AWS: DynamoDB table of resources | `hearth` |
//! | `HEARTH_S3_BUCKET` | AWS: S3 bucket of Binary contents | `hearth-binaries` |
//! | `HEARTH_OPENSEARCH_URL` | AWS: OpenSearch base URL | `http://127.0.0.1:9200` |
//! | `HEARTH_OPENSEARCH_PREFIX` | AWS: prefix of the index names | `hearth` |
//! | `HEARTH_LAMBDA_ROLE` | Lambda: `api` or `stream-indexer` (DynamoDB stream events) | `api` |
//! | `HEARTH_BASE_URL` | public base URL | from the `Host` header |
//! | `HEARTH_AUTH` | `none`, `rbac` or `smart` | `none` |
//! | `HEARTH_INSECURE_NO_AUTH` | allow `--auth none` off loopback | `false` |
//! | `HEARTH_COGNITO_ISSUER` | RBAC: user pool issuer URL | required for `rbac` |
//! | `HEARTH_COGNITO_JWKS_URL` | RBAC: JWK Set URL | `<issuer>/.well-known/jwks.json` |
//! | `HEARTH_COGNITO_CLIENT_ID` | RBAC: accepted app client ids, comma separated | any |
//! | `HEARTH_RBAC_RULES` | RBAC: rules file (JSON) | built-in defaults |
//! | `HEARTH_SMART_ISSUER` | SMART: external authorization server issuer | unset |
//! | `HEARTH_SMART_JWKS_URL` | SMART: its JWK Set URL | required with the issuer |
//! | `HEARTH_SMART_AUDIENCE` | SMART: audience its tokens must name | not checked |
//! | `HEARTH_SMART_AUTHORIZE_URL`, `HEARTH_SMART_TOKEN_URL` | SMART: its endpoints, for discovery | unset |
//! | `HEARTH_SMART_BUILTIN` | SMART: serve the built-in Backend Services token endpoint | `false` |
//! | `HEARTH_MAX_BODY_BYTES` | largest request body | 16 MiB |
//! | `HEARTH_MAX_COUNT` | largest `_count` | 1000 |
//! | `HEARTH_MAX_BUNDLE_ENTRIES` | most entries in a batch or transaction | 20000 |
//! | `HEARTH_IMPORT_BATCH` | resources per import transaction | 1000 |
//! | `AWS_LAMBDA_RUNTIME_API` | set by Lambda: serve API Gateway events | unset |

use std::path::PathBuf;

use hearth_routing::RouterConfig;

use clap::Parser;

use crate::cli::{Auth, AuthArgs, AwsArgs, Backend, ServeArgs, StoreArgs};

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
    /// An authorization mode lacks a setting it needs.
    #[error("{0}")]
    IncompleteAuth(&'static str),
}

/// How requests are authorized.
#[derive(Debug, Clone, Default)]
pub enum AuthConfig {
    /// Not at all.
    #[default]
    None,
    /// Cognito groups.
    Rbac {
        /// User pool issuer.
        issuer: String,
        /// JWK Set URL.
        jwks_url: String,
        /// Accepted app client ids.
        client_ids: Vec<String>,
        /// Rules file; built-in defaults when `None`.
        rules: Option<PathBuf>,
    },
    /// SMART on FHIR.
    Smart {
        /// External authorization server: issuer, JWK Set URL, audience, endpoints.
        external: Option<hearth_authz_smart::ExternalIssuer>,
        /// Whether the built-in token endpoint is on.
        builtin: bool,
    },
}

impl AuthConfig {
    /// The configuration `mode` and `args` describe.
    ///
    /// # Errors
    /// [`ConfigError::IncompleteAuth`] when a mode lacks a required setting.
    pub fn from_args(mode: Auth, args: &AuthArgs) -> Result<Self, ConfigError> {
        match mode {
            Auth::None => Ok(Self::None),
            Auth::Rbac => {
                let issuer = args
                    .cognito_issuer
                    .clone()
                    .ok_or(ConfigError::IncompleteAuth(
                        "--auth rbac needs --cognito-issuer (HEARTH_COGNITO_ISSUER)",
                    ))?;
                let issuer = issuer.trim_end_matches('/').to_owned();
                Ok(Self::Rbac {
                    jwks_url: args
                        .cognito_jwks_url
                        .clone()
                        .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json")),
                    issuer,
                    client_ids: args.cognito_client_id.clone(),
                    rules: args.rbac_rules.clone(),
                })
            }
            Auth::Smart => {
                let external = match (&args.smart_issuer, &args.smart_jwks_url) {
                    (Some(issuer), Some(jwks_url)) => Some(hearth_authz_smart::ExternalIssuer {
                        issuer: issuer.clone(),
                        jwks_url: jwks_url.clone(),
                        audience: args.smart_audience.clone(),
                        authorize_url: args.smart_authorize_url.clone(),
                        token_url: args.smart_token_url.clone(),
                    }),
                    (None, None) => None,
                    _ => {
                        return Err(ConfigError::IncompleteAuth(
                            "--smart-issuer and --smart-jwks-url go together",
                        ));
                    }
                };
                if external.is_none() && !args.smart_builtin {
                    return Err(ConfigError::IncompleteAuth(
                        "--auth smart needs --smart-issuer with --smart-jwks-url, or --smart-builtin",
                    ));
                }
                Ok(Self::Smart {
                    external,
                    builtin: args.smart_builtin,
                })
            }
        }
    }
}

/// Where and how resources are stored.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The backend.
    pub backend: Backend,
    /// The embedded backend's directory.
    pub data_dir: PathBuf,
    /// The AWS backend's table, bucket and OpenSearch cluster.
    pub aws: AwsArgs,
}

impl From<&StoreArgs> for StoreConfig {
    fn from(args: &StoreArgs) -> Self {
        Self {
            backend: args.backend,
            data_dir: args.data_dir.clone(),
            aws: args.aws.clone(),
        }
    }
}

/// The AWS options alone, so that Lambda reads them from the environment with the same
/// names and defaults as the command line.
#[derive(Debug, Parser)]
struct AwsEnv {
    #[command(flatten)]
    aws: AwsArgs,
}

/// The AWS backend's settings from `HEARTH_DYNAMODB_TABLE`, `HEARTH_S3_BUCKET`,
/// `HEARTH_OPENSEARCH_URL` and `HEARTH_OPENSEARCH_PREFIX` (defaults as on the command line).
///
/// # Errors
/// [`ConfigError::InvalidEnv`] when clap refuses a value.
pub fn aws_from_env() -> Result<AwsArgs, ConfigError> {
    AwsEnv::try_parse_from(["hearth"])
        .map(|parsed| parsed.aws)
        .map_err(|e| ConfigError::InvalidEnv {
            name: "HEARTH_DYNAMODB_TABLE, HEARTH_S3_BUCKET, HEARTH_OPENSEARCH_URL or HEARTH_OPENSEARCH_PREFIX",
            value: String::new(),
            reason: e.to_string(),
        })
}

/// Everything the HTTP server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Storage.
    pub store: StoreConfig,
    /// Router limits and base URL.
    pub router: RouterConfig,
    /// Authorization.
    pub auth: AuthConfig,
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
            auth: AuthConfig::from_args(args.auth, &args.auth_options)?,
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
            Some("aws") => Backend::Aws,
            Some(other) => {
                return Err(ConfigError::InvalidEnv {
                    name: "HEARTH_BACKEND",
                    value: other.to_owned(),
                    reason: "expected sqlite or aws".into(),
                });
            }
        };
        let auth_mode = match env("HEARTH_AUTH").as_deref() {
            None | Some("none") => Auth::None,
            Some("rbac") => Auth::Rbac,
            Some("smart") => Auth::Smart,
            Some(other) => {
                return Err(ConfigError::InvalidEnv {
                    name: "HEARTH_AUTH",
                    value: other.to_owned(),
                    reason: "expected none, rbac or smart".into(),
                });
            }
        };
        let auth_args = AuthArgs {
            cognito_issuer: env("HEARTH_COGNITO_ISSUER"),
            cognito_jwks_url: env("HEARTH_COGNITO_JWKS_URL"),
            cognito_client_id: env("HEARTH_COGNITO_CLIENT_ID")
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            rbac_rules: env("HEARTH_RBAC_RULES").map(PathBuf::from),
            smart_issuer: env("HEARTH_SMART_ISSUER"),
            smart_jwks_url: env("HEARTH_SMART_JWKS_URL"),
            smart_audience: env("HEARTH_SMART_AUDIENCE"),
            smart_authorize_url: env("HEARTH_SMART_AUTHORIZE_URL"),
            smart_token_url: env("HEARTH_SMART_TOKEN_URL"),
            smart_builtin: env("HEARTH_SMART_BUILTIN").as_deref() == Some("true"),
        };
        Ok(Self {
            auth: AuthConfig::from_args(auth_mode, &auth_args)?,
            store: StoreConfig {
                backend,
                data_dir: env("HEARTH_DATA_DIR")
                    .map_or_else(|| PathBuf::from("/tmp/hearth-data"), PathBuf::from),
                aws: aws_from_env()?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_modes_require_their_settings() {
        let none = AuthArgs::default();
        assert!(matches!(
            AuthConfig::from_args(Auth::None, &none),
            Ok(AuthConfig::None)
        ));
        assert!(AuthConfig::from_args(Auth::Rbac, &none).is_err());
        assert!(AuthConfig::from_args(Auth::Smart, &none).is_err());
        let rbac = AuthArgs {
            cognito_issuer: Some("https://cognito-idp.eu-west-1.amazonaws.com/pool/".into()),
            ..AuthArgs::default()
        };
        match AuthConfig::from_args(Auth::Rbac, &rbac) {
            Ok(AuthConfig::Rbac { jwks_url, .. }) => assert_eq!(
                jwks_url,
                "https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json"
            ),
            other => panic!("{other:?}"),
        }
        let half = AuthArgs {
            smart_issuer: Some("https://issuer".into()),
            ..AuthArgs::default()
        };
        assert!(AuthConfig::from_args(Auth::Smart, &half).is_err());
        let builtin = AuthArgs {
            smart_builtin: true,
            ..AuthArgs::default()
        };
        assert!(AuthConfig::from_args(Auth::Smart, &builtin).is_ok());
    }
}
