//! The `hearth` server: configuration, component wiring, the command-line tools and the
//! Lambda entry point.

pub mod cli;
pub mod clients;
pub mod config;
pub mod generate;
pub mod import;
pub mod lambda;
pub mod serve;
pub mod telemetry;
pub mod wiring;
