//! [`SqliteSearch`]: the [`SearchEngine`] of the embedded backend.
//!
//! It answers a search with one SQL query per searched type over the index tables the
//! store maintains in its write transactions (see the `indexing` module): each criterion
//! becomes a predicate on the current versions (`current`), totals are `COUNT(*)` of the
//! same predicate, and paging is keyset on the version's `ts`. The "Criteria" section
//! parses criteria into conditions, the "SQL" section turns them into predicates, and the
//! test-only `matching` module keeps the same semantics as pure functions on extracted
//! values, against which the unit tests check the SQL.
//!
//! # Semantics (FHIR R4, hl7.org/fhir/R4/search.html)
//! Criteria are ANDed, the values of one criterion ORed. `:missing` works on every
//! parameter type. Supported per type:
//! - string: starts-with on the normalized text (lowercase, accents removed), `:exact`,
//!   `:contains`;
//! - token: `code`, `system|code`, `|code`, `system|`, and `:not`, `:text`, `:of-type`;
//! - reference: `Type/id`, `id`, absolute or other literal references (equal text, or
//!   equal trailing `Type/id`: the server base of an absolute URL is not checked),
//!   `:[Type]` and `:identifier`;
//! - uri: exact, `:below`, `:above`;
//! - date, number, quantity: the prefixes `eq ne gt lt ge le sa eb ap`; quantities
//!   also `number|system|code` and `number||code`.
//!
//! Scopes: one type, several or all types (system search: each type queried in turn), and
//! the Patient compartment (the target type's compartment parameters, ORed, must reference
//! the patient; the Patient itself belongs to its own compartment).
//!
//! Chains, `_has` and `_include` are resolved by the router before the engine is asked.
//! `_sort`, `_text`, composite and special parameters are rejected as not supported yet.
//! Results come in the order of the resources' last change, oldest first.

use async_trait::async_trait;
use hearth_interface::compartment;
use hearth_interface::id::{all_resource_types, truncate_for_message};
use hearth_interface::index::{normalize_string, parse_date_range, parse_decimal_range};
use hearth_interface::search::{
    Criterion, SearchEngine, SearchPage, SearchQuery, SearchScope, SupportedParam, TotalMode,
};
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, ResourceType, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use crate::SqliteStore;
use crate::store::{db_error, row_to_stored};

/// Parameters that exist in FHIR but need machinery this engine does not have yet.
const UNSUPPORTED_PARAMS: [&str; 11] = [
    "_has",
    "_include",
    "_revinclude",
    "_sort",
    "_text",
    "_content",
    "_list",
    "_query",
    "_filter",
    "_type",
    "_containedType",
];

/// Searches a [`SqliteStore`] through its index tables.
///
/// Paging cursors are positions in the order of last change: a cursor points just after
/// the last match returned, so later pages continue where the previous one stopped.
#[derive(Debug, Clone)]
pub struct SqliteSearch {
    store: SqliteStore,
}

impl SqliteSearch {
    /// A search engine over `store`.
    pub fn new(store: SqliteStore) -> Self {
        Self { store }
    }

    /// Runs each plan's query in turn from the query's cursor and collects one page of
    /// matches, counting all of them when a total is wanted.
    async fn run(&self, plans: Vec<Plan>, query: &SearchQuery) -> Result<SearchPage> {
        let want_total = query.cursor.is_none() && query.total != TotalMode::None;
        let count = query.count;
        let (plan_index, after) = parse_cursor(query.cursor.as_deref())?;
        self.store
            .with_reader(move |conn| {
                let mut collector = Collector::new(count, want_total);
                for (index, plan) in plans.iter().enumerate().skip(plan_index) {
                    if collector.is_done() {
                        break;
                    }
                    let after = if index == plan_index { after } else { None };
                    let room = count.saturating_sub(collector.matches.len());
                    if !collector.has_more {
                        let rows = plan.fetch(conn, after, room.saturating_add(1))?;
                        collector.extend(index, rows);
                    }
                    if want_total {
                        collector.total += plan.count(conn)?;
                    }
                }
                Ok(collector.finish())
            })
            .await
    }
}

#[async_trait]
impl SearchEngine for SqliteSearch {
    async fn search(&self, scope: &SearchScope, query: &SearchQuery) -> Result<SearchPage> {
        let plans = plan(scope, &query.criteria)?;
        self.run(plans, query).await
    }

    fn supported_params(&self, resource_type: ResourceType) -> Vec<SupportedParam> {
        SearchParamRegistry::r4()
            .for_type(resource_type.as_str())
            .filter(|def| is_searchable(def))
            .map(|def| SupportedParam {
                code: def.code.clone(),
                kind: def.kind.as_str(),
                definition: def.url.clone(),
            })
            .collect()
    }
}

/// One resource type to search, with the filters its resources must pass.
#[derive(Debug)]
struct Plan {
    resource_type: ResourceType,
    /// All must match.
    filters: Vec<Filter>,
    /// When not empty, one must match too (compartment membership).
    any_of: Vec<Filter>,
}

