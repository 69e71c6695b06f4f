//! The top-level elements of each resource type, from the R4 StructureDefinitions: which
//! are in the summary (`_summary=true`) and which are mandatory (kept by `_elements`).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const ELEMENTS_JSON: &str = include_str!("../data/resource-elements.json");

/// One top-level element of a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopElement {
    /// The element name; choice elements drop `[x]` (`value` for `value[x]`).
    pub name: String,
    /// Whether the element is a choice (`value[x]`: JSON names `valueQuantity`, ...).
    pub choice: bool,
    /// Whether `_summary=true` keeps it.
    pub summary: bool,
    /// Whether it is mandatory (min >= 1).
    pub mandatory: bool,
}

impl TopElement {
    /// Whether the JSON property `key` holds this element.
    pub fn matches(&self, key: &str) -> bool {
        let key = key.strip_prefix('_').unwrap_or(key);
        if self.choice {
            key.strip_prefix(self.name.as_str())
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        } else {
            key == self.name
        }
    }
}

#[derive(Deserialize)]
struct ElementDef {
    #[serde(default)]
    min: u32,
    #[serde(default)]
    summary: bool,
}

/// The top-level elements of `resource_type`; empty for unknown types.
pub fn top_level(resource_type: &str) -> &'static [TopElement] {
    static TABLE: OnceLock<HashMap<String, Vec<TopElement>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let raw: HashMap<String, HashMap<String, ElementDef>> =
            serde_json::from_str(ELEMENTS_JSON).unwrap_or_default();
        raw.into_iter()
            .map(|(ty, elements)| {
                let prefix = format!("{ty}.");
                let mut top: Vec<TopElement> = elements
                    .into_iter()
                    .filter_map(|(path, def)| {
                        let name = path.strip_prefix(&prefix)?;
                        if name.contains('.') {
                            return None;
                        }
                        let (name, choice) = match name.strip_suffix("[x]") {
                            Some(n) => (n, true),
                            None => (name, false),
                        };
                        Some(TopElement {
                            name: name.to_owned(),
                            choice,
                            summary: def.summary,
                            mandatory: def.min >= 1,
                        })
                    })
                    .collect();
                top.sort_by(|a, b| a.name.cmp(&b.name));
                (ty, top)
            })
            .collect()
    });
    table.get(resource_type).map_or(&[], Vec::as_slice)
}

/// Whether the element at `path` (element names from the resource root, such as
/// `["name", "given"]` for `Patient.name.given`) repeats, by the R4 JSON schema, where
/// repeating elements are arrays. `None` when the path names no element.
pub fn is_list(resource_type: &str, path: &[&str]) -> Option<bool> {
    let definitions = crate::validate::fhir_schema().get("definitions")?;
    let mut definition = definitions.get(resource_type)?;
    let (last, parents) = path.split_last()?;
    let repeats = |property: &serde_json::Value| {
        property.get("type").and_then(serde_json::Value::as_str) == Some("array")
    };
    for name in parents {
        let property = definition.get("properties")?.get(*name)?;
        let target = if repeats(property) {
            property.get("items")?
        } else {
            property
        };
        let reference = target.get("$ref").and_then(serde_json::Value::as_str)?;
        definition = definitions.get(reference.strip_prefix("#/definitions/")?)?;
    }
    definition.get("properties")?.get(*last).map(repeats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_summary_and_mandatory_elements() {
        let obs = top_level("Observation");
        let find = |n: &str| obs.iter().find(|e| e.name == n).unwrap();
        assert!(find("code").summary && find("code").mandatory);
        assert!(find("value").choice && find("value").matches("valueQuantity"));
        assert!(!find("value").matches("valueset"));
        assert!(!find("note").summary);
        assert!(top_level("NoSuchType").is_empty());
    }

    #[test]
    fn knows_which_elements_repeat() {
        assert_eq!(is_list("Patient", &["telecom"]), Some(true));
        assert_eq!(is_list("Patient", &["gender"]), Some(false));
        assert_eq!(is_list("Patient", &["name", "given"]), Some(true));
        assert_eq!(is_list("Patient", &["name", "family"]), Some(false));
        assert_eq!(is_list("Patient", &["nope"]), None);
    }
}
