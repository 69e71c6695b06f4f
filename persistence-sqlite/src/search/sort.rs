//! `_sort`: the sort values of each match as SQL over its index rows, and the keyset
//! reads of the sorted order (see [`SortKey`] for the semantics).
//!
//! All plans are read in one query (a `UNION ALL` of their matches), ordered by the sort
//! values with missing values last, then by type and id. Cursors hold the last row's sort
//! values, so a page continues after a position in the order, never at an offset.

use hearth_interface::search::SortKey;

use super::paging::{Bound, Key, Source};
use super::*;
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry};

/// How one sort key reads a resource's sort value.
#[derive(Debug, Clone)]
enum SortValue {
    /// A column of the candidate row (`v.id`, `c.ts`).
    Column(&'static str),
    /// The lowest (ascending) or highest (descending) value among the parameter's index
    /// rows: `MIN`/`MAX` of `ascending`/`descending` over `table` rows of `pid`.
    Indexed {
        table: String,
        pid: i64,
        ascending: &'static str,
        descending: &'static str,
        def: &'static SearchParamDef,
    },
}

/// One resolved sort key.
#[derive(Debug, Clone)]
struct Resolved {
    value: SortValue,
    descending: bool,
}

impl Resolved {
    fn sql(&self) -> String {
        match &self.value {
            SortValue::Column(column) => (*column).to_owned(),
            SortValue::Indexed {
                table,
                pid,
                ascending,
                descending,
                ..
            } => {
                let (aggregate, expr) = if self.descending {
                    ("MAX", descending)
                } else {
                    ("MIN", ascending)
                };
                format!(
                    "(SELECT {aggregate}({expr}) FROM {table} x WHERE x.ts = c.ts AND +x.pid = {pid})"
                )
            }
        }
    }
}

/// Resolves `key` on `resource_type`.
///
/// # Errors
/// `Invalid` at `_sort` for unknown parameters and those that cannot be sorted on.
fn resolve(resource_type: ResourceType, key: &SortKey) -> Result<Resolved> {
    let name = key.param.as_str();
    let value = match name {
        "_id" => SortValue::Column("v.id"),
        "_lastUpdated" => SortValue::Column("c.ts"),
        _ => {
            let def = SearchParamRegistry::r4()
                .get(resource_type.as_str(), name)
                .ok_or_else(|| {
                    invalid_at(
                        "_sort",
                        format!(
                            "unknown sort parameter '{}' for {resource_type}",
                            truncate_for_message(name)
                        ),
                    )
                })?;
            let (ascending, descending) = match def.kind {
                SearchParamType::String => ("x.norm", "x.norm"),
                SearchParamType::Token => ("x.code", "x.code"),
                SearchParamType::Reference => (REFERENCE_TEXT, REFERENCE_TEXT),
                SearchParamType::Date => ("x.start", "x.end"),
                SearchParamType::Number | SearchParamType::Quantity => ("x.lo", "x.hi"),
                SearchParamType::Uri => ("x.uri", "x.uri"),
                SearchParamType::Composite | SearchParamType::Special => {
                    return Err(invalid_at(
                        "_sort",
                        format!(
                            "cannot sort on '{name}': it is a {} parameter",
                            def.kind.as_str()
                        ),
                    ));
                }
            };
            if def.expression.is_none() {
                return Err(invalid_at(
                    "_sort",
                    format!("cannot sort on '{name}': it has no indexed values"),
                ));
            }
            SortValue::Indexed {
                table: narrowed_source(def, resource_type.as_str())
                    .unwrap_or_else(|| table_for(def.kind).to_owned()),
                pid: crate::indexing::param_id(resource_type.as_str(), &def.code),
                ascending,
                descending,
                def,
            }
        }
    };
    Ok(Resolved {
        value,
        descending: key.descending,
    })
}

/// The text of a reference row: plain `Type/id` references are stored without it.
const REFERENCE_TEXT: &str = "COALESCE(x.reference, x.target_type || '/' || x.target_id)";

/// The plans' matches in a `_sort` order.
#[derive(Debug)]
pub(super) struct Sorted<'a> {
    plans: &'a [Plan],
    /// Per plan, its resolved keys.
    keys: Vec<Vec<Resolved>>,
    descending: Vec<bool>,
}

