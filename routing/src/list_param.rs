//! `_list=List/id` (or `_list=id`): the resources a List holds (search.html#list), resolved
//! at router level into an `_id` criterion, so every search engine supports it.
//!
//! A List's members are its entries' `item` references of the searched type; entries
//! marked `deleted` are not members. Several values are ORed (members of any of the
//! lists), repeated `_list` parameters ANDed. A List that does not exist has no members.
//! The functional lists (`$current-allergies`, …) are not supported.

use std::collections::BTreeSet;

use hearth_interface::id::truncate_for_message;
use hearth_interface::search::{Criterion, MAX_OR_VALUES, SearchScope};
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use serde_json::Value;

use crate::AppState;
use crate::include::parsed_body;

/// The parameter name.
pub const LIST: &str = "_list";

/// Turns a `_list` criterion into `_id=<members of the searched type>`; `None` when the
/// lists have no such member (the search matches nothing).
///
/// # Errors
/// `Invalid` at `_list` for modifiers, bad or functional list ids, searches over several
/// types and lists with more than [`MAX_OR_VALUES`] members of the type.
pub async fn resolve(
    state: &AppState,
    scope: &SearchScope,
    criterion: &Criterion,
) -> Result<Option<Criterion>> {
    let invalid = |message: String| Error::invalid(message).at(LIST);
    if criterion.modifier.is_some() {
        return Err(invalid("_list takes no modifier".into()));
    }
    let ty = match scope {
        SearchScope::Type(t)
        | SearchScope::Compartment {
            target: Some(t), ..
        } => *t,
        SearchScope::System(types) if types.len() == 1 => types[0],
        _ => {
            return Err(invalid(
                "_list needs a single resource type to search".into(),
            ));
        }
    };
    let list_type = ResourceType::parse("List")
        .ok_or_else(|| Error::invalid("the List resource type is unknown"))?;
    let mut members = BTreeSet::new();
    for value in &criterion.values {
        let raw = value.strip_prefix("List/").unwrap_or(value);
        if raw.starts_with('$') {
            return Err(invalid(format!(
                "functional list '{}' is not supported",
                truncate_for_message(raw)
            )));
        }
        let id = ResourceId::parse(raw).map_err(|_| {
            invalid(format!(
                "_list must be a List id or List/id, not '{}'",
                truncate_for_message(value)
            ))
        })?;
        let Some(list) = state.store.read(list_type, &id).await? else {
            continue;
        };
        if let Some(body) = parsed_body(&list) {
            members.extend(member_ids(&body, ty));
        }
    }
    if members.is_empty() {
        return Ok(None);
    }
    if members.len() > MAX_OR_VALUES {
        return Err(invalid(format!(
            "the lists hold more than {MAX_OR_VALUES} {ty} resources: narrow the search"
        )));
    }
    Ok(Some(Criterion {
        name: "_id".into(),
        modifier: None,
        values: members.into_iter().collect(),
    }))
}

/// The ids of the `ty` resources `list` holds (`entry.item`, not `deleted`).
fn member_ids(list: &Value, ty: ResourceType) -> impl Iterator<Item = String> {
    list["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["deleted"] != Value::Bool(true))
        .filter_map(move |entry| {
            let reference = entry["item"]["reference"].as_str()?;
            let path = reference.split("/_history/").next()?;
            let mut segments = path.rsplit('/');
            let id = segments.next()?;
            (segments.next()? == ty.as_str() && ResourceId::parse(id).is_ok())
                .then(|| id.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_live_items_of_the_type() {
        let list = json!({"resourceType": "List", "entry": [
            {"item": {"reference": "Patient/a"}},
            {"item": {"reference": "http://x/fhir/Patient/b/_history/2"}},
            {"item": {"reference": "Patient/c"}, "deleted": true},
            {"item": {"reference": "Observation/d"}},
            {"item": {"display": "no reference"}},
            {"item": {"reference": "Patient/bad id"}}
        ]});
        let patient = ResourceType::parse("Patient").expect("type");
        let ids: Vec<String> = member_ids(&list, patient).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(member_ids(&json!({}), patient).count(), 0);
    }
}
