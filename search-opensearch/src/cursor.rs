//! Paging cursors: the sort position of the last match returned, for `search_after`.

use hearth_interface::id::truncate_for_message;
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use serde_json::{Value, json};

/// The sort order of every search: last change, then type and id (both unique together).
pub(crate) fn sort() -> Value {
    json!([{"lastUpdated": "asc"}, {"type": "asc"}, {"id": "asc"}])
}

/// The cursor continuing after `entry`: `{lastUpdated}:{type}:{id}`.
pub(crate) fn after(entry: &StoredResource) -> String {
    format!(
        "{}:{}:{}",
        entry.last_updated.0, entry.resource_type, entry.id
    )
}

/// The `search_after` values of a cursor.
///
/// # Errors
/// `Invalid` for a cursor this engine did not make.
pub(crate) fn search_after(cursor: &str) -> Result<Value> {
    let parsed = cursor.splitn(3, ':').collect::<Vec<_>>();
    let position = match parsed.as_slice() {
        [ts, ty, id] => ts.parse::<i64>().ok().and_then(|ts| {
            let ty = ResourceType::parse(ty)?;
            let id = ResourceId::parse(id).ok()?;
            Some(json!([ts, ty.as_str(), id.as_str()]))
        }),
        _ => None,
    };
    position.ok_or_else(|| {
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
            search_after("17:Patient:a-1").expect("cursor"),
            json!([17, "Patient", "a-1"])
        );
        for bad in [
            "garbage",
            "1:Nope:a",
            "x:Patient:a",
            "1:Patient:a/b",
            "1:Patient",
        ] {
            assert!(search_after(bad).is_err(), "{bad}");
        }
    }
}