impl<'a> Sorted<'a> {
    /// Resolves `sort` on every plan's type.
    ///
    /// # Errors
    /// `Invalid` at `_sort` when a key cannot sort one of the types.
    pub(super) fn new(plans: &'a [Plan], sort: &[SortKey]) -> Result<Self> {
        let keys = plans
            .iter()
            .map(|plan| {
                sort.iter()
                    .map(|key| resolve(plan.resource_type, key))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            plans,
            keys,
            descending: sort.iter().map(|k| k.descending).collect(),
        })
    }

    /// `ORDER BY` terms for the order, or its reverse.
    fn order_sql(&self, reverse: bool) -> String {
        let (first, last) = if reverse {
            ("DESC", "ASC")
        } else {
            ("ASC", "DESC")
        };
        let mut terms = Vec::new();
        for (i, descending) in self.descending.iter().enumerate() {
            // Missing values last: `k IS NULL` is 0 before 1.
            terms.push(format!("k{i} IS NULL {first}"));
            terms.push(format!("k{i} {}", if *descending { last } else { first }));
        }
        terms.push(format!("r_type {first}"));
        terms.push(format!("r_id {first}"));
        terms.join(", ")
    }

    /// The rows strictly after (`forward`) or before `key` in the order.
    fn position_sql(&self, key: &Key, forward: bool, b: &mut Binder) -> Option<String> {
        let Key::Sorted {
            values,
            resource_type,
            id,
        } = key
        else {
            return None;
        };
        let mut alternatives = Vec::new();
        let mut equal: Vec<String> = Vec::new();
        for (i, (value, descending)) in values.iter().zip(&self.descending).enumerate() {
            let column = format!("k{i}");
            let beyond = if *value == SqlValue::Null {
                // Missing values come last: only other missing values follow, none precede.
                (!forward).then(|| format!("{column} IS NOT NULL"))
            } else {
                let v = b.bind(value.clone());
                let greater = forward != *descending;
                let op = if greater { ">" } else { "<" };
                Some(if forward {
                    format!("({column} {op} {v} OR {column} IS NULL)")
                } else {
                    format!("{column} {op} {v}")
                })
            };
            if let Some(beyond) = beyond {
                alternatives.push(conjunction(&equal, &beyond));
            }
            let v = b.bind(value.clone());
            equal.push(format!("{column} IS {v}"));
        }
        let op = if forward { ">" } else { "<" };
        let (t, i) = (b.text(resource_type), b.text(id));
        alternatives.push(conjunction(&equal, &format!("r_type {op} {t}")));
        alternatives.push(conjunction(
            &equal,
            &format!("r_type = {t} AND r_id {op} {i}"),
        ));
        Some(alternatives.join(" OR "))
    }
}

/// `equal` AND `last`, parenthesized.
fn conjunction(equal: &[String], last: &str) -> String {
    let mut parts = equal.to_vec();
    parts.push(last.to_owned());
    format!("({})", parts.join(" AND "))
}

impl Sorted<'_> {
    /// The rows after `bound` read by walking the sort key's value index in order (or the
    /// current versions in time order for `_lastUpdated`), checking the filters on each
    /// candidate and stopping after `limit`: for one type, one key whose values an index
    /// keeps in order, and criteria that match many resources or none (a narrow driver
    /// finds its few matches faster, then sorts them). `None` when that does not apply.
    fn walk(&self, conn: &Connection, bound: &Bound, limit: usize) -> Result<Option<Rows>> {
        let ([plan], [keys]) = (self.plans, self.keys.as_slice()) else {
            return Ok(None);
        };
        let ([key], false) = (keys.as_slice(), matches!(bound, Bound::Before(_))) else {
            return Ok(None);
        };
        if !plan.any_of.is_empty() || (plan.driver().is_some() && !plan.driver_is_broad(conn)?) {
            return Ok(None);
        }
        let after = match bound {
            Bound::After(Key::Sorted { values, id, .. }) => match values.as_slice() {
                [value] => Some((value, id.as_str())),
                _ => return Ok(None),
            },
            _ => None,
        };
        match &key.value {
            SortValue::Column("c.ts") => walk_time(plan, conn, key.descending, after, limit),
            SortValue::Indexed {
                table,
                pid,
                ascending,
                descending,
                def,
            } => {
                let column = if key.descending {
                    descending
                } else {
                    ascending
                };
                // Only plain columns have an index in that order (descending quantities
                // end at `hi`, which only ranges are indexed on).
                let ordered = match def.kind {
                    SearchParamType::Number | SearchParamType::Quantity => !key.descending,
                    SearchParamType::Reference => false,
                    _ => true,
                };
                if !ordered {
                    return Ok(None);
                }
                let walk = IndexWalk {
                    plan,
                    table,
                    pid: *pid,
                    column,
                    descending: key.descending,
                    single_valued: crate::indexing::is_single_valued(
                        conn,
                        plan.resource_type.as_str(),
                        def,
                    )?,
                };
                walk.rows(conn, after, limit).map(Some)
            }
            SortValue::Column(_) => Ok(None),
        }
    }
}

