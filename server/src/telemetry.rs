//! Logging: `tracing` to stderr, JSON lines inside Lambda, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `json` for Lambda (CloudWatch) output.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if json {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(installed);
}
