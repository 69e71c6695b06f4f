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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_patient_compartment() {
        assert_eq!(patient_params("Observation"), ["subject", "performer"]);
        assert_eq!(patient_params("Patient"), ["link"]);
        assert!(patient_params("Organization").is_empty());
        assert!(is_defined("Patient") && !is_defined("Encounter"));
    }
}
