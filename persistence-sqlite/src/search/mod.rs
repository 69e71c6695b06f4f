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
//!   also `number|system|code` and `number||code`;
//! - composite: `part$part…`, each part with its component's type semantics, matched
//!   by one item of the base expression (the `composite` module).
//!
//! Scopes: one type, several or all types (system search: each type queried in turn), and
//! the Patient compartment (the target type's compartment parameters, ORed, must reference
//! the patient; the Patient itself belongs to its own compartment).
//!
//! Chains, `_has` and `_include` are resolved by the router before the engine is asked.
//! `_text` and `_content` are word-prefix searches over the narrative and all string
//! content (the `fulltext` module). Special parameters (`near`, …) are rejected as not
//! supported yet.
//! Results come in the order of the resources' last change, oldest first (type by type in
//! multi-type searches), or in the `_sort` order (the `sort` module).

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
const UNSUPPORTED_PARAMS: [&str; 8] = [
    "_has",
    "_include",
    "_revinclude",
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
    /// Up to `limit` matches in the order of last change, after the version written at
    /// `from` (or before it and newest first, when `backwards`).
    fn fetch(
        &self,
        conn: &Connection,
        from: Option<i64>,
        backwards: bool,
        limit: usize,
    ) -> Result<Vec<StoredResource>> {
        let mut b = Binder::default();
        let mut sql = format!(
            "SELECT v.ts, v.type, v.id, v.version, v.change, v.body \
             FROM current c JOIN versions v ON v.ts = c.ts WHERE {}",
            self.where_sql(&mut b)
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
        let limit = b.bind(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY c.ts {order} LIMIT {limit}"));
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
mod criteria;
mod fulltext;
mod paging;
mod sort;
mod sql;

use composite::*;
use criteria::*;
use fulltext::*;
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
mod store_tests;
#[cfg(test)]
mod tests;
