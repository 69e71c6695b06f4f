//! Hearth's shared vocabulary: the traits every pluggable component implements
//! (storage, search, validation), the request and response types they exchange,
//! the error model with its `OperationOutcome` mapping kinds, and the FHIR R4
//! definitions (resource types, JSON schema, search parameters) embedded at build time.
//!
//! This crate does no I/O. It is to Hearth what `axum-core` is to axum.

pub mod authz;
pub mod binary;
pub mod compartment;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod elements;
pub mod error;
pub mod fhirpath;
pub mod fulltext;
pub mod geo;
pub mod id;
pub mod index;
pub mod instant;
pub mod jobs;
pub mod outcome;
pub mod prepared;
pub mod search;
pub mod search_params;
pub mod store;
pub mod validate;

pub use error::{Error, IssueKind, Result};
pub use id::{ResourceId, ResourceType};
