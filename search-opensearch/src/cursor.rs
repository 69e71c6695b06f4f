//! Paging cursors: a position in the result order just after the last match of a page
//! (next) or just before its first (previous), for `search_after` in either direction.
//!
//! A position is the `sort` values OpenSearch gives a hit. In the default order (last
//! change, type, id) a cursor spells them `a{ts}:{type}:{id}` (next) or `b…` (previous);
//! in a `_sort` order, `sa` or `sb` and the values as base64url JSON (they may be
//! keywords, numbers, `null` for a missing keyword, or the `Infinity` strings of a
//! missing number).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_interface::id::truncate_for_message;
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use serde_json::{Value, json};

use crate::sort::{Order, ValueKind};

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bound {
    /// At the first match.
    Start,
    /// Just after this position (`search_after` values), reading forwards.
    After(Value),
    /// Just before this position, reading backwards.
    Before(Value),
}

/// The cursor of the page after (`next`) or before `position` in `order`.
pub(crate) fn encode(order: &Order, next: bool, position: &Value) -> String {
    match order {
        Order::Default => {
            let part = |i: usize| match &position[i] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let direction = if next { 'a' } else { 'b' };
            format!("{direction}{}:{}:{}", part(0), part(1), part(2))
        }
        Order::Sorted(_) => {
            let direction = if next { "sa" } else { "sb" };
            format!(
                "{direction}{}",
                URL_SAFE_NO_PAD.encode(position.to_string())
            )
        }
    }
}

/// The bound a cursor names in `order`; no cursor starts at the first match.
///
/// # Errors
/// `Invalid` for a cursor this engine did not make for this order.
pub(crate) fn parse(order: &Order, cursor: Option<&str>) -> Result<Bound> {
    let Some(cursor) = cursor else {
        return Ok(Bound::Start);
    };
    let bound = match order {
        Order::Default => match cursor.split_at_checked(1) {
            Some(("a", rest)) => decode_default(rest).map(Bound::After),
            Some(("b", rest)) => decode_default(rest).map(Bound::Before),
            _ => None,
        },
        Order::Sorted(fields) => {
            let kinds: Vec<ValueKind> = fields.iter().map(|f| f.kind).collect();
            match cursor.split_at_checked(2) {
                Some(("sa", rest)) => decode_sorted(rest, &kinds).map(Bound::After),
                Some(("sb", rest)) => decode_sorted(rest, &kinds).map(Bound::Before),
                _ => None,
            }
        }
    };
    bound.ok_or_else(|| {
        Error::invalid(format!(
            "invalid paging cursor '{}'",
            truncate_for_message(cursor)
        ))
    })
}

fn decode_default(rest: &str) -> Option<Value> {
    let parts = rest.splitn(3, ':').collect::<Vec<_>>();
    let [ts, ty, id] = parts.as_slice() else {
        return None;
    };
    let ts = ts.parse::<i64>().ok()?;
    let (ty, id) = type_and_id(ty, id)?;
    Some(json!([ts, ty, id]))
}

/// The sort values of a sorted cursor: one per key, of the key's kind, then type and id.
fn decode_sorted(rest: &str, kinds: &[ValueKind]) -> Option<Value> {
    let text = URL_SAFE_NO_PAD.decode(rest).ok()?;
    let Value::Array(items) = serde_json::from_slice(&text).ok()? else {
        return None;
    };
    let (values, tie) = items.split_at_checked(kinds.len())?;
    let [Value::String(ty), Value::String(id)] = tie else {
        return None;
    };
    type_and_id(ty, id)?;
    let valid = values
        .iter()
        .zip(kinds)
        .all(|(value, kind)| kind.accepts(value));
    valid.then_some(Value::Array(items))
}

fn type_and_id(ty: &str, id: &str) -> Option<(&'static str, String)> {
    let ty = ResourceType::parse(ty)?;
    let id = ResourceId::parse(id).ok()?;
    Some((ty.as_str(), id.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::SortField;

    #[test]
    fn default_cursors_round_trip_and_reject_garbage() {
        let order = Order::Default;
        let position = json!([17, "Patient", "a-1"]);
        assert_eq!(encode(&order, true, &position), "a17:Patient:a-1");
        assert_eq!(
            parse(&order, Some("a17:Patient:a-1")).expect("cursor"),
            Bound::After(position.clone())
        );
        assert_eq!(
            parse(&order, Some("b17:Patient:a-1")).expect("cursor"),
            Bound::Before(position)
        );
        assert_eq!(parse(&order, None).expect("start"), Bound::Start);
        for bad in [
            "garbage",
            "17:Patient:a",
            "a1:Nope:a",
            "ax:Patient:a",
            "a1:Patient:a/b",
            "b1:Patient",
            "é",
        ] {
            assert!(parse(&order, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sorted_cursors_hold_values_of_each_key_kind() {
        let field = |kind| SortField {
            field: "s.x.a".into(),
            descending: false,
            kind,
        };
        let order = Order::Sorted(vec![
            field(ValueKind::Keyword),
            field(ValueKind::Long),
            field(ValueKind::Double),
        ]);
        for position in [
            json!(["muller", 12, 2.5, "Patient", "p1"]),
            json!([null, i64::MAX, "Infinity", "Patient", "p1"]),
            json!(["", i64::MIN, "-Infinity", "Observation", "o1"]),
        ] {
            let cursor = encode(&order, false, &position);
            assert_eq!(
                parse(&order, Some(&cursor)).expect("cursor"),
                Bound::Before(position)
            );
        }
        for bad in [
            json!(["a", 1, 2.5, "Patient"]),
            json!([1, 1, 2.5, "Patient", "p1"]),
            json!(["a", 1.5, 2.5, "Patient", "p1"]),
            json!(["a", null, 2.5, "Patient", "p1"]),
            json!(["a", 1, "x", "Patient", "p1"]),
            json!(["a", 1, 2.5, "Nope", "p1"]),
            json!(["a", 1, 2.5, "Patient", "p/1"]),
        ] {
            let cursor = format!("sa{}", URL_SAFE_NO_PAD.encode(bad.to_string()));
            assert!(parse(&order, Some(&cursor)).is_err(), "{bad}");
        }
        assert!(parse(&order, Some("a17:Patient:a-1")).is_err());
        assert!(parse(&order, Some("sa!!")).is_err());
        assert!(parse(&Order::Default, Some("saW10")).is_err());
    }
}
