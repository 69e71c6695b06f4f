//! Search index tables: the index values of every current resource version, written in
//! the same transaction as the version itself.
//!
//! Rows are keyed by the `ts` of the version they were extracted from (the `versions`
//! primary key), so a search joins them straight to the stored body and orders by `ts`.
//! Only current versions are indexed: writing a new version deletes the rows of the one it
//! replaces, a deletion deletes them without new ones.
//!
//! - `current (type, ts)`: the current, not deleted versions;
//! - `ix_string (pid, norm, exact, ts)`: `norm` is [`normalize_string`] of `exact`;
//! - `ix_token (pid, system, code, text_norm, of_type, ts)`: `text_norm` is the
//!   normalized display text, `of_type` the Identifier type codings as
//!   `\x1e system \x1f code \x1e …` (only codings with both parts);
//! - `ix_reference (pid, reference, target_type, target_id, ident_system,
//!   ident_value, ts)`;
//! - `ix_date (pid, start, end, ts)`: inclusive milliseconds;
//! - `ix_quantity (pid, lo, hi, system, code, unit, ts)`: numbers and quantities,
//!   `lo`/`hi` the compared range (the value twice for a number or a quantity with a value,
//!   a Range's bounds otherwise; ranges are also indexed on `hi`, so comparisons with
//!   the upper bound find points by `lo` and ranges by `hi`);
//! - `ix_uri (pid, uri, ts)`;
//! - `ix_composite`: composite parameters, one row per component value (see the
//!   `composite_index` module);
//! - `ix_position (pid, lat, x, y, z, lon)`: positions for `near`, in degrees and as
//!   points on the unit sphere;
//! - `ix_fulltext`: the words of `_text` and `_content` (see the `fulltext_index` module);
//! - `ix_multi (ts, pid)`: the versions with several values of a token, date, number or
//!   quantity parameter. A parameter no current version has several values of is
//!   single-valued: a count of its matching rows is a count of resources (no `DISTINCT`),
//!   and conditions ANDed on it hold on one row (see the search module).
//!
//! `_id` and `_lastUpdated` have no rows: searches read them from `versions` and `current`
//! ([`FROM_VERSIONS`]). Nor have narrowed references (`patient`, the `subject` references
//! to a Patient: [`narrowed`]), read from the rows of the parameter they narrow.
//!
//! Rows name their parameter by `pid` ([`param_id`] of the resource type and the parameter
//! code). Every `ix_` table is clustered on `(ts, pid, seq)` (`seq` numbers the rows of one
//! version): writes append, removal, `:missing` and `:not` read one short key range. One
//! index leading on `(pid, <value>)` serves lookups; it ends with the primary key, so equal
//! values come in `ts` order. Date and quantity indexes hold both bounds (`start`/`end`,
//! `lo`/`hi`), so range tests read no table row. A reference that is exactly `Type/id` is stored without its
//! text (a search for that text finds it by type and id), which keeps the index on the
//! text of other references small.

use hearth_interface::geo::unit_vector;
use hearth_interface::index::{IndexValue, NarrowedReference, extract_all, narrowed_references};
use hearth_interface::instant::Instant;
use hearth_interface::prepared::PreparedResource;
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use hearth_interface::{Error, ResourceType, Result};
use rusqlite::{Connection, params};

