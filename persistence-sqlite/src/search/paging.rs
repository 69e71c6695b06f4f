//! Paging: cursors as positions in the result order, and pages read forwards (`next`) or
//! backwards (`previous`) from them.
//!
//! A cursor names one row's position in the order and a direction: the page after it or
//! the page before it. Since a position is made of the row's order values (never an
//! offset), a cursor keeps its meaning while resources are written: rows added or removed
//! elsewhere in the order do not shift the pages after or before it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

/// A row's position in the result order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Key {
    /// The default order: by plan, then by the time of the current version.
    Time { plan: usize, ts: i64 },
    /// A `_sort` order: the row's sort values, then its type and id.
    Sorted {
        values: Vec<SqlValue>,
        resource_type: String,
        id: String,
    },
}

/// Where a read starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Bound {
    /// At the first row.
    Start,
    /// Just after this row, reading forwards.
    After(Key),
    /// Just before this row, reading backwards (nearest row first).
    Before(Key),
}

impl Bound {
    /// Parses a cursor made by [`Bound::to_cursor`]; `sort_keys` is the number of `_sort`
    /// keys the query has, which a sorted cursor must match.
    pub(super) fn parse(cursor: Option<&str>, sort_keys: usize) -> Result<Self> {
        let Some(text) = cursor else {
            return Ok(Bound::Start);
        };
        let invalid = || {
            Error::invalid(format!(
                "invalid paging cursor '{}'",
                truncate_for_message(text)
            ))
        };
        let (forward, rest) = match text.split_at_checked(1) {
            Some(("n", rest)) => (true, rest),
            Some(("p", rest)) => (false, rest),
            _ => return Err(invalid()),
        };
        let key = if sort_keys == 0 {
            parse_time_key(rest)
        } else {
            parse_sorted_key(rest, sort_keys)
        }
        .ok_or_else(invalid)?;
        Ok(if forward {
            Bound::After(key)
        } else {
            Bound::Before(key)
        })
    }

    /// The opaque cursor text of this bound; `Start` has none.
    pub(super) fn to_cursor(&self) -> Option<String> {
        let (direction, key) = match self {
            Bound::Start => return None,
            Bound::After(key) => ('n', key),
            Bound::Before(key) => ('p', key),
        };
        let key = match key {
            Key::Time { plan, ts } => format!("{plan}:{ts}"),
            Key::Sorted {
                values,
                resource_type,
                id,
            } => {
                let mut items: Vec<serde_json::Value> = values.iter().map(sql_to_json).collect();
                items.push(resource_type.clone().into());
                items.push(id.clone().into());
                URL_SAFE_NO_PAD.encode(serde_json::Value::Array(items).to_string())
            }
        };
        Some(format!("{direction}{key}"))
    }
}

fn parse_time_key(text: &str) -> Option<Key> {
    let (plan, ts) = text.split_once(':')?;
    let ts = ts.parse::<i64>().ok().filter(|ts| *ts >= 0)?;
    Some(Key::Time {
        plan: plan.parse().ok()?,
        ts,
    })
}

fn parse_sorted_key(text: &str, sort_keys: usize) -> Option<Key> {
    let json = URL_SAFE_NO_PAD.decode(text).ok()?;
    let serde_json::Value::Array(mut items) = serde_json::from_slice(&json).ok()? else {
        return None;
    };
    if items.len() != sort_keys + 2 {
        return None;
    }
    let id = items.pop()?.as_str()?.to_owned();
    let resource_type = items.pop()?.as_str()?.to_owned();
    let values = items.iter().map(json_to_sql).collect::<Option<_>>()?;
    Some(Key::Sorted {
        values,
        resource_type,
        id,
    })
}

fn sql_to_json(value: &SqlValue) -> serde_json::Value {
    match value {
        SqlValue::Integer(i) => (*i).into(),
        SqlValue::Real(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        SqlValue::Text(s) => s.clone().into(),
        SqlValue::Null | SqlValue::Blob(_) => serde_json::Value::Null,
    }
}

fn json_to_sql(value: &serde_json::Value) -> Option<SqlValue> {
    Some(match value {
        serde_json::Value::Null => SqlValue::Null,
        serde_json::Value::String(s) => SqlValue::Text(s.clone()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64()?),
        },
        _ => return None,
    })
}

