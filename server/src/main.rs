//! The `hearth` binary: parses the command line (or detects Lambda), builds the
//! configuration and hands off to the chosen entry point.

use std::process::ExitCode;

use clap::Parser;
use hearth::cli::{Cli, Command};

/// mimalloc instead of the system allocator: resources are parsed on one thread and freed
/// on another, which glibc malloc serialises on its arena locks (a third of import time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    hearth::memory::without_transparent_huge_pages();
    if hearth::lambda::is_lambda() {
        hearth::telemetry::init(true);
        return hearth::lambda::run().await;
    }
    let cli = Cli::parse();
    hearth::telemetry::init(false);
    let result = match cli.command {
        Command::Serve(args) => hearth::serve::run(*args).await,
        Command::Import(args) => hearth::import::run(args).await,
        Command::Generate(args) => hearth::generate::run(args),
        Command::Clients(command) => hearth::clients::run(command),
        Command::InitAws(args) => hearth::init_aws::run(args).await,
        Command::Reindex(args) => hearth::reindex::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hearth: {e}");
            ExitCode::FAILURE
        }
    }
}