use crate::inserts::{Inserts, Table, with_columns};
use serde_json::Value;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS current (
    type TEXT    NOT NULL,
    ts   INTEGER NOT NULL,
    PRIMARY KEY (type, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_string (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    norm TEXT NOT NULL, exact TEXT NOT NULL,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_string_value ON ix_string (pid, norm);
CREATE TABLE IF NOT EXISTS ix_token (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    system TEXT, code TEXT, text_norm TEXT, of_type TEXT,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_token_value ON ix_token (pid, code, system);
CREATE TABLE IF NOT EXISTS ix_reference (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    reference TEXT, target_type TEXT, target_id TEXT, ident_system TEXT, ident_value TEXT,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_reference_target ON ix_reference (pid, target_id);
CREATE INDEX IF NOT EXISTS ix_reference_text ON ix_reference (pid, reference)
    WHERE reference IS NOT NULL;
CREATE TABLE IF NOT EXISTS ix_date (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
DROP INDEX IF EXISTS ix_date_value;
DROP INDEX IF EXISTS ix_date_end;
CREATE INDEX IF NOT EXISTS ix_date_start_end ON ix_date (pid, start, end);
CREATE INDEX IF NOT EXISTS ix_date_end_start ON ix_date (pid, end, start);
CREATE TABLE IF NOT EXISTS ix_quantity (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    lo REAL, hi REAL, system TEXT, code TEXT, unit TEXT,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
DROP INDEX IF EXISTS ix_quantity_value;
CREATE INDEX IF NOT EXISTS ix_quantity_bounds ON ix_quantity (pid, lo, hi);
CREATE INDEX IF NOT EXISTS ix_quantity_span ON ix_quantity (pid, hi) WHERE lo IS NOT hi;
CREATE TABLE IF NOT EXISTS ix_uri (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    uri TEXT NOT NULL,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_uri_value ON ix_uri (pid, uri);
CREATE INDEX IF NOT EXISTS ix_date_long ON ix_date (pid, start) WHERE end - start > 604800000;
";

/// The `ix_multi` table and its index, created after [`SCHEMA`] by [`migrate_multi`]: a
/// store whose index rows were written before the table existed gets it filled from them.
const MULTI_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ix_multi (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL,
    PRIMARY KEY (ts, pid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_multi_param ON ix_multi (pid);
";

/// The widest date range, in milliseconds, that `ix_date_start_end` serves alone in
/// ANDed date ranges: wider ones (month or year precision, long periods) are found through
/// the partial index `ix_date_long`, whose condition must be written with this literal.
pub(crate) const SHORT_DATE_MS: i64 = 604_800_000;

/// Creates `ix_multi` and, in a store that had index rows before the table existed, fills
/// it from them, so that no multi-valued parameter is taken for single-valued.
pub(crate) fn migrate_multi(conn: &Connection) -> rusqlite::Result<()> {
    let existed: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ix_multi')",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch(MULTI_SCHEMA)?;
    if !existed {
        for table in MULTI_VALUED_TABLES {
            conn.execute(
                &format!(
                    "INSERT OR IGNORE INTO ix_multi (ts, pid)
                     SELECT ts, pid FROM {table} GROUP BY ts, pid HAVING COUNT(*) > 1"
                ),
                [],
            )?;
        }
    }
    Ok(())
}

/// The table of positions (`near`) and its index, created after [`SCHEMA`] by
/// [`migrate_positions`]. A position is stored in degrees, for the latitude band a search
/// reads by index, and as its point on the unit sphere (`x`, `y`, `z`: see
/// `hearth_interface::geo`), for the exact distance test.
const POSITION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ix_position (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, seq INTEGER NOT NULL,
    lat REAL NOT NULL, lon REAL NOT NULL, x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
    PRIMARY KEY (ts, pid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_position_value ON ix_position (pid, lat);
";

/// Creates `ix_position` and, in a store indexed before the table existed, fills it from
/// the current versions of the types with positions (Location).
pub(crate) fn migrate_positions(conn: &Connection) -> rusqlite::Result<()> {
    let existed: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ix_position')",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch(POSITION_SCHEMA)?;
    if existed {
        return Ok(());
    }
    let registry = SearchParamRegistry::r4();
    let positional: Vec<(&str, &SearchParamDef)> = hearth_interface::id::all_resource_types()
        .iter()
        .flat_map(|ty| {
            registry
                .for_type(ty)
                .filter(|def| def.kind == SearchParamType::Special && def.expression.is_some())
                .map(move |def| (*ty, def))
        })
        .collect();
    for (ty, def) in positional {
        let mut select = conn.prepare(
            "SELECT v.ts, v.body FROM current c JOIN versions v ON v.ts = c.ts WHERE c.type = ?1",
        )?;
        let bodies: Vec<(i64, Vec<u8>)> = select
            .query_map(params![ty], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let pid = param_id(ty, &def.code);
        let mut inserts = Inserts::new(conn);
        for (ts, body) in bodies {
            let Ok(resource) = serde_json::from_slice::<Value>(&body) else {
                continue;
            };
            // After every other index row of the version: `seq` only needs to be unique.
            let first = 1 << 20;
            for (seq, value) in (first..).zip(hearth_interface::index::extract(def, &resource)) {
                insert_value(&mut inserts, Key { ts, pid, seq }, &value)?;
            }
        }
    }
    Ok(())
}

/// The tables whose parameters `ix_multi` tracks.
const MULTI_VALUED_TABLES: [&str; 3] = ["ix_token", "ix_date", "ix_quantity"];

/// Whether `ix_multi` tracks parameters of type `kind`.
fn tracks_multi(kind: SearchParamType) -> bool {
    matches!(
        kind,
        SearchParamType::Token
            | SearchParamType::Date
            | SearchParamType::Number
            | SearchParamType::Quantity
    )
}

/// Whether no current version has several index values of parameter `code` of
/// `resource_type` (see the `ix_multi` table); always false for the parameter types the
/// table does not track.
pub(crate) fn is_single_valued(
    conn: &Connection,
    resource_type: &str,
    def: &SearchParamDef,
) -> Result<bool> {
    if !tracks_multi(def.kind) {
        return Ok(false);
    }
    conn.prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM ix_multi WHERE pid = ?1)")
        .and_then(|mut s| s.query_row(params![param_id(resource_type, &def.code)], |r| r.get(0)))
        .map_err(db_error)
}

/// The value indexes of the index tables: what a bulk load into an empty store builds
/// at its end ([`drop_value_indexes`], then `schema::migrate` again) rather than row by row.
const VALUE_INDEXES: [&str; 13] = [
    "ix_string_value",
    "ix_token_value",
    "ix_reference_target",
    "ix_reference_text",
    "ix_date_start_end",
    "ix_date_end_start",
    "ix_date_long",
    "ix_quantity_bounds",
    "ix_quantity_span",
    "ix_uri_value",
    "ix_composite_value",
    "ix_multi_param",
    "ix_position_value",
];

/// Drops the value indexes when no current version is indexed yet, and tells whether it
/// did. Searches stay correct without them (slower); `schema::migrate` creates them again,
/// which opening a store also does after a crash.
pub(crate) fn drop_value_indexes(conn: &Connection) -> Result<bool> {
    let empty: bool = conn
        .query_row("SELECT NOT EXISTS (SELECT 1 FROM current)", [], |r| {
            r.get(0)
        })
        .map_err(db_error)?;
    if empty {
        for index in VALUE_INDEXES {
            conn.execute(&format!("DROP INDEX IF EXISTS {index}"), [])
                .map_err(db_error)?;
        }
    }
    Ok(empty)
}

/// The index tables, for removal.
const TABLES: [&str; 9] = [
    "ix_string",
    "ix_token",
    "ix_reference",
    "ix_date",
    "ix_quantity",
    "ix_uri",
    crate::composite_index::TABLE,
    "ix_multi",
    "ix_position",
];

/// The index values of every parameter of one resource.
pub(crate) type Extracted = hearth_interface::index::IndexValues;

/// Extracts the index values of a stored body.
pub(crate) fn extract_body(resource_type: ResourceType, body: &str) -> Result<Extracted> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        Error::internal(format!("stored {resource_type} body is not valid JSON"), e)
    })?;
    Ok(extract_all(resource_type.as_str(), &value))
}

/// The narrowed reference parameter `def` of `resource_type`, if it is one (see
/// [`NarrowedReference`]): it has no rows of its own, searches read the rows of the
/// parameter it narrows whose `target_type` is its type (the search module's
/// `narrowed_source`).
pub(crate) fn narrowed(
    resource_type: &str,
    def: &SearchParamDef,
) -> Option<&'static NarrowedReference> {
    narrowed_among(narrowed_references(resource_type), def)
}

/// [`narrowed`] among the narrowed references of `def`'s resource type.
fn narrowed_among(
    narrowed: &'static [NarrowedReference],
    def: &SearchParamDef,
) -> Option<&'static NarrowedReference> {
    narrowed.iter().find(|n| {
        n.param.code == def.code
            // Written into SQL as a literal: R4 type names are letters only.
            && n.target_type.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Extracts the index values of a resource about to be stored, before its version and
/// time are known (no written parameter depends on them: see [`FROM_VERSIONS`]).
pub(crate) fn extract_prepared(
    resource_type: ResourceType,
    resource: &PreparedResource,
) -> Result<Extracted> {
    extract_body(resource_type, &resource.finish(1, Instant(0)))
}

/// The parameters every resource has one value of, read from the version tables rather
/// than from index rows: `_id` is `versions.id`, `_lastUpdated` the version's `ts` (see the
/// search module's `index_source`). Their index values are not written.
pub(crate) const FROM_VERSIONS: [&str; 2] = ["_id", "_lastUpdated"];

/// Removes the index rows of the current version written at `ts`.
pub(crate) fn remove(conn: &Connection, resource_type: ResourceType, ts: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM current WHERE type = ?1 AND ts = ?2")
        .and_then(|mut s| s.execute(params![resource_type.as_str(), ts]))
        .map_err(db_error)?;
    for table in TABLES {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE ts = ?1"))
            .and_then(|mut s| s.execute(params![ts]))
            .map_err(db_error)?;
    }
    crate::fulltext_index::remove(conn, ts).map_err(db_error)
}

/// Records the version written at `ts` as current, with its index values.
pub(crate) fn insert(
    conn: &Connection,
    resource_type: ResourceType,
    ts: i64,
    extracted: &Extracted,
) -> Result<()> {
    let ty = resource_type.as_str();
    conn.prepare_cached("INSERT INTO current (type, ts) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![ty, ts]))
        .map_err(db_error)?;
    crate::fulltext_index::insert(conn, ts, extracted).map_err(db_error)?;
    let mut inserts = Inserts::new(conn);
    let mut seq = 0_i64;
    let narrowed = narrowed_references(ty);
    for (def, values) in extracted {
        if FROM_VERSIONS.contains(&def.code.as_str()) || narrowed_among(narrowed, def).is_some() {
            continue;
        }
        let pid = param_id(ty, &def.code);
        if values.len() > 1 && tracks_multi(def.kind) {
            inserts
                .insert(Table::Multi, &[&ts, &pid], &[])
                .map_err(db_error)?;
        }
        for value in values {
            insert_value(&mut inserts, Key { ts, pid, seq }, value).map_err(db_error)?;
            seq += 1;
        }
    }
    Ok(())
}

/// The id of parameter `code` of `resource_type` in the index tables: a 32-bit FNV-1a hash
/// of both, shorter to store and compare than the names. The R4 registry is fixed, and a
/// test checks that no two of its parameters share an id.
pub(crate) fn param_id(resource_type: &str, code: &str) -> i64 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in resource_type.bytes().chain([0]).chain(code.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i64::from(hash)
}

/// The primary key of one index row.
#[derive(Clone, Copy)]
struct Key {
    ts: i64,
    pid: i64,
    seq: i64,
}

fn insert_value(
    inserts: &mut Inserts<'_>,
    Key { ts, pid, seq }: Key,
    value: &IndexValue,
) -> rusqlite::Result<()> {
    match value {
        IndexValue::Position {
            latitude,
            longitude,
        } => {
            let [x, y, z] = unit_vector(*latitude, *longitude);
            inserts.insert(
                Table::Position,
                &[&ts, &pid, &seq],
                &[latitude, longitude, &x, &y, &z],
            )
        }
        IndexValue::Composite(parts) => {
            crate::composite_index::insert(inserts, ts, pid, seq, parts)
        }
        // Full text is written by `fulltext_index`; the rest by kind.
        _ => with_columns(value, true, |kind, values| {
            inserts.insert(Table::Value(kind), &[&ts, &pid, &seq], values)
        })
        .unwrap_or(Ok(())),
    }
}

/// Whether `reference` is exactly `Type/id` for its extracted type and id, and parses
/// back to them as a search value would: such references are stored without their text
/// (`reference` NULL), since a search for that text matches them by type and id.
pub(crate) fn is_plain_reference(
    reference: &str,
    resource_type: Option<&str>,
    id: Option<&str>,
) -> bool {
    let (Some(ty), Some(id)) = (resource_type, id) else {
        return false;
    };
    reference.len() == ty.len() + 1 + id.len()
        && reference.starts_with(ty)
        && reference[ty.len()..].starts_with('/')
        && reference.ends_with(id)
        && ResourceType::parse(ty).is_some()
        && !id.is_empty()
        && !id.contains('/')
}

/// The `of_type` column: `\x1e` + `system \x1f code \x1e` per coding with both parts.
pub(crate) fn of_type_column(of_type: &[(Option<String>, Option<String>)]) -> Option<String> {
    let mut out = String::new();
    for (system, code) in of_type {
        if let (Some(system), Some(code)) = (system, code) {
            if out.is_empty() {
                out.push('\x1e');
            }
            out.push_str(&of_type_entry(system, code)[1..]);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The text `of_type` holds for one coding, delimiters on both sides.
pub(crate) fn of_type_entry(system: &str, code: &str) -> String {
    format!("\x1e{system}\x1f{code}\x1e")
}

/// Indexes every current version when the index is empty but versions exist: a store
/// written before the index tables existed (not one whose index a bulk load deferred: its
/// owner decides when to rebuild).
pub(crate) fn backfill(conn: &mut Connection) -> Result<()> {
    if crate::rebuild::is_stale(conn)? {
        return Ok(());
    }
    let indexed: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM current)", [], |r| r.get(0))
        .map_err(db_error)?;
    let any: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM versions)", [], |r| r.get(0))
        .map_err(db_error)?;
    if indexed || !any {
        return Ok(());
    }
    crate::rebuild::rebuild(conn, &mut |_, _| {}).map(|_| ())
}

/// Empties the search index: `current`, the value tables and the full-text table.
pub(crate) fn clear(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM current", []).map_err(db_error)?;
    for table in TABLES {
        conn.execute(&format!("DELETE FROM {table}"), [])
            .map_err(db_error)?;
    }
    crate::fulltext_index::clear(conn).map_err(db_error)
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::internal("sqlite error", e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_interface::ResourceId;
    use serde_json::json;

    fn by_code(mut extracted: Extracted) -> Vec<(String, Vec<IndexValue>)> {
        extracted.sort_by(|a, b| a.0.code.cmp(&b.0.code));
        extracted
            .into_iter()
            .map(|(def, values)| (def.code.clone(), values))
            .collect()
    }

    #[test]
    fn prepared_extraction_matches_the_stored_body() {
        let ty = ResourceType::parse("Patient").expect("type");
        let resource = PreparedResource::new(
            json!({"resourceType": "Patient", "meta": {"lastUpdated": "2001-01-01T00:00:00Z", "tag": [{"code": "t"}]},
                "name": [{"family": "Doe"}], "birthDate": "1970"}),
            &ResourceId::parse("x").expect("id"),
        );
        let written = |extracted: Extracted| {
            let mut kept = by_code(extracted);
            kept.retain(|(code, _)| !FROM_VERSIONS.contains(&code.as_str()));
            kept
        };
        let early = written(extract_prepared(ty, &resource).expect("extract"));
        for ts in [1_764_000_000_123_456, 1_000, 999] {
            let late = extract_body(ty, &resource.finish(7, Instant(ts))).expect("extract");
            assert_eq!(early, written(late), "at {ts}");
        }
        assert!(early.iter().any(|(code, _)| code == "_tag"));
    }

    #[test]
    fn parameter_ids_are_unique() {
        let mut seen = std::collections::HashMap::new();
        for ty in hearth_interface::id::all_resource_types() {
            for def in SearchParamRegistry::r4().for_type(ty) {
                let pid = param_id(ty, &def.code);
                let name = format!("{ty}.{}", def.code);
                if let Some(other) = seen.insert(pid, name.clone()) {
                    assert_eq!(other, name, "parameter id collision");
                }
            }
        }
        assert!(seen.len() > 1000);
    }

    #[tokio::test]
    async fn opening_a_store_without_index_rows_backfills_them() {
        use crate::SqliteSearch;
        use hearth_interface::search::{Criterion, SearchEngine, SearchQuery, SearchScope};
        use hearth_interface::store::{Precondition, ResourceStore, Write};
        let dir = tempfile::tempdir().expect("tempdir");
        let patient = ResourceType::parse("Patient").expect("type");
        {
            let store = crate::SqliteStore::open(dir.path()).expect("open");
            for (id, family) in [("a", "Doe"), ("b", "Roe")] {
                let write = Write::upsert(
                    patient,
                    ResourceId::parse(id).expect("id"),
                    json!({"resourceType": "Patient", "name": [{"family": family}]}),
                    Precondition::None,
                );
                store.write(write).await.expect("write");
            }
        }
        let conn = Connection::open(dir.path().join(crate::store::DATABASE_FILE)).expect("db");
        conn.execute_batch("DELETE FROM current; DELETE FROM ix_string; DELETE FROM ix_token;")
            .expect("clear");
        drop(conn);
        let search = SqliteSearch::new(crate::SqliteStore::open(dir.path()).expect("reopen"));
        let query = SearchQuery {
            criteria: vec![Criterion::parse("family", "roe")],
            count: 10,
            cursor: None,
            total: Default::default(),
            sort: Vec::new(),
        };
        let page = search
            .search(&SearchScope::Type(patient), &query)
            .await
            .expect("search");
        assert_eq!(page.total, Some(1));
        assert_eq!(page.matches[0].id.as_str(), "b");
    }

    #[tokio::test]
    async fn stores_from_before_the_multi_value_table_get_it_filled() {
        use hearth_interface::store::{Precondition, ResourceStore, Write};
        let dir = tempfile::tempdir().expect("tempdir");
        let observation = ResourceType::parse("Observation").expect("type");
        {
            let store = crate::SqliteStore::open(dir.path()).expect("open");
            let codings = json!([{"system": "a", "code": "1"}, {"system": "b", "code": "2"}]);
            let write = Write::upsert(
                observation,
                ResourceId::parse("o").expect("id"),
                json!({"resourceType": "Observation", "status": "final", "code": {"coding": codings}}),
                Precondition::None,
            );
            store.write(write).await.expect("write");
        }
        let conn = Connection::open(dir.path().join(crate::store::DATABASE_FILE)).expect("db");
        conn.execute_batch("DROP TABLE ix_multi").expect("drop");
        drop(conn);
        drop(crate::SqliteStore::open(dir.path()).expect("reopen"));
        let conn = Connection::open(dir.path().join(crate::store::DATABASE_FILE)).expect("db");
        let def = |code| {
            SearchParamRegistry::r4()
                .get("Observation", code)
                .expect("def")
        };
        assert!(!is_single_valued(&conn, "Observation", def("code")).expect("code"));
        assert!(is_single_valued(&conn, "Observation", def("status")).expect("status"));
        assert!(!is_single_valued(&conn, "Observation", def("subject")).expect("not tracked"));
    }

    #[tokio::test]
    async fn stores_from_before_the_position_table_get_it_filled() {
        use crate::SqliteSearch;
        use hearth_interface::search::{Criterion, SearchEngine, SearchQuery, SearchScope};
        use hearth_interface::store::{Precondition, ResourceStore, Write};
        let dir = tempfile::tempdir().expect("tempdir");
        let location = ResourceType::parse("Location").expect("type");
        {
            let store = crate::SqliteStore::open(dir.path()).expect("open");
            for (id, latitude) in [("here", 10.0), ("far", 40.0)] {
                let write = Write::upsert(
                    location,
                    ResourceId::parse(id).expect("id"),
                    json!({"resourceType": "Location",
                        "position": {"latitude": latitude, "longitude": 20.0}}),
                    Precondition::None,
                );
                store.write(write).await.expect("write");
            }
        }
        let conn = Connection::open(dir.path().join(crate::store::DATABASE_FILE)).expect("db");
        conn.execute_batch("DROP TABLE ix_position").expect("drop");
        drop(conn);
        let search = SqliteSearch::new(crate::SqliteStore::open(dir.path()).expect("reopen"));
        let query = SearchQuery {
            criteria: vec![Criterion::parse("near", "10.01|20|5|km")],
            count: 10,
            cursor: None,
            total: Default::default(),
            sort: Vec::new(),
        };
        let page = search
            .search(&SearchScope::Type(location), &query)
            .await
            .expect("search");
        let ids: Vec<&str> = page.matches.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["here"]);
    }

    #[test]
    fn plain_references_are_type_slash_id() {
        assert!(is_plain_reference("Patient/1", Some("Patient"), Some("1")));
        assert!(!is_plain_reference(
            "http://x/Patient/1",
            Some("Patient"),
            Some("1")
        ));
        assert!(!is_plain_reference("Patient/1", None, Some("1")));
        assert!(!is_plain_reference("Bogus/1", Some("Bogus"), Some("1")));
    }
}
