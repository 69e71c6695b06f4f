//! Opening the database file: pragmas and the table layout described in the crate docs.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::config::DbConfig;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
    ts      INTEGER PRIMARY KEY,
    type    TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    change  INTEGER NOT NULL,
    body    BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_resource ON versions (type, id, version);
CREATE INDEX IF NOT EXISTS versions_by_type ON versions (type, ts);
";

/// The page size of a new database file, in bytes.
const PAGE_SIZE: i64 = 16_384;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Opens (creating if needed) the database with the pragmas every connection needs.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // A write touches about 20 statements (versions, current, each index table).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans must not depend on bound values: the statement cache clears the bindings of a
    // statement it takes back, and SQLite recompiles a statement whose plan looked at a
    // bound value after every such reset (the `latest` version lookup did, costing a full
    // prepare per write). No query here relies on value-dependent plans (no LIKE).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Effective only when the file is created (before WAL mode is set): 16 KiB pages
    // split less often than the default 4 KiB as the index b-trees grow, about a quarter
    // less CPU per index row inserted; an existing store keeps its page size.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    Ok(conn)
}

/// Creates the tables and indexes when missing.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(crate::indexing::SCHEMA)?;
    crate::indexing::migrate_multi(conn)?;
    crate::indexing::migrate_positions(conn)?;
    conn.execute_batch(crate::composite_index::SCHEMA)?;
    conn.execute_batch(crate::fulltext_index::SCHEMA)?;
    conn.execute_batch(crate::rebuild::SCHEMA)
}
