//! `_summary` and `_elements`: trimming a resource to what the client asked for.

use hearth_interface::elements::{TopElement, top_level};
use serde_json::{Map, Value, json};

use crate::negotiate::{Presentation, SummaryMode};

const ALWAYS_KEPT: [&str; 3] = ["resourceType", "id", "meta"];

/// Trims `resource` per `_summary`/`_elements`; subsetted resources get the `SUBSETTED`
/// tag in `meta.tag`, as the spec requires.
pub fn apply(resource: Value, presentation: &Presentation) -> Value {
    let Value::Object(fields) = resource else {
        return resource;
    };
    let type_name = fields
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let elements = top_level(&type_name);
    let keep: Box<dyn Fn(&str) -> bool> = if let Some(wanted) = &presentation.elements {
        Box::new(move |key: &str| {
            wanted.iter().any(|w| {
                key.strip_prefix('_').unwrap_or(key) == w
                    || find(elements, key).is_some_and(|e| e.choice && e.name == *w)
            }) || find(elements, key).is_some_and(|e| e.mandatory)
        })
    } else {
        match presentation.summary {
            SummaryMode::False | SummaryMode::Count => return Value::Object(fields),
            SummaryMode::True => {
                Box::new(move |key: &str| find(elements, key).is_some_and(|e| e.summary))
            }
            SummaryMode::Text => Box::new(move |key: &str| {
                key == "text" || find(elements, key).is_some_and(|e| e.mandatory)
            }),
            SummaryMode::Data => Box::new(|key: &str| key != "text"),
        }
    };
    let mut out: Map<String, Value> = fields
        .into_iter()
        .filter(|(k, _)| ALWAYS_KEPT.contains(&k.as_str()) || keep(k))
        .collect();
    mark_subsetted(&mut out);
    Value::Object(out)
}

fn find<'a>(elements: &'a [TopElement], key: &str) -> Option<&'a TopElement> {
    elements.iter().find(|e| e.matches(key))
}

fn mark_subsetted(resource: &mut Map<String, Value>) {
    let meta = resource.entry("meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Some(tags) = tags.as_array_mut() {
            tags.push(json!({
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED",
                "display": "Resource encoded in summary mode"
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(summary: SummaryMode, elements: Option<Vec<&str>>) -> Presentation {
        Presentation {
            summary,
            elements: elements.map(|e| e.into_iter().map(String::from).collect()),
            ..Presentation::default()
        }
    }

    #[test]
    fn summary_true_keeps_summary_elements_only() {
        let obs = json!({"resourceType": "Observation", "id": "1", "status": "final",
            "code": {"text": "x"}, "note": [{"text": "n"}], "valueQuantity": {"value": 1}, "text": {"div": "d"}});
        let out = apply(obs, &present(SummaryMode::True, None));
        assert!(out.get("note").is_none() && out.get("text").is_none());
        assert!(out.get("valueQuantity").is_some() && out.get("status").is_some());
        assert_eq!(out["meta"]["tag"][0]["code"], "SUBSETTED");
    }

    #[test]
    fn elements_keeps_listed_and_mandatory() {
        let obs = json!({"resourceType": "Observation", "id": "1", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/1"}, "valueQuantity": {"value": 1}});
        let out = apply(obs, &present(SummaryMode::False, Some(vec!["value"])));
        assert!(out.get("valueQuantity").is_some() && out.get("status").is_some());
        assert!(out.get("subject").is_none());
    }
}
