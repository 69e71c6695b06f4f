//! Hearth's search on OpenSearch: [`OpenSearchSearch`] answers FHIR searches,
//! [`OpenSearchIndexer`] indexes stored versions (from the DynamoDB stream, or a full
//! [`reindex`](OpenSearchIndexer::reindex) from any [`ResourceStore`]), and
//! [`OpenSearchClient`] holds the connection, creates the indexes and checks the cluster.
//!
//! Only the standard OpenSearch REST API is used (index creation with mappings and aliases,
//! `_bulk` with external versioning, `_search` with `bool`/`term`/`terms`/`prefix`/
//! `wildcard`/`range`/`nested`/`exists` queries, `sort` (with `missing` and
//! `unmapped_type`) + `search_after`, `track_total_hits`, `_count`, put-mapping), through
//! the official `opensearch` client.
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
//! parameter under `p` (see [`document`]), the sort values of each sortable parameter
//! under `s`, plus the stored body returned by searches. Indexes made by an earlier
//! version get the fields this one adds when first used (put-mapping); documents indexed
//! before get values in them by `hearth reindex`.
//!
//! # Search semantics
//! The criteria are parsed by [`hearth_interface::search::criteria`], as for the embedded
//! backend, and each condition becomes a query on the document's fields (see [`query`]):
//! every parameter type, composite parameters (a `nested` query on the items of the base
//! expression, so that their parts match within one item) and `_text`/`_content` (a
//! `prefix` query per word on the distinct words of the text).
//!
//! Without `_sort`, results come in the order of the resources' last change, oldest first
//! (then by type and id); a search over several types is one query over their indexes, so
//! its results interleave the types in that order. `_sort` follows
//! [`SortKey`](hearth_interface::search::SortKey) on the precomputed lowest and highest
//! value of each key (missing values last both ways, ties by type then id). Cursors are
//! `search_after` positions in either direction (next and previous pages): no offsets, no
//! 10,000-result window.
//!
//! [`ResourceStore`]: hearth_interface::store::ResourceStore

mod client;
mod cursor;
pub mod document;
mod engine;
mod indexer;
pub mod mapping;
pub mod query;
mod sort;

pub use client::{OpenSearchClient, OpenSearchConfig};
pub use engine::OpenSearchSearch;
pub use indexer::{ApplyReport, DriftReport, OpenSearchIndexer, ReindexProgress, TypeDrift};
