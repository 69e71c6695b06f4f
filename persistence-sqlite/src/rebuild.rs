//! Rebuilding the search index from the stored versions: after a bulk load that deferred
//! it (`hearth import --defer-index`, which marks the index stale), for `hearth reindex`,
//! and for a store written before the index tables existed.
//!
//! The rebuild is one transaction: it empties the index tables, drops their value indexes,
//! extracts the index values of every current version on worker threads while this thread
//! inserts them, builds the value indexes again (sorted, at once) and clears the stale mark.
//! A crash in between leaves the previous index and the mark, so a rerun starts over.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use hearth_interface::{Error, ResourceType, Result};
use rusqlite::Connection;

use crate::indexing::{self, Extracted};
use crate::schema;

/// The table whose one row marks the search index stale.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS search_index_stale (since INTEGER NOT NULL);
";

/// Current versions handed to an extraction worker at once.
const CHUNK: usize = 512;

/// Marks the search index stale, in the caller's transaction (idempotent).
pub(crate) fn mark_stale(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT INTO search_index_stale (since)
         SELECT COALESCE(MAX(ts), 0) FROM versions
         WHERE NOT EXISTS (SELECT 1 FROM search_index_stale)",
        [],
    )
    .map(|_| ())
    .map_err(db_error)
}

/// Whether the search index is marked stale.
pub(crate) fn is_stale(conn: &Connection) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM search_index_stale)",
        [],
        |r| r.get(0),
    )
    .map_err(db_error)
}

/// Rebuilds the whole search index; reports `(done, total)` current versions to
/// `progress` as it goes and returns how many it indexed.
pub(crate) fn rebuild(conn: &mut Connection, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
    let tx = conn.transaction().map_err(db_error)?;
    let total: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM versions v WHERE change != 2 AND NOT EXISTS
             (SELECT 1 FROM versions n WHERE n.type = v.type AND n.id = v.id AND n.version > v.version)",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    let total = u64::try_from(total).unwrap_or_default();
    indexing::clear(&tx)?;
    let dropped = indexing::drop_value_indexes(&tx)?;
    progress(0, total);
    let done = index_current_versions(&tx, total, progress)?;
    if dropped {
        schema::migrate(&tx).map_err(db_error)?;
    }
    tx.execute("DELETE FROM search_index_stale", [])
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    Ok(done)
}

/// One current version to index: its type, timestamp and body.
type Row = (String, i64, Vec<u8>);

/// Reads the current versions in chunks, extracts their index values on worker threads
/// (one per core) and inserts them on this thread as they come back, in any order: the
/// index rows are keyed by version timestamp.
fn index_current_versions(
    conn: &Connection,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        let (work, chunks) = mpsc::sync_channel::<Vec<Row>>(workers);
        let chunks = Arc::new(Mutex::new(chunks));
        let (results, extracted) = mpsc::channel::<Result<Vec<(ResourceType, i64, Extracted)>>>();
        for _ in 0..workers {
            let chunks = chunks.clone();
            let results = results.clone();
            scope.spawn(move || {
                while let Some(chunk) = next_chunk(&chunks) {
                    if results.send(extract_chunk(chunk)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(results);
        let mut done = 0_u64;
        let mut insert = |batch: Result<Vec<(ResourceType, i64, Extracted)>>| -> Result<()> {
            let batch = batch?;
            for (resource_type, ts, values) in &batch {
                indexing::insert(conn, *resource_type, *ts, values)?;
            }
            done += batch.len() as u64;
            progress(done, total);
            Ok(())
        };
        let mut statement = conn
            .prepare(
                "SELECT type, ts, body FROM versions v WHERE change != 2 AND NOT EXISTS
                 (SELECT 1 FROM versions n WHERE n.type = v.type AND n.id = v.id AND n.version > v.version)",
            )
            .map_err(db_error)?;
        let mut rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db_error)?;
        loop {
            let chunk: Vec<Row> = rows
                .by_ref()
                .take(CHUNK)
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)?;
            if chunk.is_empty() {
                break;
            }
            if work.send(chunk).is_err() {
                break;
            }
            while let Ok(batch) = extracted.try_recv() {
                insert(batch)?;
            }
        }
        // The workers stop once the chunks are all taken; what they extracted is drained.
        drop(work);
        for batch in extracted {
            insert(batch)?;
        }
        Ok(done)
    })
}

fn next_chunk(chunks: &Mutex<mpsc::Receiver<Vec<Row>>>) -> Option<Vec<Row>> {
    chunks.lock().ok()?.recv().ok()
}

fn extract_chunk(chunk: Vec<Row>) -> Result<Vec<(ResourceType, i64, Extracted)>> {
    let mut out = Vec::with_capacity(chunk.len());
    for (type_name, ts, body) in chunk {
        let Some(resource_type) = ResourceType::parse(&type_name) else {
            continue;
        };
        let body = String::from_utf8_lossy(&body);
        out.push((
            resource_type,
            ts,
            indexing::extract_body(resource_type, &body)?,
        ));
    }
    Ok(out)
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::internal("sqlite error", e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stale_mark_is_set_once_and_cleared_by_a_rebuild() {
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = schema::open(&dir.path().join("t.db")).expect("open");
        schema::migrate(&conn).expect("migrate");
        assert!(!is_stale(&conn).expect("stale"));
        mark_stale(&conn).expect("mark");
        mark_stale(&conn).expect("mark again");
        assert!(is_stale(&conn).expect("stale"));
        conn.execute(
            "INSERT INTO versions (ts, type, id, version, change, body) VALUES
             (1, 'Patient', 'a', 1, 0, CAST('{\"resourceType\":\"Patient\",\"id\":\"a\",\"name\":[{\"family\":\"Doe\"}]}' AS BLOB)),
             (2, 'Patient', 'a', 2, 1, CAST('{\"resourceType\":\"Patient\",\"id\":\"a\",\"name\":[{\"family\":\"Roe\"}]}' AS BLOB)),
             (3, 'Patient', 'b', 1, 0, CAST('{\"resourceType\":\"Patient\",\"id\":\"b\"}' AS BLOB)),
             (4, 'Patient', 'b', 2, 2, NULL)",
            [],
        )
        .expect("versions");
        let mut reported = Vec::new();
        let done = rebuild(&mut conn, &mut |d, t| reported.push((d, t))).expect("rebuild");
        assert_eq!(done, 1, "only a's current version is live");
        assert_eq!(reported.last(), Some(&(1, 1)));
        assert!(!is_stale(&conn).expect("stale"));
        let current: Vec<i64> = conn
            .prepare("SELECT ts FROM current")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("current");
        assert_eq!(current, vec![2]);
    }
}
