//! [`SqliteStore`]: the [`ResourceStore`] implementation.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hearth_interface::instant::Instant;
use hearth_interface::store::{
    BulkLoad, ChangeKind, HistoryQuery, HistoryScope, Page, Precondition, ResourceStore, ScanQuery,
    StoredResource, Write, WriteAction, WriteOutcome, WriteResult,
};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};

use crate::clock::MonotonicClock;
use crate::{indexing, rebuild, schema};

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "hearth.sqlite";

/// The writer connection's page cache, in KiB (negative: SQLite's unit for KiB).
const WRITER_CACHE_KIB: i64 = -131_072;

/// Versioned resources in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    /// A bulk load that defers the search index runs: writes leave the index alone.
    index_deferred: AtomicBool,
}

#[derive(Debug)]
struct Writer {
    conn: Connection,
    clock: MonotonicClock,
    /// A bulk load dropped the value indexes, to build them when it ends.
    deferred_indexes: bool,
}

impl SqliteStore {
    /// Opens the store in `data_dir`, creating the directory and database when missing.
    ///
    /// # Errors
    /// `Internal` when the directory or database cannot be created or opened.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::internal(format!("cannot create {}", data_dir.display()), e))?;
        let path = data_dir.join(DATABASE_FILE);
        let mut conn = schema::open(&path).map_err(db_error)?;
        schema::migrate(&conn).map_err(db_error)?;
        // The writer updates the index b-trees of every write: a larger page cache keeps
        // their hot pages in memory during imports.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(db_error)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)
            .map_err(db_error)?;
        indexing::backfill(&mut conn)?;
        let last: i64 = conn
            .query_row("SELECT COALESCE(MAX(ts), 0) FROM versions", [], |r| {
                r.get(0)
            })
            .map_err(db_error)?;
        let writer = Writer {
            conn,
            clock: MonotonicClock::starting_after(last),
            deferred_indexes: false,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                index_deferred: AtomicBool::new(false),
            }),
        })
    }

    /// Whether the search index misses writes of a bulk load that deferred it
    /// (`hearth import --defer-index`): searches would miss resources until
    /// [`SqliteStore::rebuild_search_index`] runs.
    ///
    /// # Errors
    /// `Internal` when the database cannot be read.
    pub fn search_index_stale(&self) -> Result<bool> {
        let writer = self.inner.writer.lock().map_err(poisoned)?;
        rebuild::is_stale(&writer.conn)
    }

    /// Rebuilds the search index from the current versions in one transaction (blocking;
    /// writers wait), reporting `(done, total)` to `progress`; returns how many resources
    /// it indexed. Clears the stale mark of a deferred bulk load.
    ///
    /// # Errors
    /// `Internal` when the database fails; the previous index is kept then.
    pub fn rebuild_search_index(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        let mut writer = self.inner.writer.lock().map_err(poisoned)?;
        rebuild::rebuild(&mut writer.conn, progress)
    }

    /// Runs `f` on a pooled read connection in a blocking thread.
    pub(crate) async fn with_reader<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let pooled = inner.readers.lock().map_err(poisoned)?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => schema::open(&inner.path).map_err(db_error)?,
            };
            let result = f(&conn);
            inner.readers.lock().map_err(poisoned)?.push(conn);
            result
        })
        .await
    }

    /// Runs `f` inside one write transaction in a blocking thread, handing it `writes`
    /// with the index values of their resources; commits when `f` returns `Ok`, rolls back
    /// otherwise. For large batches the values are extracted on another thread while `f`
    /// applies the earlier writes, so extraction and SQLite work overlap. Skipped clock
    /// ticks of a rolled-back transaction are harmless: timestamps only need to be unique
    /// and increasing.
    async fn with_writer<T, F>(&self, writes: Vec<Write>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut MonotonicClock, &mut PreparedWrites<'_>) -> Result<T>
            + Send
            + 'static,
    {
        let inner = self.inner.clone();
        let index = !inner.index_deferred.load(Ordering::Acquire);
        run_blocking(move || {
            let locked = |writes: &mut PreparedWrites<'_>| {
                let mut guard = inner.writer.lock().map_err(poisoned)?;
                let Writer { conn, clock, .. } = &mut *guard;
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db_error)?;
                // Another process (an import beside a server) may have written since: keep
                // timestamps unique across processes by starting after the newest stored one.
                let newest: i64 = tx
                    .prepare_cached("SELECT COALESCE(MAX(ts), 0) FROM versions")
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(db_error)?;
                clock.observe(newest);
                let value = f(&tx, clock, writes)?;
                tx.commit().map_err(db_error)?;
                Ok(value)
            };
            if !writes.iter().any(|w| needs_extraction(w, index)) {
                // Nothing to extract (an import extracted on its parser threads).
                return locked(&mut writes.into_iter().map(|w| prepare_write(w, index)));
            }
            if writes.len() < PIPELINE_MIN {
                // Extract before taking the lock: concurrent writers overlap here.
                let prepared: Vec<_> = writes
                    .into_iter()
                    .map(|w| prepare_write(w, index))
                    .collect();
                return locked(&mut prepared.into_iter());
            }
            std::thread::scope(|scope| {
                let (sender, receiver) = std::sync::mpsc::sync_channel(PIPELINE_DEPTH);
                scope.spawn(move || {
                    for write in writes {
                        if sender.send(prepare_write(write, index)).is_err() {
                            break;
                        }
                    }
                });
                // The receiver is dropped before the scope joins the extracting thread, so
                // an early return cannot leave that thread blocked on a full channel.
                locked(&mut receiver.into_iter())
            })
        })
        .await
    }
}

