//! The `hearth` server: configuration, component wiring, the command-line tools and the
//! Lambda entry point.

pub mod cli;
pub mod clients;
pub mod config;
pub mod generate;
pub mod import;
pub mod indexing_store;
pub mod init_aws;
pub mod lambda;
pub mod memory;
pub mod reindex;
pub mod serve;
pub mod stream_indexer;
pub mod telemetry;
pub mod wiring;
