//! The command line. Every option can also come from a `HEARTH_*` environment variable;
//! flags win over the environment, which wins over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Hearth: a FHIR R4 server.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the FHIR REST API over HTTP.
    Serve(Box<ServeArgs>),
    /// Load NDJSON files (.ndjson, .ndjson.gz) into the store, upserting by id.
    Import(ImportArgs),
    /// Write deterministic synthetic patient records as NDJSON, one file per resource type.
    Generate(GenerateArgs),
    /// Manage clients of the built-in SMART Backend Services token endpoint.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Create the DynamoDB table, the S3 bucket and the OpenSearch indexes (idempotent).
    InitAws(InitAwsArgs),
    /// Rebuild the search index from the store and report the drift per type.
    Reindex(ReindexArgs),
}

/// `hearth clients`.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its new client_id alone on stdout.
    Add(ClientsAddArgs),
}

/// `hearth clients add`.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("keys").required(true).args(["jwks_url", "jwk"]))]
pub struct ClientsAddArgs {
    /// URL of the client's JWK Set (public keys, fetched when needed).
    #[arg(long)]
    pub jwks_url: Option<String>,
    /// File with the client's public JWK or JWK Set.
    #[arg(long)]
    pub jwk: Option<PathBuf>,
    /// The widest scopes the client may be granted, e.g. 'system/*.rs'.
    #[arg(long)]
    pub scope: String,
    /// Store options (the registry lives in the data directory).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where resources are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// SQLite and local files under `--data-dir` (the embedded default).
    Sqlite,
    /// DynamoDB (resources, jobs), S3 (binaries) and OpenSearch (search).
    Aws,
}

/// Who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    /// No authorization: only on a loopback address, or with `--insecure-no-auth`.
    None,
    /// Amazon Cognito user-pool tokens; access by `cognito:groups` rules.
    Rbac,
    /// SMART on FHIR scopes, from an external authorization server and/or the built-in one.
    Smart,
}

/// Authorization options (`--auth rbac` and `--auth smart`).
#[derive(Debug, Clone, Default, Args)]
pub struct AuthArgs {
    /// Cognito user pool issuer (`https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    #[arg(long, env = "HEARTH_COGNITO_ISSUER")]
    pub cognito_issuer: Option<String>,
    /// Cognito JWK Set URL (default: `<issuer>/.well-known/jwks.json`).
    #[arg(long, env = "HEARTH_COGNITO_JWKS_URL")]
    pub cognito_jwks_url: Option<String>,
    /// Accepted Cognito app client ids, comma separated (default: any client of the pool).
    #[arg(long, env = "HEARTH_COGNITO_CLIENT_ID", value_delimiter = ',')]
    pub cognito_client_id: Vec<String>,
    /// RBAC rules file (JSON; default: the built-in practitioner/non-practitioner/auditor rules).
    #[arg(long, env = "HEARTH_RBAC_RULES")]
    pub rbac_rules: Option<PathBuf>,
    /// Issuer of an external SMART authorization server.
    #[arg(long, env = "HEARTH_SMART_ISSUER")]
    pub smart_issuer: Option<String>,
    /// JWK Set URL of the external SMART authorization server.
    #[arg(long, env = "HEARTH_SMART_JWKS_URL")]
    pub smart_jwks_url: Option<String>,
    /// Audience external SMART tokens must name (usually this server's base URL).
    #[arg(long, env = "HEARTH_SMART_AUDIENCE")]
    pub smart_audience: Option<String>,
    /// Authorization endpoint of the external SMART server, for discovery.
    #[arg(long, env = "HEARTH_SMART_AUTHORIZE_URL")]
    pub smart_authorize_url: Option<String>,
    /// Token endpoint of the external SMART server, for discovery.
    #[arg(long, env = "HEARTH_SMART_TOKEN_URL")]
    pub smart_token_url: Option<String>,
    /// Enable the built-in SMART Backend Services token endpoint (`POST /auth/token`).
    #[arg(long, env = "HEARTH_SMART_BUILTIN")]
    pub smart_builtin: bool,
}

/// Options shared by every subcommand that opens the store.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded backend's database and files.
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./hearth-data")]
    pub data_dir: PathBuf,
    /// Storage backend.
    #[arg(long, env = "HEARTH_BACKEND", value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// The AWS backend's resources.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where the AWS backend keeps things (`--backend aws`); the AWS SDK reads the region,
/// credentials and `AWS_ENDPOINT_URL` from its standard environment.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// DynamoDB table of resources, history and bulk jobs.
    #[arg(long, env = "HEARTH_DYNAMODB_TABLE", default_value = "hearth")]
    pub dynamodb_table: String,
    /// S3 bucket of Binary contents.
    #[arg(long, env = "HEARTH_S3_BUCKET", default_value = "hearth-binaries")]
    pub s3_bucket: String,
    /// OpenSearch base URL.
    #[arg(
        long,
        env = "HEARTH_OPENSEARCH_URL",
        default_value = "http://127.0.0.1:9200"
    )]
    pub opensearch_url: String,
    /// Prefix of the OpenSearch index names (`{prefix}-{type}`, alias `{prefix}-all`).
    #[arg(long, env = "HEARTH_OPENSEARCH_PREFIX", default_value = "hearth")]
    pub opensearch_prefix: String,
}

/// `hearth serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HEARTH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Public base URL of the FHIR endpoint (default: http://<Host header>).
    #[arg(long, env = "HEARTH_BASE_URL")]
    pub base_url: Option<String>,
    /// Authorization mode.
    #[arg(long, env = "HEARTH_AUTH", value_enum, default_value = "none")]
    pub auth: Auth,
    /// Allow `--auth none` on a non-loopback address.
    #[arg(long, env = "HEARTH_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Authorization options.
    #[command(flatten)]
    pub auth_options: AuthArgs,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "HEARTH_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest `_count` honoured in searches and history.
    #[arg(long, env = "HEARTH_MAX_COUNT", default_value_t = 1000)]
    pub max_count: usize,
    /// Most entries in a batch or transaction Bundle.
    #[arg(long, env = "HEARTH_MAX_BUNDLE_ENTRIES", default_value_t = 20_000)]
    pub max_bundle_entries: usize,
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `hearth import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// NDJSON files or directories holding them (.ndjson, .ndjson.gz).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Resources per write batch (one database transaction each).
    #[arg(long, env = "HEARTH_IMPORT_BATCH", default_value_t = 1000)]
    pub batch_size: usize,
    /// Skip JSON schema validation (structure checks still run).
    #[arg(long)]
    pub no_validate: bool,
    /// Leave the search index to be rebuilt at once later (`hearth reindex`, or `hearth
    /// serve` before it listens): loads faster (embedded backend; on AWS each batch is
    /// indexed as it is written, as by the server).
    #[arg(long)]
    pub defer_index: bool,
    /// Longest accepted line, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_line_bytes: usize,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `hearth generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Number of patients (about 300 resources each).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub patients: u32,
    /// Output directory (created if missing): one `<Type>.ndjson` file per resource type.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same patients and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `hearth init-aws`.
#[derive(Debug, Clone, Args)]
pub struct InitAwsArgs {
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
    /// The AWS resources to create.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `hearth reindex`.
#[derive(Debug, Clone, Args)]
pub struct ReindexArgs {
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// The store to read and index.
    #[command(flatten)]
    pub store: StoreArgs,
}