/// A write and what it does to the search index.
pub(crate) type PreparedWrite = (Write, SearchIndexing);

/// What a write does to the search index.
pub(crate) enum SearchIndexing {
    /// Index these values of the resource it stores.
    Values(indexing::Extracted),
    /// It stores no resource (a deletion): remove the index rows of the live version.
    Remove,
    /// Leave the index alone: a bulk load deferred it to [`SqliteStore::rebuild_search_index`].
    Deferred,
}

/// Writes as [`SqliteStore::with_writer`] hands them over.
type PreparedWrites<'a> = dyn Iterator<Item = Result<PreparedWrite>> + 'a;

/// Batches at least this large are extracted on another thread, ahead of the writes.
const PIPELINE_MIN: usize = 32;

/// How many extracted writes may wait for the writer.
const PIPELINE_DEPTH: usize = 256;

/// Whether [`prepare_write`] has index values to extract for `write`.
fn needs_extraction(write: &Write, index: bool) -> bool {
    index && matches!(&write.action, WriteAction::Upsert(resource) if !resource.has_index())
}

/// Extracts the index values of `write`'s resource, unless the index is deferred.
fn prepare_write(mut write: Write, index: bool) -> Result<PreparedWrite> {
    let indexing = match &mut write.action {
        _ if !index => SearchIndexing::Deferred,
        WriteAction::Upsert(resource) => SearchIndexing::Values(match resource.take_index() {
            Some(index) => index,
            None => indexing::extract_prepared(write.resource_type, resource)?,
        }),
        WriteAction::Delete => SearchIndexing::Remove,
    };
    Ok((write, indexing))
}

async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("storage task failed", e))?
}

pub(crate) fn db_error(e: rusqlite::Error) -> Error {
    Error::internal("sqlite error", e)
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::internal(
        "storage lock poisoned",
        std::io::Error::other("poisoned lock"),
    )
}

pub(crate) const COLUMNS: &str = "ts, type, id, version, change, body";

fn change_code(change: ChangeKind) -> i64 {
    match change {
        ChangeKind::Create => 0,
        ChangeKind::Update => 1,
        ChangeKind::Delete => 2,
    }
}

pub(crate) fn row_to_stored(row: &Row<'_>) -> rusqlite::Result<StoredResource> {
    let ts: i64 = row.get(0)?;
    let type_name: String = row.get(1)?;
    let id: String = row.get(2)?;
    let version: i64 = row.get(3)?;
    let change = match row.get::<_, i64>(4)? {
        0 => ChangeKind::Create,
        1 => ChangeKind::Update,
        _ => ChangeKind::Delete,
    };
    let body: Option<Vec<u8>> = row.get(5)?;
    let corrupt = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("stored {what} is invalid").into(),
        )
    };
    Ok(StoredResource {
        resource_type: ResourceType::parse(&type_name).ok_or_else(|| corrupt("type"))?,
        id: ResourceId::parse(&id).map_err(|_| corrupt("id"))?,
        version: u64::try_from(version).map_err(|_| corrupt("version"))?,
        last_updated: Instant(ts),
        change,
        body: body
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| corrupt("body"))?,
    })
}

fn latest_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM versions WHERE type = ?1 AND id = ?2 ORDER BY version DESC LIMIT 1"
    )
}

fn latest(conn: &Connection, ty: ResourceType, id: &ResourceId) -> Result<Option<StoredResource>> {
    conn.prepare_cached(&latest_sql())
        .and_then(|mut s| {
            s.query_row(params![ty.as_str(), id.as_str()], row_to_stored)
                .optional()
        })
        .map_err(db_error)
}

