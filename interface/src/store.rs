//! The [`ResourceStore`] trait: versioned resource persistence with history.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::Result;
use crate::id::{ResourceId, ResourceType};
use crate::instant::Instant;
use crate::prepared::PreparedResource;

/// How a version came to be; history entries report it as `request.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The first version of a resource, or one written after a deletion (`POST`).
    Create,
    /// A new version of a live resource (`PUT`; PATCH is stored as an update).
    Update,
    /// A logical deletion (`DELETE`): the version has no body.
    Delete,
}

impl ChangeKind {
    /// The HTTP method history reports for this change.
    pub fn method(self) -> &'static str {
        match self {
            Self::Create => "POST",
            Self::Update => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// One version of a resource as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The logical id.
    pub id: ResourceId,
    /// The version number, from 1, contiguous per resource.
    pub version: u64,
    /// When this version was written (also in `meta.lastUpdated`).
    pub last_updated: Instant,
    /// How the version came to be.
    pub change: ChangeKind,
    /// The serialized resource with `id` and `meta.versionId`/`meta.lastUpdated` set;
    /// `None` for a deletion.
    pub body: Option<String>,
}

impl StoredResource {
    /// Whether this version is a logical deletion.
    pub fn is_deleted(&self) -> bool {
        self.change == ChangeKind::Delete
    }

    /// The weak ETag of this version: `W/"3"`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    /// The relative URL of this version: `Patient/1/_history/3`.
    pub fn versioned_path(&self) -> String {
        format!(
            "{}/{}/_history/{}",
            self.resource_type, self.id, self.version
        )
    }
}

/// What must hold for a write to proceed; checked atomically with the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Always write.
    #[default]
    None,
    /// The current version must be this one (`If-Match`); otherwise
    /// [`crate::IssueKind::PreconditionFailed`].
    VersionIs(u64),
    /// The write was computed from this version (PATCH, conditional interactions); if
    /// another write got in between, [`crate::IssueKind::Conflict`].
    BasedOn(u64),
    /// No live resource may have this id (server-assigned create); otherwise
    /// [`crate::IssueKind::Conflict`].
    Absent,
}

/// What a [`Write`] does.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteAction {
    /// Creates or updates the resource with this content (prepared with the write's id).
    /// The store sets `meta.versionId` and `meta.lastUpdated`; other `meta` elements are
    /// kept. Content equal to the current version writes no new version.
    Upsert(PreparedResource),
    /// Deletes the resource logically (history keeps every version).
    Delete,
}

/// One write of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The logical id.
    pub id: ResourceId,
    /// What to do.
    pub action: WriteAction,
    /// What must hold first.
    pub precondition: Precondition,
}

impl Write {
    /// An upsert of `resource`, prepared for storage under `id`.
    pub fn upsert(
        resource_type: ResourceType,
        id: ResourceId,
        resource: serde_json::Value,
        precondition: Precondition,
    ) -> Self {
        let action = WriteAction::Upsert(PreparedResource::new(resource, &id));
        Self {
            resource_type,
            id,
            action,
            precondition,
        }
    }

    /// An upsert like [`Write::upsert`] whose resource also carries its search index
    /// values, extracted on the calling thread ([`PreparedResource::new_indexed`]).
    pub fn upsert_indexed(
        resource_type: ResourceType,
        id: ResourceId,
        resource: serde_json::Value,
        precondition: Precondition,
    ) -> Self {
        let prepared = PreparedResource::new_indexed(resource, resource_type.as_str(), &id);
        Self {
            resource_type,
            id,
            action: WriteAction::Upsert(prepared),
            precondition,
        }
    }

    /// A logical deletion.
    pub fn delete(resource_type: ResourceType, id: ResourceId, precondition: Precondition) -> Self {
        Self {
            resource_type,
            id,
            action: WriteAction::Delete,
            precondition,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new resource (or a new life after a deletion): version written.
    Created,
    /// A new version of a live resource.
    Updated,
    /// The content equals the current version: nothing written.
    Unchanged,
    /// A deletion version was written.
    Deleted,
    /// The resource was already deleted or never existed: nothing written.
    NothingToDelete,
}

/// The result of one write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteResult {
    /// What happened.
    pub outcome: WriteOutcome,
    /// The version now current; `None` only for [`WriteOutcome::NothingToDelete`] on an
    /// id that never existed.
    pub stored: Option<StoredResource>,
}

/// Which versions a history request covers.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryScope {
    /// Every resource (`GET /_history`).
    System,
    /// Every resource of a type (`GET /Patient/_history`).
    Type(ResourceType),
    /// One resource (`GET /Patient/1/_history`).
    Instance(ResourceType, ResourceId),
}

