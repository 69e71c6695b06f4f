//! `hearth-bench`: reproducible benchmarks. Each scenario measures its baseline in the same
//! run and prints the ratio, because this machine is noisy: compare ratios, not times.
//!
//! ```sh
//! cargo run --release -p hearth-bench -- import
//! cargo run --release -p hearth-bench -- http
//! cargo run --release -p hearth-bench -- http --auth smart
//! cargo run --release -p hearth-bench -- http --auth rbac
//! cargo run --release -p hearth-bench -- startup
//! cargo run --release -p hearth-bench -- cold-start
//! cargo run --release -p hearth-bench -- transaction
//! cargo run --release -p hearth-bench -- search
//! cargo run --release -p hearth-bench -- aws-index
//! ```
//!
//! With `--record`, a scenario also appends its table to `BENCHMARKS.md` with the date,
//! the machine (CPU model, cores, load) and the git commit.

mod auth_read;
mod aws_index;
mod cold_start;
mod http_load;
mod import;
mod report;
mod search;
mod startup;
mod transaction;

use clap::{Parser, Subcommand};

/// The same allocator as the `hearth` binary, so in-process measurements match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hearth benchmarks.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Append the printed table to BENCHMARKS.md with the date, machine and commit.
    #[arg(long, global = true)]
    record: bool,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// `hearth import` of the Synthea sample vs parse + raw SQLite insert.
    Import(import::Args),
    /// Reads and creates over keep-alive HTTP vs a trivial handler on the same stack.
    Http(http_load::Args),
    /// Process start to first `GET /metadata` on a large store vs `hearth --version`.
    Startup(startup::Args),
    /// Lambda cold start to the first answered event vs `hearth --version`.
    ColdStart(cold_start::Args),
    /// Transaction Bundles of 100/1,000/10,000 entries vs one-by-one creates.
    Transaction(transaction::Args),
    /// Searches on generated data (import rate, p50/p95 per query) vs `GET /metadata`.
    Search(search::Args),
    /// Stream indexer and `hearth reindex` on moto + osmem vs raw OpenSearch `_bulk`.
    AwsIndex(aws_index::Args),
}

#[tokio::main]
async fn main() {
    hearth::memory::without_transparent_huge_pages();
    let cli = Cli::parse();
    let (name, result) = match cli.scenario {
        Scenario::Import(args) => ("import", import::run(args).await),
        Scenario::Http(args) => ("http", http_load::run(args).await),
        Scenario::Startup(args) => ("startup", startup::run(args).await),
        Scenario::ColdStart(args) => ("cold-start", cold_start::run(args).await),
        Scenario::Transaction(args) => ("transaction", transaction::run(args).await),
        Scenario::Search(args) => ("search", search::run(args).await),
        Scenario::AwsIndex(args) => ("aws-index", aws_index::run(args).await),
    };
    let result = result.and_then(|()| {
        if cli.record {
            report::record(name)
        } else {
            Ok(())
        }
    });
    if let Err(e) = result {
        eprintln!("hearth-bench: {e}");
        std::process::exit(1);
    }
}

/// The median of a list of measurements.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The repository's test data directory.
fn test_data() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

/// Runs `hearth generate` for `patients` patients into `out`.
fn generate(bin: &std::path::Path, patients: usize, out: &std::path::Path) -> Result<(), String> {
    let status = std::process::Command::new(bin)
        .args([
            "generate",
            "--quiet",
            "--patients",
            &patients.to_string(),
            "--out",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err("hearth generate failed".into())
    }
}

/// A free TCP port on the loopback interface.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// The release `hearth` binary next to this one.
fn hearth_binary() -> Result<std::path::PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = me.with_file_name("hearth");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release)",
            bin.display()
        ))
    }
}