/// Applies one write inside an open transaction. Nothing is written when it fails.
fn apply(
    tx: &Transaction<'_>,
    clock: &mut MonotonicClock,
    (write, search_indexing): PreparedWrite,
) -> Result<WriteResult> {
    let Write {
        resource_type,
        id,
        action,
        precondition,
    } = write;
    let current = latest(tx, resource_type, &id)?;
    let live = current.as_ref().filter(|c| !c.is_deleted());
    match precondition {
        Precondition::None => {}
        Precondition::VersionIs(expected) => {
            let actual = current.as_ref().map(|c| c.version);
            if actual != Some(expected) {
                return Err(Error::precondition_failed(format!(
                    "version mismatch for {resource_type}/{id}: expected W/\"{expected}\", current is {}",
                    actual.map_or("none".to_owned(), |v| format!("W/\"{v}\""))
                )));
            }
        }
        Precondition::BasedOn(read) => {
            if current.as_ref().map(|c| c.version) != Some(read) {
                return Err(Error::conflict(format!(
                    "{resource_type}/{id} changed while this request was processed: retry"
                )));
            }
        }
        Precondition::Absent => {
            if live.is_some() {
                return Err(Error::conflict(format!(
                    "{resource_type}/{id} already exists"
                )));
            }
        }
    }
    let next_version = current.as_ref().map_or(1, |c| c.version + 1);
    match action {
        WriteAction::Upsert(resource) => {
            let unchanged = |live: &&StoredResource| {
                live.body
                    .as_deref()
                    .is_some_and(|body| resource.same_as(body, live.version, live.last_updated))
            };
            if let Some(live) = live.filter(unchanged) {
                return Ok(WriteResult {
                    outcome: WriteOutcome::Unchanged,
                    stored: Some(live.clone()),
                });
            }
            let (change, outcome) = if live.is_some() {
                (ChangeKind::Update, WriteOutcome::Updated)
            } else {
                (ChangeKind::Create, WriteOutcome::Created)
            };
            let ts = clock.tick();
            let body = resource.finish(next_version, Instant(ts));
            if let SearchIndexing::Values(extracted) = search_indexing {
                if let Some(live) = live {
                    indexing::remove(tx, resource_type, live.last_updated.0)?;
                }
                indexing::insert(tx, resource_type, ts, &extracted)?;
            }
            let stored = insert(tx, resource_type, id, next_version, ts, change, Some(body))?;
            Ok(WriteResult {
                outcome,
                stored: Some(stored),
            })
        }
        WriteAction::Delete => {
            if live.is_none() {
                return Ok(WriteResult {
                    outcome: WriteOutcome::NothingToDelete,
                    stored: current,
                });
            }
            if let (Some(live), SearchIndexing::Remove) = (live, &search_indexing) {
                indexing::remove(tx, resource_type, live.last_updated.0)?;
            }
            let ts = clock.tick();
            let stored = insert(
                tx,
                resource_type,
                id,
                next_version,
                ts,
                ChangeKind::Delete,
                None,
            )?;
            Ok(WriteResult {
                outcome: WriteOutcome::Deleted,
                stored: Some(stored),
            })
        }
    }
}

fn insert(
    tx: &Transaction<'_>,
    resource_type: ResourceType,
    id: ResourceId,
    version: u64,
    ts: i64,
    change: ChangeKind,
    body: Option<String>,
) -> Result<StoredResource> {
    let version_sql = i64::try_from(version).map_err(|e| Error::internal("version overflow", e))?;
    tx.prepare_cached(
        "INSERT INTO versions (ts, type, id, version, change, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            ts,
            resource_type.as_str(),
            id.as_str(),
            version_sql,
            change_code(change),
            body.as_deref().map(str::as_bytes)
        ])
    })
    .map_err(db_error)?;
    Ok(StoredResource {
        resource_type,
        id,
        version,
        last_updated: Instant(ts),
        change,
        body,
    })
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| Error::invalid(format!("invalid paging cursor '{c}'")))
        })
        .transpose()
}

/// Reads up to `count + 1` rows to learn whether a next page exists; returns the page and
/// the cursor (the last row's `ts`) when it does.
fn collect_page(
    conn: &Connection,
    sql: &str,
    args: &[SqlValue],
    count: usize,
) -> Result<(Vec<StoredResource>, Option<String>)> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    let mut rows: Vec<StoredResource> = stmt
        .query_map(params_from_iter(args), row_to_stored)
        .and_then(|rows| rows.collect())
        .map_err(db_error)?;
    let next = if rows.len() > count {
        rows.truncate(count);
        rows.last().map(|r| r.last_updated.0.to_string())
    } else {
        None
    };
    Ok((rows, next))
}