/// Rows in a result order, read from a bound.
pub(super) trait Source {
    /// Up to `limit` rows from `bound` with their positions: in order from `Start` or
    /// `After`, in reverse order (nearest first) from `Before`.
    fn fetch(
        &self,
        conn: &Connection,
        bound: &Bound,
        limit: usize,
    ) -> Result<Vec<(StoredResource, Key)>>;
}

/// One page of `count` rows of `source` from `bound`, with cursors for the pages before
/// and after it.
///
/// A previous page that would hold fewer than `count` rows (the start is near, or rows
/// were removed) is the first page instead, so that `previous` never shows a short page.
pub(super) fn read_page(
    source: &dyn Source,
    conn: &Connection,
    bound: Bound,
    count: usize,
) -> Result<SearchPage> {
    if count == 0 {
        return Ok(SearchPage::default());
    }
    if let Bound::Before(_) = bound {
        let mut rows = source.fetch(conn, &bound, count.saturating_add(1))?;
        if rows.len() > count {
            rows.truncate(count);
            rows.reverse();
            return finish(source, conn, rows, true, None);
        }
        return read_page(source, conn, Bound::Start, count);
    }
    let mut rows = source.fetch(conn, &bound, count.saturating_add(1))?;
    let has_more = rows.len() > count;
    rows.truncate(count);
    let maybe_before = bound != Bound::Start;
    finish(source, conn, rows, maybe_before, Some(has_more))
}

/// The page of `rows`, with a previous cursor when `maybe_before` and a row precedes
/// them, and a next cursor when a row follows (`has_more`, or checked when unknown).
fn finish(
    source: &dyn Source,
    conn: &Connection,
    rows: Vec<(StoredResource, Key)>,
    maybe_before: bool,
    has_more: Option<bool>,
) -> Result<SearchPage> {
    let previous_cursor = match rows.first() {
        Some((_, first)) if maybe_before => {
            let before = Bound::Before(first.clone());
            let exists = !source.fetch(conn, &before, 1)?.is_empty();
            exists.then(|| before.to_cursor()).flatten()
        }
        _ => None,
    };
    let next_cursor = match rows.last() {
        Some((_, last)) => {
            let after = Bound::After(last.clone());
            let exists = match has_more {
                Some(known) => known,
                None => !source.fetch(conn, &after, 1)?.is_empty(),
            };
            exists.then(|| after.to_cursor()).flatten()
        }
        None => None,
    };
    Ok(SearchPage {
        matches: rows.into_iter().map(|(row, _)| row).collect(),
        next_cursor,
        previous_cursor,
        total: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let bounds = [
            Bound::After(Key::Time { plan: 2, ts: 17 }),
            Bound::Before(Key::Time { plan: 0, ts: 5 }),
            Bound::After(Key::Sorted {
                values: vec![
                    SqlValue::Null,
                    SqlValue::Integer(-3),
                    SqlValue::Real(1.5),
                    SqlValue::Text("müller,x".into()),
                ],
                resource_type: "Patient".into(),
                id: "p1".into(),
            }),
        ];
        for bound in bounds {
            let keys = match &bound {
                Bound::After(Key::Sorted { values, .. }) => values.len(),
                _ => 0,
            };
            let cursor = bound.to_cursor().expect("cursor");
            assert_eq!(Bound::parse(Some(&cursor), keys).expect("parse"), bound);
        }
        assert_eq!(Bound::parse(None, 0).expect("start"), Bound::Start);
    }

    #[test]
    fn bad_cursors_are_invalid() {
        let sorted = Bound::After(Key::Sorted {
            values: vec![SqlValue::Integer(1)],
            resource_type: "Patient".into(),
            id: "p1".into(),
        })
        .to_cursor()
        .expect("cursor");
        for (cursor, keys) in [
            ("", 0),
            ("x0:1", 0),
            ("n0:-1", 0),
            ("n0", 0),
            ("nZZZ", 1),
            ("é", 0),
            (sorted.as_str(), 2),
            (sorted.as_str(), 0),
        ] {
            let err = Bound::parse(Some(cursor), keys).expect_err(cursor);
            assert_eq!(err.kind(), hearth_interface::IssueKind::Invalid, "{cursor}");
        }
    }
}