/// A history request: newest version first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// Which resources.
    pub scope: HistoryScope,
    /// Only versions written at or after this instant (`_since`).
    pub since: Option<Instant>,
    /// Only versions current at some point in this inclusive range (`_at`).
    pub at: Option<(Instant, Instant)>,
    /// Page size.
    pub count: usize,
    /// Opaque cursor from a previous page's `next`.
    pub cursor: Option<String>,
}

/// A page of versions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The versions on this page.
    pub entries: Vec<StoredResource>,
    /// Cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The number of versions the query covers across all pages, when known.
    pub total: Option<u64>,
}

/// A streaming read of current resources of one type, oldest change first: used by
/// bulk export and by full scans.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanQuery {
    /// The resource type.
    pub resource_type: ResourceType,
    /// Only resources whose current version was written at or after this instant.
    pub since: Option<Instant>,
    /// Page size.
    pub count: usize,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Versioned resource persistence.
///
/// # Contract
/// - Writes are atomic per resource and serialised per resource: concurrent updates never
///   lose a version, and version numbers are contiguous from 1.
/// - `meta.lastUpdated` grows strictly with each version of a resource.
/// - Deletion is logical: the deletion is a version without body, and history keeps all.
/// - Cursors are opaque, stable while data changes, and never require offset scans.
///
/// # Errors
/// Backends report precondition failures as `PreconditionFailed` or `Conflict`, invalid
/// cursors as `Invalid`, and their own failures as `Internal`.
///
/// # Example
/// ```ignore
/// let action = WriteAction::Upsert(PreparedResource::new(json, &id));
/// let w = Write { resource_type, id, action, precondition: Precondition::None };
/// let result = store.write(w).await?;
/// ```
#[async_trait]
pub trait ResourceStore: Send + Sync + Debug + 'static {
    /// A short name of the backend, for logs and the CapabilityStatement.
    fn backend_name(&self) -> &'static str;

    /// The newest version of a resource, which may be a deletion; `None` if it never existed.
    async fn read(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> Result<Option<StoredResource>>;

    /// One version of a resource; `None` if that version does not exist.
    async fn vread(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
        version: u64,
    ) -> Result<Option<StoredResource>>;

    /// Writes one resource, checking its precondition atomically.
    async fn write(&self, write: Write) -> Result<WriteResult>;

    /// Writes many resources, each atomically on its own: one failing write does not stop
    /// the others. Used by import; backends batch them for throughput.
    async fn write_batch(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteResult>>>;

    /// Writes many resources all-or-nothing: either every write and precondition succeeds,
    /// or nothing is written and the first failure is returned.
    async fn transaction(&self, writes: Vec<Write>) -> Result<Vec<WriteResult>>;

    /// A page of history, newest version first.
    async fn history(&self, query: &HistoryQuery) -> Result<Page>;

    /// A page of current, non-deleted resources of one type, in order of their last change.
    async fn scan(&self, query: &ScanQuery) -> Result<Page>;

    /// Tells the store that a bulk load (`hearth import`) starts or ends, so that it may
    /// defer work it can do faster at once at the end (the embedded backend builds its
    /// search indexes of an empty store then). Every write stays durable and atomic, and
    /// searchable at once unless the load started with [`BulkLoad::StartDeferringIndex`].
    /// The default does nothing.
    async fn bulk_load(&self, _phase: BulkLoad) -> Result<()> {
        Ok(())
    }
}

/// The phases of a bulk load, see [`ResourceStore::bulk_load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkLoad {
    /// Before the first write of the load.
    Start,
    /// Before the first write of a load whose resources need not be searchable until the
    /// search index is rebuilt (`hearth import --defer-index`, then `hearth reindex`).
    /// A store that can defer its index leaves it alone for the load's writes and marks it
    /// stale; others treat this as [`BulkLoad::Start`].
    StartDeferringIndex,
    /// After the last write of the load, also when it failed.
    End,
}