fn limit_for(count: usize) -> SqlValue {
    SqlValue::Integer(i64::try_from(count.saturating_add(1)).unwrap_or(i64::MAX))
}

#[async_trait]
impl ResourceStore for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn read(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> Result<Option<StoredResource>> {
        let id = id.clone();
        self.with_reader(move |conn| latest(conn, resource_type, &id))
            .await
    }

    async fn vread(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
        version: u64,
    ) -> Result<Option<StoredResource>> {
        let id = id.clone();
        let Ok(version) = i64::try_from(version) else {
            return Ok(None);
        };
        self.with_reader(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM versions WHERE type = ?1 AND id = ?2 AND version = ?3"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![resource_type.as_str(), id.as_str(), version],
                    row_to_stored,
                )
                .optional()
            })
            .map_err(db_error)
        })
        .await
    }

    async fn write(&self, write: Write) -> Result<WriteResult> {
        self.with_writer(vec![write], move |tx, clock, writes| match writes.next() {
            Some(write) => apply(tx, clock, write?),
            None => Err(Error::internal(
                "no write to apply",
                std::io::Error::other("empty"),
            )),
        })
        .await
    }

    async fn write_batch(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteResult>>> {
        self.with_writer(writes, move |tx, clock, writes| {
            let mut results = Vec::new();
            for write in writes {
                match apply(tx, clock, write?) {
                    Err(e) if e.kind() == IssueKind::Internal => return Err(e),
                    result => results.push(result),
                }
            }
            Ok(results)
        })
        .await
    }

    async fn transaction(&self, writes: Vec<Write>) -> Result<Vec<WriteResult>> {
        self.with_writer(writes, move |tx, clock, writes| {
            writes.map(|w| apply(tx, clock, w?)).collect()
        })
        .await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Page> {
        let query = query.clone();
        self.with_reader(move |conn| history(conn, &query)).await
    }

    /// A bulk load into a store without current resources drops the value indexes of the
    /// search tables and builds them at its end, sorted at once, which costs about half of
    /// maintaining them row by row. Index rows are still written with each version, so
    /// searches during the load are correct (they scan). After a crash, opening the store
    /// builds the missing indexes.
    async fn bulk_load(&self, phase: BulkLoad) -> Result<()> {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut guard = inner.writer.lock().map_err(poisoned)?;
            let writer = &mut *guard;
            match phase {
                BulkLoad::StartDeferringIndex => {
                    rebuild::mark_stale(&writer.conn)?;
                    inner.index_deferred.store(true, Ordering::Release);
                }
                BulkLoad::Start if !writer.deferred_indexes => {
                    writer.deferred_indexes = indexing::drop_value_indexes(&writer.conn)?;
                }
                BulkLoad::End => {
                    inner.index_deferred.store(false, Ordering::Release);
                    if writer.deferred_indexes {
                        schema::migrate(&writer.conn).map_err(db_error)?;
                        writer.deferred_indexes = false;
                    }
                }
                BulkLoad::Start => {}
            }
            Ok(())
        })
        .await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Page> {
        let query = query.clone();
        self.with_reader(move |conn| {
            let after = parse_cursor(query.cursor.as_deref())?.unwrap_or(-1);
            let since = query.since.map_or(i64::MIN, |s| s.0);
            let sql = format!(
                "SELECT {COLUMNS} FROM versions v WHERE type = ?1 AND ts > ?2 AND ts >= ?3 AND change != 2
                 AND NOT EXISTS (SELECT 1 FROM versions n WHERE n.type = v.type AND n.id = v.id AND n.version > v.version)
                 ORDER BY ts LIMIT ?4"
            );
            let (entries, next_cursor) = collect_page(
                conn,
                &sql,
                &[
                    SqlValue::Text(query.resource_type.as_str().into()),
                    SqlValue::Integer(after),
                    SqlValue::Integer(since),
                    limit_for(query.count),
                ],
                query.count,
            )?;
            Ok(Page { entries, next_cursor, total: None })
        })
        .await
    }
}

/// A `WHERE` clause assembled from filters with numbered parameters.
#[derive(Default)]
struct Filters {
    clauses: Vec<String>,
    args: Vec<SqlValue>,
}

