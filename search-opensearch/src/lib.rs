//! Hearth's search on OpenSearch: [`OpenSearchSearch`] answers FHIR searches,
//! [`OpenSearchIndexer`] indexes stored versions (from the DynamoDB stream, or a full
//! [`reindex`](OpenSearchIndexer::reindex) from any [`ResourceStore`]), and
//! [`OpenSearchClient`] holds the connection, creates the indexes and checks the cluster.
//!
//! Only the standard OpenSearch REST API is used (index creation with mappings and aliases,
//! `_bulk` with external versioning, `_search` with `bool`/`term`/`terms`/`prefix`/
//! `wildcard`/`range`/`nested`/`exists` queries, `sort` + `search_after`,
//! `track_total_hits`, `_count`), through the official `opensearch` client.
//!
//! # Indexes
//! One index per resource type, `{prefix}-{type in lowercase}` (`hearth-patient`), all in
//! the alias `{prefix}-all` used by searches over many types. Each has an explicit, strict
//! mapping derived from the R4 search parameters of its type (see [`mapping`]), and one
//! document per resource, whose `_id` is the resource id and whose external version is the
//! resource's version: a replayed or older record is refused by OpenSearch (409) and so
//! never replaces a newer one. A deletion replaces the document by a tombstone with the
//! deletion's version (rather than deleting it), so an older version replayed later cannot
//! come back either; searches skip tombstones.
//!
//! A document holds the index values of the current version, extracted by the same code
//! as the embedded backend ([`hearth_interface::index::extract_all`]), laid out per
//! parameter under `p` (see [`document`]), plus the stored body returned by searches.
//!
//! # Search semantics
//! The criteria are parsed by [`hearth_interface::search::criteria`], as for the embedded
//! backend, and each condition becomes a query on the document's fields (see [`query`]).
//! Results come in the order of the resources' last change, oldest first (then by type and
//! id); a search over several types is one query over their indexes, so its results
//! interleave the types in that order. Cursors are `search_after` positions: no offsets,
//! no 10,000-result window.
//!
//! [`ResourceStore`]: hearth_interface::store::ResourceStore

mod client;
mod cursor;
pub mod document;
mod engine;
mod indexer;
pub mod mapping;
pub mod query;

pub use client::{OpenSearchClient, OpenSearchConfig};
pub use engine::OpenSearchSearch;
pub use indexer::{ApplyReport, DriftReport, OpenSearchIndexer, ReindexProgress, TypeDrift};
