//! Hearth's embedded default backend: a [`ResourceStore`](hearth_interface::store::ResourceStore)
//! on one SQLite file (WAL mode) in the data directory.
//!
//! # Layout
//! One table, `versions`, holds every version of every resource. Its integer primary key
//! `ts` is the version's `meta.lastUpdated` in microseconds, made unique and strictly
//! increasing by the single writer's clock, so the same key orders system history, answers
//! `_since` with a range, and serves as the history cursor. Two indexes cover the rest:
//! `(type, id, version)` for reads, vreads and instance history, and `(type, ts)` for type
//! history and scans by type and `_since`. The current version of a resource is its highest
//! version; a deletion is a version without body.
//!
//! Search index tables (`current` and one `ix_` table per kind of value, see the
//! `indexing` module) hold the index values of the current versions only. The store
//! rewrites a resource's rows in the transaction that writes its new version, so searches
//! see exactly the committed current versions. A store written before the index tables
//! existed is indexed once when opened.
//!
//! Bulk job state lives in the `jobs` table of the same file ([`SqliteJobStore`]), and
//! `Binary` content in files under `binaries/` beside it ([`FsBinaryStore`]), reached through
//! HMAC-signed, expiring URLs the server serves itself.
//!
//! # Concurrency
//! One writer connection behind a mutex serialises writes (SQLite allows one writer anyway);
//! reads use a small pool of connections and see committed data at once (WAL snapshots).
//! Index values are extracted before the writer lock is taken (for large batches, on
//! another thread while the writer applies earlier writes of the batch).

pub mod binary;
mod clock;
mod composite_index;
mod fulltext_index;
mod indexing;
mod inserts;
pub mod jobs;
mod rebuild;
mod schema;
mod search;
mod store;

pub use binary::FsBinaryStore;
pub use jobs::SqliteJobStore;
pub use search::SqliteSearch;
pub use store::{DATABASE_FILE, SqliteStore};