impl Filters {
    /// Adds `clause`, whose one `?` is bound to `value`.
    fn bind(&mut self, clause: &str, value: SqlValue) {
        self.args.push(value);
        self.clauses
            .push(clause.replace('?', &format!("?{}", self.args.len())));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// Runs a history query: newest first, keyset-paged on `ts`.
fn history(conn: &Connection, query: &HistoryQuery) -> Result<Page> {
    let mut f = Filters::default();
    match &query.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => f.bind("v.type = ?", SqlValue::Text(t.as_str().into())),
        HistoryScope::Instance(t, i) => {
            f.bind("v.type = ?", SqlValue::Text(t.as_str().into()));
            f.bind("v.id = ?", SqlValue::Text(i.as_str().into()));
        }
    }
    if let Some(since) = query.since {
        f.bind("v.ts >= ?", SqlValue::Integer(since.0));
    }
    if let Some((start, end)) = query.at {
        f.bind("v.ts <= ?", SqlValue::Integer(end.0));
        // The version was current at some point in the range unless its successor
        // was written by the time the range began (a version is current from its own
        // write until, not including, its successor's).
        f.bind(
            "NOT EXISTS (SELECT 1 FROM versions n WHERE n.type = v.type AND n.id = v.id \
             AND n.version = v.version + 1 AND n.ts <= ?)",
            SqlValue::Integer(start.0),
        );
    }
    let total = if query.cursor.is_none() {
        let sql = format!("SELECT COUNT(*) FROM versions v WHERE {}", f.sql());
        let n: i64 = conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params_from_iter(&f.args), |r| r.get(0)))
            .map_err(db_error)?;
        u64::try_from(n).ok()
    } else {
        None
    };
    if let Some(before) = parse_cursor(query.cursor.as_deref())? {
        f.bind("v.ts < ?", SqlValue::Integer(before));
    }
    f.args.push(limit_for(query.count));
    let sql = format!(
        "SELECT {COLUMNS} FROM versions v WHERE {} ORDER BY v.ts DESC LIMIT ?{}",
        f.sql(),
        f.args.len()
    );
    let (entries, next_cursor) = collect_page(conn, &sql, &f.args, query.count)?;
    Ok(Page {
        entries,
        next_cursor,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;
    use serde_json::json;

    /// Cached statements must not be recompiled on every use: a write runs the version
    /// lookup once and should prepare it once.
    #[tokio::test]
    async fn repeated_writes_reuse_compiled_statements() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let patient = ResourceType::parse("Patient").expect("type");
        for i in 0..5 {
            let write = Write::upsert(
                patient,
                ResourceId::parse(&format!("p{i}")).expect("id"),
                json!({"resourceType": "Patient", "name": [{"family": "Doe"}]}),
                Precondition::None,
            );
            store.write(write).await.expect("write");
        }
        let guard = store.inner.writer.lock().expect("lock");
        let lookup = guard.conn.prepare_cached(&latest_sql()).expect("cached");
        assert_eq!(lookup.get_status(StatementStatus::RePrepare), 0);
    }

    fn value_indexes(store: &SqliteStore) -> i64 {
        let guard = store.inner.writer.lock().expect("lock");
        guard
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'",
                [],
                |r| r.get(0),
            )
            .expect("indexes")
    }

    async fn put_patient(store: &SqliteStore, id: &str) {
        let write = Write::upsert(
            ResourceType::parse("Patient").expect("type"),
            ResourceId::parse(id).expect("id"),
            json!({"resourceType": "Patient", "gender": "male"}),
            Precondition::None,
        );
        store.write(write).await.expect("write");
    }

    #[tokio::test]
    async fn bulk_loads_into_an_empty_store_build_the_value_indexes_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let all = value_indexes(&store);
        assert!(all >= 9);
        store.bulk_load(BulkLoad::Start).await.expect("start");
        assert_eq!(value_indexes(&store), 0);
        put_patient(&store, "a").await;
        store.bulk_load(BulkLoad::End).await.expect("end");
        assert_eq!(value_indexes(&store), all);
        // A store that holds resources keeps its indexes.
        store.bulk_load(BulkLoad::Start).await.expect("start again");
        assert_eq!(value_indexes(&store), all);
        store.bulk_load(BulkLoad::End).await.expect("end again");
        // A load that never ended (a crash) gets its indexes when the store opens again.
        let other = tempfile::tempdir().expect("tempdir");
        let crashed = SqliteStore::open(other.path()).expect("open");
        crashed.bulk_load(BulkLoad::Start).await.expect("start");
        put_patient(&crashed, "b").await;
        drop(crashed);
        assert_eq!(
            value_indexes(&SqliteStore::open(other.path()).expect("reopen")),
            all
        );
    }

    #[test]
    fn new_stores_use_large_pages_in_wal_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let guard = store.inner.writer.lock().expect("lock");
        let pragma = |name: &str| -> String {
            guard
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .expect("pragma")
        };
        assert_eq!(pragma("page_size"), "Integer(16384)");
        assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
    }
}
