//! [`SqliteSearch`]: the [`SearchEngine`] of the embedded backend.
//!
//! It answers a search with one SQL query per searched type over the index tables the
//! store maintains in its write transactions (see the `indexing` module): each criterion
//! becomes a predicate on the current versions (`current`), totals are `COUNT(*)` of the
//! same predicate, and paging is keyset (see the `paging` module). The "Criteria" section
//! parses criteria into conditions, the "SQL" section turns them into predicates, and the
//! test-only `matching` module keeps the same semantics as pure functions on extracted
//! values, against which the unit tests check the SQL.
//!
//! The criteria semantics, shared by every engine, are described in
//! [`hearth_interface::search::criteria`]. Composite parameters are matched on the rows of
//! the `composite_index` module (the `composite` module), `_text` and `_content` on its
//! FTS5 table (the `fulltext` module). System searches query each type in turn. Results
//! come in the order of the resources' last change, oldest first (type by type in
//! multi-type searches), or in the `_sort` order (the `sort` module).

use async_trait::async_trait;
use hearth_interface::id::truncate_for_message;
use hearth_interface::index::normalize_string;
use hearth_interface::search::{
    Criterion, SearchEngine, SearchPage, SearchQuery, SearchScope, SupportedParam, TotalMode,
};
use hearth_interface::search_params::{SearchParamDef, SearchParamType};
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

    /// Reads one page of the plans' matches in the query's order from its cursor, and
    /// counts all of them when a total is wanted (first pages only).
    async fn run(&self, plans: Vec<Plan>, query: &SearchQuery) -> Result<SearchPage> {
        let want_total = query.cursor.is_none() && query.total != TotalMode::None;
        let count = query.count;
        let sort = query.sort.clone();
        // Checked before reading, so that bad keys fail even on an empty store.
        Sorted::new(&plans, &sort)?;
        let bound = Bound::parse(query.cursor.as_deref(), sort.len())?;
        self.store
            .with_reader(move |conn| {
                // One snapshot for the plan, the page and the total (rolled back on drop:
                // nothing is written).
                let snapshot = conn.unchecked_transaction().map_err(db_error)?;
                let conn: &Connection = &snapshot;
                let mut plans = plans;
                for plan in &mut plans {
                    plan.inspect(conn)?;
                }
                let mut page = if sort.is_empty() {
                    read_page(&Timed { plans: &plans }, conn, bound, count)?
                } else {
                    read_page(&Sorted::new(&plans, &sort)?, conn, bound, count)?
                };
                if want_total {
                    let mut total = 0;
                    for plan in &plans {
                        total += plan.count(conn)?;
                    }
                    page.total = Some(total);
                }
                Ok(page)
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
    /// Filters on one single-valued date parameter (at least two, each one date value),
    /// which then hold on one index row: their conjunction can drive the query (see
    /// [`Plan::inspect`]).
    same_row_dates: Vec<usize>,
}

impl Plan {
    /// Looks at the store's data where the query plan depends on it: ANDed date filters
    /// on a parameter no current version has several values of (`ix_multi`) are
    /// recorded in [`Plan::same_row_dates`].
    fn inspect(&mut self, conn: &Connection) -> Result<()> {
        let ty = self.resource_type.as_str();
        let mut groups: Vec<(&SearchParamDef, Vec<usize>)> = Vec::new();
        for (i, filter) in self.filters.iter().enumerate() {
            if let Condition::AnyOf(queries) = &filter.condition
                && let [ValueQuery::Date { .. }] = queries.as_slice()
            {
                match groups
                    .iter_mut()
                    .find(|(def, _)| def.code == filter.def.code)
                {
                    Some((_, members)) => members.push(i),
                    None => groups.push((filter.def, vec![i])),
                }
            }
        }
        for (def, members) in groups {
            if members.len() > 1 && crate::indexing::is_single_valued(conn, ty, def)? {
                self.same_row_dates = members;
                break;
            }
        }
        Ok(())
    }

    /// The index rows matching every filter of [`Plan::same_row_dates`] on one row.
    fn same_row_dates_sql(&self, b: &mut Binder) -> Option<String> {
        let first = self.filters.get(*self.same_row_dates.first()?)?;
        let queries: Vec<&ValueQuery> = self
            .same_row_dates
            .iter()
            .filter_map(|&i| match &self.filters[i].condition {
                Condition::AnyOf(queries) => queries.first(),
                _ => None,
            })
            .collect();
        let ty = self.resource_type.as_str();
        Some(same_row_dates_sql(&queries, first.def, ty, b))
    }

    /// Up to `limit` matches in the order of last change, after the version written at
    /// `from` (or before it and newest first, when `backwards`).
    fn fetch(
        &self,
        conn: &Connection,
        from: Option<i64>,
        backwards: bool,
        limit: usize,
    ) -> Result<Vec<StoredResource>> {
        let drive = !self.driver_is_broad(conn)?;
        let mut b = Binder::default();
        let mut sql = format!(
            "SELECT v.ts, v.type, v.id, v.version, v.change, v.body \
             FROM current c JOIN versions v ON v.ts = c.ts WHERE {}",
            self.where_sql(&mut b, drive)
        );
        let (op, order) = if backwards {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(from) = from {
            let p = b.bind(SqlValue::Integer(from));
            sql.push_str(&format!(" AND c.ts {op} {p}"));
        }
        let limit = b.limit(limit);
        sql.push_str(&format!(" ORDER BY c.ts {order} LIMIT {limit}"));
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
            _ if !self.any_of.is_empty() => None,
            [filter] => {
                let single = crate::indexing::is_single_valued(conn, ty, filter.def)?;
                index_count_sql(filter, ty, &mut b, single)
            }
            filters if !filters.is_empty() && self.same_row_dates.len() == filters.len() => self
                .same_row_dates_sql(&mut b)
                .map(|rows| format!("SELECT COUNT(*) FROM ({rows})")),
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

    /// What drives the query, as [`Plan::where_sql`] describes; `None` for the
    /// compartment membership or a walk in order.
    fn driver(&self) -> Option<Driver> {
        let selective = self.filters.iter().position(|f| is_selective(&f.condition));
        match selective {
            Some(i) => Some(Driver::Filter(i)),
            None if !self.any_of.is_empty() => None,
            None if !self.same_row_dates.is_empty() => Some(Driver::SameRowDates),
            None => self
                .filters
                .iter()
                .position(|f| matches!(f.condition, Condition::AnyOf(_)))
                .map(Driver::Filter),
        }
    }

    /// Whether the driving filter matches at least [`BROAD_DRIVER`] index rows: then a
    /// walk in order finds a page sooner than collecting every match first (with `m` of
    /// `n` versions matching, a page of `p` takes about `p * n / m` checks, against `m`
    /// lookups). Reads at most that many index rows.
    fn driver_is_broad(&self, conn: &Connection) -> Result<bool> {
        let mut b = Binder::default();
        let rows = match self.driver() {
            Some(Driver::Filter(i)) => {
                index_rows_sql(&self.filters[i], self.resource_type.as_str(), &mut b).flatten()
            }
            Some(Driver::SameRowDates) => self.same_row_dates_sql(&mut b),
            None => None,
        };
        let Some(rows) = rows else {
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
    /// or uri), else the compartment membership, else the index rows matching every filter
    /// of [`Plan::same_row_dates`] at once (those filters need no other check), else the
    /// first positive filter; without one, the query walks the type's current versions in
    /// order.
    ///
    /// Without `drive`, every filter is checked per candidate: the query walks the type's
    /// current versions in order and stops after one page, which is faster than looking up
    /// all matches of a driver that matches many.
    fn where_sql(&self, b: &mut Binder, drive: bool) -> String {
        let ty = self.resource_type.as_str();
        let mut parts = vec![format!("c.type = {}", b.text(ty))];
        let driver = if drive { self.driver() } else { None };
        if driver == Some(Driver::SameRowDates)
            && let Some(rows) = self.same_row_dates_sql(b)
        {
            parts.push(format!("c.ts IN ({rows})"));
        }
        for (i, filter) in self.filters.iter().enumerate() {
            if driver == Some(Driver::SameRowDates) && self.same_row_dates.contains(&i) {
                continue;
            }
            parts.push(filter_sql(filter, ty, b, driver == Some(Driver::Filter(i))));
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

/// What drives a query (see [`Plan::where_sql`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// The matches of one positive filter.
    Filter(usize),
    /// The rows matching every filter of [`Plan::same_row_dates`].
    SameRowDates,
}

/// Index rows from which a driving filter counts as broad (see [`Plan::driver_is_broad`]):
/// about the square root of a page of 20 times a type with 600,000 resources.
const BROAD_DRIVER: i64 = 4_000;

/// The types a scope searches, in order, with their filters.
fn plan(scope: &SearchScope, criteria: &[Criterion]) -> Result<Vec<Plan>> {
    Ok(criteria::plan(scope, criteria)?
        .into_iter()
        .map(|p| Plan {
            resource_type: p.resource_type,
            filters: p.filters.into_iter().map(in_microseconds).collect(),
            any_of: p.any_of.into_iter().map(in_microseconds).collect(),
            same_row_dates: Vec::new(),
        })
        .collect())
}

/// The plans' matches in the default order: plan by plan, each in the order of last
/// change (oldest first).
#[derive(Debug)]
struct Timed<'a> {
    plans: &'a [Plan],
}

impl Source for Timed<'_> {
    fn fetch(
        &self,
        conn: &Connection,
        bound: &Bound,
        limit: usize,
    ) -> Result<Vec<(StoredResource, Key)>> {
        let (first, from, backwards) = match bound {
            Bound::Start => (0, None, false),
            Bound::After(Key::Time { plan, ts }) => (*plan, Some(*ts), false),
            Bound::Before(Key::Time { plan, ts }) => (*plan, Some(*ts), true),
            Bound::After(_) | Bound::Before(_) => return Ok(Vec::new()),
        };
        let order: Vec<usize> = if backwards {
            (0..self.plans.len().min(first.saturating_add(1)))
                .rev()
                .collect()
        } else {
            (first..self.plans.len()).collect()
        };
        let mut rows = Vec::new();
        for index in order {
            let room = limit.saturating_sub(rows.len());
            if room == 0 {
                break;
            }
            let from = if index == first { from } else { None };
            let found = self.plans[index].fetch(conn, from, backwards, room)?;
            rows.extend(found.into_iter().map(|row| {
                let key = Key::Time {
                    plan: index,
                    ts: row.last_updated.0,
                };
                (row, key)
            }));
        }
        Ok(rows)
    }
}

mod composite;
mod fulltext;
mod paging;
mod sort;
mod sql;

use composite::*;
use fulltext::*;
use hearth_interface::search::criteria::{self, *};
use paging::{Bound, Key, Source, read_page};
use sort::Sorted;
use sql::*;

/// The reference semantics of the SQL predicates, on extracted values in memory: the unit
/// tests check that both agree.
#[cfg(test)]
mod matching;
#[cfg(test)]
mod sort_tests;
#[cfg(test)]
mod tests;
