//! Building the components a configuration names and wiring them into the router's state.

use std::sync::Arc;

use hearth_interface::binary::{BinaryStore, SignedUrlServer};
use hearth_interface::store::ResourceStore;
use hearth_interface::validate::JsonSchemaValidator;
use hearth_persistence_dynamo::{DynamoStore, S3BinaryStore};
use hearth_routing::{AppState, RouterConfig};
use hearth_search_opensearch::{
    OpenSearchClient, OpenSearchConfig, OpenSearchIndexer, OpenSearchSearch,
};
use hearth_sqlite::{FsBinaryStore, SqliteSearch, SqliteStore};

use hearth_interface::authz::Authorizer;

use crate::cli::{AwsArgs, Backend};
use crate::config::{AuthConfig, StoreConfig};
use crate::indexing_store::IndexingStore;
use crate::stream_indexer::StreamIndexer;

/// The storage components of a backend.
#[derive(Debug)]
pub struct Components {
    /// Resources and history.
    pub store: Arc<dyn ResourceStore>,
    /// Search.
    pub search: Arc<dyn hearth_interface::search::SearchEngine>,
    /// The content of `Binary` resources.
    pub binaries: Arc<dyn BinaryStore>,
    /// The server side of the binary store's URLs, when they point at this server.
    pub signed_urls: Option<Arc<dyn SignedUrlServer>>,
    /// The AWS backend's stream indexer, for `serve` to run in-process.
    pub stream_indexer: Option<StreamIndexer>,
    /// The embedded store, when its search index misses the writes of an import that
    /// deferred it (`hearth import --defer-index`): `serve` rebuilds it before listening.
    pub stale_search_index: Option<SqliteStore>,
}

/// The AWS clients of a configuration; nothing is sent yet.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// The shared SDK configuration (region, credentials, `AWS_ENDPOINT_URL`).
    pub sdk: aws_config::SdkConfig,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The Binary bucket.
    pub binaries: S3BinaryStore,
    /// OpenSearch.
    pub opensearch: OpenSearchClient,
}

impl AwsClients {
    /// Clients from the standard AWS SDK environment and `args`. OpenSearch requests are
    /// signed with SigV4 for Amazon OpenSearch Service domains (`*.amazonaws.com`), sent
    /// unsigned otherwise (local stand-ins, self-managed clusters).
    ///
    /// # Errors
    /// When the OpenSearch URL or index prefix is malformed.
    pub async fn from_env(args: &AwsArgs) -> hearth_interface::Result<Self> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = OpenSearchConfig::new(args.opensearch_url.clone())
            .with_index_prefix(args.opensearch_prefix.clone());
        let opensearch = if is_aws_domain(&args.opensearch_url) {
            OpenSearchClient::from_config_with_aws(&config, &sdk)?
        } else {
            OpenSearchClient::from_config(&config)?
        };
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            binaries: S3BinaryStore::from_sdk_config(&sdk, args.s3_bucket.clone()),
            opensearch,
            sdk,
        })
    }
}

/// The bulk jobs table that goes with resource table `table`: `{table}-jobs` (jobs keep
/// out of the resource table's stream and its indexer).
pub fn jobs_table(table: &str) -> String {
    format!("{table}-jobs")
}

fn is_aws_domain(url: &str) -> bool {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .is_some_and(|host| host.ends_with(".amazonaws.com"))
}

/// An error with its causes, for start-up messages (an [`Error`](hearth_interface::Error)
/// displays only its client-facing message).
pub fn describe(error: &hearth_interface::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Opens the configured backend; for AWS, checks the table, the bucket and the cluster
/// so that configuration errors fail here rather than at the first request.
///
/// # Errors
/// When the backend cannot be opened (for SQLite: the data directory or file; for AWS: a
/// missing or unreachable table, bucket or OpenSearch cluster).
pub async fn open(config: &StoreConfig) -> hearth_interface::Result<Components> {
    match config.backend {
        Backend::Sqlite => {
            let store = SqliteStore::open(&config.data_dir)?;
            let search = SqliteSearch::new(store.clone());
            let binaries = Arc::new(FsBinaryStore::open(&config.data_dir)?);
            Ok(Components {
                stale_search_index: store.search_index_stale()?.then(|| store.clone()),
                store: Arc::new(store),
                search: Arc::new(search),
                binaries: binaries.clone(),
                signed_urls: Some(binaries),
                stream_indexer: None,
            })
        }
        Backend::Aws => open_aws(&config.aws).await,
    }
}

async fn open_aws(args: &AwsArgs) -> hearth_interface::Result<Components> {
    let clients = AwsClients::from_env(args).await?;
    let table = args.dynamodb_table.clone();
    // Checked together, and every problem reported at once.
    let (store, bucket, cluster) = tokio::join!(
        DynamoStore::connect(clients.dynamodb.clone(), table.clone()),
        clients.binaries.check(),
        clients.opensearch.check(),
    );
    let problems: Vec<String> = [
        store.as_ref().err(),
        bucket.err().as_ref(),
        cluster.err().as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(describe)
    .collect();
    if !problems.is_empty() {
        return Err(hearth_interface::Error::invalid(problems.join("; ")));
    }
    let store = store?;
    let indexer = OpenSearchIndexer::new(clients.opensearch.clone());
    let stream_indexer = StreamIndexer::connect(&clients, &table, indexer.clone()).await?;
    let store = IndexingStore::new(Arc::new(store), indexer.with_wait_for_refresh(true));
    Ok(Components {
        store: Arc::new(store),
        search: Arc::new(OpenSearchSearch::new(clients.opensearch)),
        binaries: Arc::new(clients.binaries),
        signed_urls: None,
        stream_indexer: Some(stream_indexer),
        stale_search_index: None,
    })
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