/// Rows with their positions in a `_sort` order.
type Rows = Vec<(StoredResource, Key)>;

/// The matches of `plan` in time order (`_lastUpdated`), after the version at `after`.
fn walk_time(
    plan: &Plan,
    conn: &Connection,
    descending: bool,
    after: Option<(&SqlValue, &str)>,
    limit: usize,
) -> Result<Option<Rows>> {
    let mut b = Binder::default();
    let mut sql = format!(
        "SELECT v.ts, v.type, v.id, v.version, v.change, v.body, c.ts \
         FROM current c CROSS JOIN versions v WHERE v.ts = c.ts AND {}",
        plan.where_sql(&mut b, false)
    );
    let (op, order) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((value, _)) = after {
        let value = b.bind(value.clone());
        sql.push_str(&format!(" AND c.ts {op} {value}"));
    }
    let limit = b.limit(limit);
    sql.push_str(&format!(" ORDER BY c.ts {order} LIMIT {limit}"));
    query_rows(conn, &sql, &b).map(Some)
}

/// A walk of one sort parameter's value index in the sort order.
struct IndexWalk<'a> {
    plan: &'a Plan,
    table: &'a str,
    pid: i64,
    /// The sorted column of an index row `x` (its lowest value ascending, highest
    /// descending, is the resource's sort value).
    column: &'static str,
    descending: bool,
    /// No version has several rows of the parameter: every row is its version's best.
    single_valued: bool,
}

impl IndexWalk<'_> {
    /// Up to `limit` rows after `after`: those with a value in order, then (as the order
    /// puts them last) those without, by id.
    fn rows(
        &self,
        conn: &Connection,
        after: Option<(&SqlValue, &str)>,
        limit: usize,
    ) -> Result<Rows> {
        let mut rows = match after {
            Some((SqlValue::Null, _)) => Vec::new(),
            _ => self.with_values(conn, after, limit)?,
        };
        if rows.len() < limit {
            let from = after
                .filter(|(value, _)| **value == SqlValue::Null)
                .map(|(_, id)| id);
            rows.extend(self.without_values(conn, from, limit - rows.len())?);
        }
        Ok(rows)
    }

    fn with_values(
        &self,
        conn: &Connection,
        after: Option<(&SqlValue, &str)>,
        limit: usize,
    ) -> Result<Rows> {
        let mut b = Binder::default();
        let (table, column) = (self.table, self.column);
        let pid = b.int(self.pid);
        let (better, order) = if self.descending {
            (">", "DESC")
        } else {
            ("<", "ASC")
        };
        let mut sql = format!(
            "SELECT v.ts, v.type, v.id, v.version, v.change, v.body, {column} \
             FROM {table} x CROSS JOIN current c CROSS JOIN versions v \
             WHERE x.pid = {pid} AND {column} IS NOT NULL AND c.ts = x.ts AND v.ts = c.ts AND {}",
            self.plan.where_sql(&mut b, false)
        );
        if !self.single_valued {
            let other = column.replacen("x.", "y.", 1);
            sql.push_str(&format!(
                " AND NOT EXISTS (SELECT 1 FROM {table} y WHERE y.ts = x.ts AND +y.pid = {pid} \
                 AND ({other} {better} {column} OR ({other} = {column} AND y.seq < x.seq)))"
            ));
        }
        if let Some((value, id)) = after {
            let (value, id) = (b.bind(value.clone()), b.text(id));
            let beyond = if self.descending { "<" } else { ">" };
            sql.push_str(&format!(
                " AND ({column} {beyond} {value} OR ({column} = {value} AND v.id > {id}))"
            ));
        }
        let limit = b.limit(limit);
        sql.push_str(&format!(" ORDER BY {column} {order}, v.id LIMIT {limit}"));
        query_rows(conn, &sql, &b)
    }

    fn without_values(
        &self,
        conn: &Connection,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Rows> {
        let mut b = Binder::default();
        let (table, column) = (self.table, self.column);
        let pid = b.int(self.pid);
        let mut sql = format!(
            "SELECT v.ts, v.type, v.id, v.version, v.change, v.body, NULL \
             FROM current c CROSS JOIN versions v WHERE v.ts = c.ts AND {} \
             AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.ts = c.ts AND +x.pid = {pid} \
             AND {column} IS NOT NULL)",
            self.plan.where_sql(&mut b, false)
        );
        if let Some(id) = after_id {
            let id = b.text(id);
            sql.push_str(&format!(" AND v.id > {id}"));
        }
        let limit = b.limit(limit);
        sql.push_str(&format!(" ORDER BY v.id LIMIT {limit}"));
        query_rows(conn, &sql, &b)
    }
}