impl Plan {
    /// Up to `limit` matches after the version written at `after`, oldest change first.
    fn fetch(
        &self,
        conn: &Connection,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredResource>> {
        let drive = !self.driver_is_broad(conn)?;
        let mut b = Binder::default();
        let mut sql = format!(
            "SELECT v.ts, v.type, v.id, v.version, v.change, v.body \
             FROM current c JOIN versions v ON v.ts = c.ts WHERE {}",
            self.where_sql(&mut b, drive)
        );
        if let Some(after) = after {
            let p = b.bind(SqlValue::Integer(after));
            sql.push_str(&format!(" AND c.ts > {p}"));
        }
        let limit = b.bind(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY c.ts LIMIT {limit}"));
        let mut stmt = conn.prepare_cached(&sql).map_err(db_error)?;
        stmt.query_map(params_from_iter(&b.args), row_to_stored)
            .and_then(|rows| rows.collect())
            .map_err(db_error)
    }

    /// How many resources match: from the index rows alone for one positive filter.
    fn count(&self, conn: &Connection) -> Result<u64> {
        let mut b = Binder::default();
        let ty = self.resource_type.as_str();
        let index_only = match self.filters.as_slice() {
            [filter] if self.any_of.is_empty() => index_count_sql(filter, ty, &mut b),
            _ => None,
        };
        let sql = match index_only {
            Some(sql) => sql,
            None => format!(
                "SELECT COUNT(*) FROM current c WHERE {}",
                self.where_sql(&mut b, true)
            ),
        };
        let n: i64 = conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params_from_iter(&b.args), |r| r.get(0)))
            .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// The filter whose matches drive the query, as [`Plan::where_sql`] describes; `None`
    /// for the compartment membership or a walk in order.
    fn driver(&self) -> Option<usize> {
        let selective = self.filters.iter().position(|f| is_selective(&f.condition));
        match selective {
            Some(i) => Some(i),
            None if !self.any_of.is_empty() => None,
            None => self
                .filters
                .iter()
                .position(|f| matches!(f.condition, Condition::AnyOf(_))),
        }
    }

    /// Whether the driving filter matches at least [`BROAD_DRIVER`] index rows: then a
    /// walk in order finds a page sooner than collecting every match first (with `m` of
    /// `n` versions matching, a page of `p` takes about `p * n / m` checks, against `m`
    /// lookups). Reads at most that many index rows.
    fn driver_is_broad(&self, conn: &Connection) -> Result<bool> {
        let Some(filter) = self.driver().map(|i| &self.filters[i]) else {
            return Ok(false);
        };
        let mut b = Binder::default();
        let Some(Some(rows)) = index_rows_sql(filter, self.resource_type.as_str(), &mut b) else {
            return Ok(false);
        };
        let limit = b.bind(SqlValue::Integer(BROAD_DRIVER));
        let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM ({rows}) LIMIT {limit})");
        let n: i64 = conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params_from_iter(&b.args), |r| r.get(0)))
            .map_err(db_error)?;
        Ok(n >= BROAD_DRIVER)
    }

    /// The `WHERE` condition on `current c` selecting this plan's matches.
    ///
    /// One positive filter drives the query: its matches are looked up in the value index
    /// (`c.ts IN (…)`), and the other filters are checked per candidate on the index rows
    /// of that version (`EXISTS`, one short primary-key range each). The driver is the
    /// first filter that looks selective (equality on a token, reference, `:exact` string
    /// or uri), else the compartment membership, else the first positive filter; without
    /// one, the query walks the type's current versions in order.
    ///
    /// Without `drive`, every filter is checked per candidate: the query walks the type's
    /// current versions in order and stops after one page, which is faster than looking up
    /// all matches of a driver that matches many.
    fn where_sql(&self, b: &mut Binder, drive: bool) -> String {
        let ty = self.resource_type.as_str();
        let mut parts = vec![format!("c.type = {}", b.text(ty))];
        let driver = if drive { self.driver() } else { None };
        for (i, filter) in self.filters.iter().enumerate() {
            parts.push(filter_sql(filter, ty, b, driver == Some(i)));
        }
        if !self.any_of.is_empty() {
            let drive = drive && driver.is_none();
            // Driving with every alternative in one `IN`: SQLite walks all the type's
            // versions for an OR of several.
            let rows: Option<Vec<String>> = drive
                .then(|| {
                    self.any_of
                        .iter()
                        .map(|f| index_rows_sql(f, ty, b))
                        .collect::<Option<Vec<_>>>()
                })
                .flatten()
                .map(|rows| rows.into_iter().flatten().collect());
            match rows {
                Some(rows) if rows.is_empty() => parts.push("0".to_owned()),
                Some(rows) => parts.push(format!("c.ts IN ({})", rows.join(" UNION ALL "))),
                None => {
                    let any: Vec<String> = self
                        .any_of
                        .iter()
                        .map(|f| filter_sql(f, ty, b, drive))
                        .collect();
                    parts.push(format!("({})", any.join(" OR ")));
                }
            }
        }
        parts.join(" AND ")
    }
}

