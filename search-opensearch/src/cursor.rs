//! Paging cursors: positions in the default order (last change, then type and id) just
//! after the last match of a page (`a…`) or just before its first (`b…`), for
//! `search_after` in either direction.

use hearth_interface::id::truncate_for_message;
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use serde_json::{Value, json};

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

/// The sort order of every search, or its reverse.
pub(crate) fn sort(backwards: bool) -> Value {
    let order = if backwards { "desc" } else { "asc" };
    json!([{"lastUpdated": order}, {"type": order}, {"id": order}])
}

/// The position of `entry` in the order.
pub(crate) fn position(entry: &StoredResource) -> Value {
    json!([
        entry.last_updated.0,
        entry.resource_type.as_str(),
        entry.id.as_str()
    ])
}

/// The cursor of a page continuing after `entry`.
pub(crate) fn after(entry: &StoredResource) -> String {
    format!("a{}", encode(entry))
}

/// The cursor of a page ending before `entry`.
pub(crate) fn before(entry: &StoredResource) -> String {
    format!("b{}", encode(entry))
}

fn encode(entry: &StoredResource) -> String {
    format!(
        "{}:{}:{}",
        entry.last_updated.0, entry.resource_type, entry.id
    )
}

/// The bound a cursor names; no cursor starts at the first match.
///
/// # Errors
/// `Invalid` for a cursor this engine did not make.
pub(crate) fn parse(cursor: Option<&str>) -> Result<Bound> {
    let Some(cursor) = cursor else {
        return Ok(Bound::Start);
    };
    let decode = |rest: &str| {
        let parts = rest.splitn(3, ':').collect::<Vec<_>>();
        let [ts, ty, id] = parts.as_slice() else {
            return None;
        };
        let ts = ts.parse::<i64>().ok()?;
        let ty = ResourceType::parse(ty)?;
        let id = ResourceId::parse(id).ok()?;
        Some(json!([ts, ty.as_str(), id.as_str()]))
    };
    let bound = match cursor.split_at_checked(1) {
        Some(("a", rest)) => decode(rest).map(Bound::After),
        Some(("b", rest)) => decode(rest).map(Bound::Before),
        _ => None,
    };
    bound.ok_or_else(|| {
        Error::invalid(format!(
            "invalid paging cursor '{}'",
            truncate_for_message(cursor)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            parse(Some("a17:Patient:a-1")).expect("cursor"),
            Bound::After(json!([17, "Patient", "a-1"]))
        );
        assert_eq!(
            parse(Some("b17:Patient:a-1")).expect("cursor"),
            Bound::Before(json!([17, "Patient", "a-1"]))
        );
        assert_eq!(parse(None).expect("start"), Bound::Start);
        for bad in [
            "garbage",
            "17:Patient:a",
            "a1:Nope:a",
            "ax:Patient:a",
            "a1:Patient:a/b",
            "b1:Patient",
            "é",
        ] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