/// Runs a query selecting a version's columns and one sort value, as rows with positions.
fn query_rows(conn: &Connection, sql: &str, b: &Binder) -> Result<Rows> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    stmt.query_map(params_from_iter(&b.args), |row| {
        let stored = row_to_stored(row)?;
        let key = Key::Sorted {
            values: vec![row.get::<_, SqlValue>(6)?],
            resource_type: stored.resource_type.as_str().to_owned(),
            id: stored.id.as_str().to_owned(),
        };
        Ok((stored, key))
    })
    .and_then(|rows| rows.collect())
    .map_err(db_error)
}

impl Source for Sorted<'_> {
    fn fetch(
        &self,
        conn: &Connection,
        bound: &Bound,
        limit: usize,
    ) -> Result<Vec<(StoredResource, Key)>> {
        if let Some(rows) = self.walk(conn, bound, limit)? {
            return Ok(rows);
        }
        let mut b = Binder::default();
        let selects: Vec<String> = self
            .plans
            .iter()
            .zip(&self.keys)
            .map(|(plan, keys)| {
                let columns: Vec<String> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!(", {} AS k{i}", k.sql()))
                    .collect();
                format!(
                    "SELECT v.ts AS r_ts, v.type AS r_type, v.id AS r_id, v.version AS r_version, \
                     v.change AS r_change, v.body AS r_body{} \
                     FROM current c JOIN versions v ON v.ts = c.ts WHERE {}",
                    columns.concat(),
                    plan.where_sql(&mut b, true)
                )
            })
            .collect();
        let (position, reverse) = match bound {
            Bound::Start => (None, false),
            Bound::After(key) => (self.position_sql(key, true, &mut b), false),
            Bound::Before(key) => (self.position_sql(key, false, &mut b), true),
        };
        let limit = b.limit(limit);
        let sql = format!(
            "SELECT * FROM ({}) WHERE {} ORDER BY {} LIMIT {limit}",
            selects.join(" UNION ALL "),
            position.unwrap_or_else(|| "1".to_owned()),
            self.order_sql(reverse)
        );
        let keys = self.descending.len();
        let mut stmt = conn.prepare(&sql).map_err(db_error)?;
        stmt.query_map(params_from_iter(&b.args), |row| {
            let stored = row_to_stored(row)?;
            let values = (0..keys)
                .map(|i| row.get::<_, SqlValue>(6 + i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let key = Key::Sorted {
                values,
                resource_type: stored.resource_type.as_str().to_owned(),
                id: stored.id.as_str().to_owned(),
            };
            Ok((stored, key))
        })
        .and_then(|rows| rows.collect())
        .map_err(db_error)
    }
}