/// Index rows from which a driving filter counts as broad (see [`Plan::driver_is_broad`]):
/// about the square root of a page of 20 times a type with 600,000 resources.
const BROAD_DRIVER: i64 = 4_000;

/// The types a scope searches, in order, with their filters.
fn plan(scope: &SearchScope, criteria: &[Criterion]) -> Result<Vec<Plan>> {
    let plain = |resource_type: ResourceType| -> Result<Plan> {
        Ok(Plan {
            resource_type,
            filters: compile(resource_type, criteria)?,
            any_of: Vec::new(),
        })
    };
    match scope {
        SearchScope::Type(resource_type) => Ok(vec![plain(*resource_type)?]),
        SearchScope::System(types) if types.is_empty() => all_resource_types()
            .iter()
            .filter_map(|name| ResourceType::parse(name))
            .map(plain)
            .collect(),
        SearchScope::System(types) => types.iter().copied().map(plain).collect(),
        SearchScope::Compartment {
            compartment,
            id,
            target,
        } => {
            if !compartment::is_defined(compartment.as_str()) {
                return Err(Error::not_found(format!(
                    "this server has no {compartment} compartment definition (it knows the Patient compartment)"
                )));
            }
            let explicit = target.is_some();
            let targets: Vec<ResourceType> = match target {
                Some(t) => vec![*t],
                None => all_resource_types()
                    .iter()
                    .filter_map(|name| ResourceType::parse(name))
                    .collect(),
            };
            let mut plans = Vec::new();
            for target in targets {
                let mut any_of = Vec::new();
                for param in compartment::patient_params(target.as_str()) {
                    let member = Criterion {
                        name: param.clone(),
                        modifier: None,
                        values: vec![format!("{compartment}/{id}")],
                    };
                    any_of.push(compile_one(target, &member)?);
                }
                if target == *compartment {
                    let itself = Criterion {
                        name: "_id".into(),
                        modifier: None,
                        values: vec![id.to_string()],
                    };
                    any_of.push(compile_one(target, &itself)?);
                }
                if any_of.is_empty() {
                    if explicit {
                        return Err(Error::invalid(format!(
                            "{target} is not in the {compartment} compartment"
                        )));
                    }
                    continue;
                }
                plans.push(Plan {
                    resource_type: target,
                    filters: compile(target, criteria)?,
                    any_of,
                });
            }
            Ok(plans)
        }
    }
}

/// Cursors are `<plan index>:<ts>`, the position just after the last match returned (the
/// `ts` of its version); no cursor starts at the first plan.
fn parse_cursor(cursor: Option<&str>) -> Result<(usize, Option<i64>)> {
    let Some(cursor) = cursor else {
        return Ok((0, None));
    };
    cursor
        .split_once(':')
        .and_then(|(plan, ts)| {
            let ts = ts.parse::<i64>().ok().filter(|ts| *ts >= 0)?;
            Some((plan.parse().ok()?, Some(ts)))
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "invalid paging cursor '{}'",
                truncate_for_message(cursor)
            ))
        })
}

/// The cursor that continues just after `entry` of plan `plan_index`.
fn cursor_after(plan_index: usize, entry: &StoredResource) -> String {
    format!("{plan_index}:{}", entry.last_updated.0)
}

/// Gathers one page of matches, the total when one is wanted, and learns whether a match
/// exists after the page.
#[derive(Debug)]
struct Collector {
    count: usize,
    want_total: bool,
    matches: Vec<StoredResource>,
    /// The plan of the last match on the page.
    last_plan: usize,
    total: u64,
    has_more: bool,
}

impl Collector {
    fn new(count: usize, want_total: bool) -> Self {
        Self {
            count,
            want_total,
            matches: Vec::new(),
            last_plan: 0,
            total: 0,
            has_more: false,
        }
    }

    /// Records matches of plan `plan_index`, in order; those beyond the page only tell
    /// that a next page exists.
    fn extend(&mut self, plan_index: usize, entries: Vec<StoredResource>) {
        for entry in entries {
            if self.matches.len() < self.count {
                self.matches.push(entry);
                self.last_plan = plan_index;
            } else {
                self.has_more = true;
            }
        }
    }

    /// Whether further plans cannot change the page: it is full, a next match is known
    /// (or the page holds nothing at all), and no total is wanted.
    fn is_done(&self) -> bool {
        !self.want_total && (self.has_more || self.count == 0)
    }

    /// The page. With a page size of 0 there is no next page: no position precedes the
    /// first match.
    fn finish(self) -> SearchPage {
        let next_cursor = if self.has_more {
            self.matches
                .last()
                .map(|entry| cursor_after(self.last_plan, entry))
        } else {
            None
        };
        SearchPage {
            matches: self.matches,
            next_cursor,
            total: self.want_total.then_some(self.total),
        }
    }
}

mod criteria;
mod sql;

use criteria::*;
use sql::*;

/// The reference semantics of the SQL predicates, on extracted values in memory: the unit
/// tests check that both agree.
#[cfg(test)]
mod matching;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;
