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
//! The criteria semantics, shared by every engine, are described in
//! [`hearth_interface::search::criteria`]. System searches query each type in turn.
//! Results come in the order of the resources' last change, oldest first.

use async_trait::async_trait;
use hearth_interface::id::truncate_for_message;
use hearth_interface::index::normalize_string;
use hearth_interface::search::{
    Criterion, SearchEngine, SearchPage, SearchQuery, SearchScope, SupportedParam, TotalMode,
};
use hearth_interface::search_params::SearchParamType;
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, ResourceType, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use crate::SqliteStore;
use crate::store::{db_error, row_to_stored};

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
        criteria::supported_params(resource_type)
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
        let mut b = Binder::default();
        let mut sql = format!(
            "SELECT v.ts, v.type, v.id, v.version, v.change, v.body \
             FROM current c JOIN versions v ON v.ts = c.ts WHERE {}",
            self.where_sql(&mut b)
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

    /// How many resources match.
    fn count(&self, conn: &Connection) -> Result<u64> {
        let mut b = Binder::default();
        let sql = format!(
            "SELECT COUNT(*) FROM current c WHERE {}",
            self.where_sql(&mut b)
        );
        let n: i64 = conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params_from_iter(&b.args), |r| r.get(0)))
            .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// The `WHERE` condition on `current c` selecting this plan's matches.
    ///
    /// One positive filter drives the query: its matches are looked up in the value index
    /// (`c.ts IN (…)`), and the other filters are checked per candidate on the index rows
    /// of that version (`EXISTS`, one short primary-key range each). The driver is the
    /// first filter that looks selective (equality on a token, reference, `:exact` string
    /// or uri), else the compartment membership, else the first positive filter; without
    /// one, the query walks the type's current versions in order.
    fn where_sql(&self, b: &mut Binder) -> String {
        let ty = self.resource_type.as_str();
        let mut parts = vec![format!("c.type = {}", b.text(ty))];
        let selective = self.filters.iter().position(|f| is_selective(&f.condition));
        let driver = match selective {
            Some(i) => Some(i),
            None if !self.any_of.is_empty() => None,
            None => self
                .filters
                .iter()
                .position(|f| matches!(f.condition, Condition::AnyOf(_))),
        };
        for (i, filter) in self.filters.iter().enumerate() {
            parts.push(filter_sql(filter, ty, b, driver == Some(i)));
        }
        if !self.any_of.is_empty() {
            let drive = driver.is_none();
            let any: Vec<String> = self
                .any_of
                .iter()
                .map(|f| filter_sql(f, ty, b, drive))
                .collect();
            parts.push(format!("({})", any.join(" OR ")));
        }
        parts.join(" AND ")
    }
}

/// The types a scope searches, in order, with their filters.
fn plan(scope: &SearchScope, criteria: &[Criterion]) -> Result<Vec<Plan>> {
    Ok(criteria::plan(scope, criteria)?
        .into_iter()
        .map(|p| Plan {
            resource_type: p.resource_type,
            filters: p.filters,
            any_of: p.any_of,
        })
        .collect())
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

mod sql;

use hearth_interface::search::criteria::{self, *};
use sql::*;

/// The reference semantics of the SQL predicates, on extracted values in memory: the unit
/// tests check that both agree.
#[cfg(test)]
mod matching;
#[cfg(test)]
mod tests;
