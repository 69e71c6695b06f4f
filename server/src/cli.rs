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
    Serve(ServeArgs),
    /// Load NDJSON files (.ndjson, .ndjson.gz) into the store, upserting by id.
    Import(ImportArgs),
    /// Write deterministic synthetic patient records as NDJSON, one file per resource type.
    Generate(GenerateArgs),
}

/// Where resources are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// SQLite and local files under `--data-dir` (the embedded default).
    Sqlite,
}

/// Who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    /// No authorization: only on a loopback address, or with `--insecure-no-auth`.
    None,
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
