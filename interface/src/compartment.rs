//! Compartments (compartmentdefinition.html): which resources belong to a patient's record,
//! from the official R4 Patient CompartmentDefinition.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const PATIENT_COMPARTMENT_JSON: &str = include_str!("../data/compartmentdefinition-patient.json");

#[derive(Deserialize)]
struct Definition {
    resource: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    code: String,
    #[serde(default)]
    param: Vec<String>,
}

/// The compartment types this server has a definition for.
pub fn is_defined(compartment: &str) -> bool {
    compartment == "Patient"
}

/// The search parameters that put a resource of `resource_type` in a Patient's compartment
/// (`Observation` -> `subject`, `performer`); empty when the type is never in it.
pub fn patient_params(resource_type: &str) -> &'static [String] {
    static TABLE: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        serde_json::from_str::<Definition>(PATIENT_COMPARTMENT_JSON)
            .map(|d| d.resource.into_iter().map(|m| (m.code, m.param)).collect())
            .unwrap_or_default()
    });
    table.get(resource_type).map_or(&[], Vec::as_slice)
}

/// Whether `resource` (of `resource_type`) is in the compartment of `Patient/patient_id`:
/// it is that Patient, or one of its compartment parameters refers to it.
pub fn in_patient_compartment(
    resource_type: &str,
    resource: &serde_json::Value,
    patient_id: &str,
) -> bool {
    if resource_type == "Patient" && resource.get("id").and_then(|v| v.as_str()) == Some(patient_id)
    {
        return true;
    }
    let registry = crate::search_params::SearchParamRegistry::r4();
    patient_params(resource_type).iter().any(|param| {
        registry.get(resource_type, param).is_some_and(|def| {
            crate::index::extract(def, resource).into_iter().any(|v| {
                matches!(v, crate::index::IndexValue::Reference {
                    resource_type: Some(t),
                    id: Some(id),
                    ..
                } if t == "Patient" && id == patient_id)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_compartment_members() {
        let obs = serde_json::json!({"resourceType": "Observation", "id": "o",
            "subject": {"reference": "Patient/p1"}});
        assert!(in_patient_compartment("Observation", &obs, "p1"));
        assert!(!in_patient_compartment("Observation", &obs, "p2"));
        let patient = serde_json::json!({"resourceType": "Patient", "id": "p1"});
        assert!(in_patient_compartment("Patient", &patient, "p1"));
        assert!(!in_patient_compartment("Patient", &patient, "p2"));
        let org = serde_json::json!({"resourceType": "Organization", "id": "p1"});
        assert!(!in_patient_compartment("Organization", &org, "p1"));
    }

    #[test]
    fn knows_the_patient_compartment() {
        assert_eq!(patient_params("Observation"), ["subject", "performer"]);
        assert_eq!(patient_params("Patient"), ["link"]);
        assert!(patient_params("Organization").is_empty());
        assert!(is_defined("Patient") && !is_defined("Encounter"));
    }
}
