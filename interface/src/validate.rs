//! Resource validation: the [`Validator`] trait and the HL7 R4 JSON schema validator.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::OnceLock;

use serde_json::Value;

use crate::id::{ResourceType, all_resource_types};
use crate::outcome::{Issue, Severity};

const FHIR_SCHEMA_JSON: &str = include_str!("../data/fhir.schema.json");

/// The vendored HL7 R4 JSON schema, parsed on first use.
pub(crate) fn fhir_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(FHIR_SCHEMA_JSON).unwrap_or(Value::Null))
}

/// Checks resources against the FHIR definitions.
///
/// # Contract
/// Returns every problem found as an error-severity [`Issue`] whose `expression` names the
/// element; an empty list means the resource is valid. Never panics on any input.
pub trait Validator: Send + Sync + Debug + 'static {
    /// Validates one resource of `resource_type`.
    fn validate(&self, resource_type: ResourceType, resource: &Value) -> Vec<Issue>;
}

/// Validates against the official HL7 FHIR R4 JSON schema (draft-06), compiling only the
/// definition of each resource type, on first use of that type.
pub struct JsonSchemaValidator {
    compiled: HashMap<&'static str, OnceLock<Result<jsonschema::Validator, String>>>,
}

impl Debug for JsonSchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSchemaValidator")
            .finish_non_exhaustive()
    }
}

impl JsonSchemaValidator {
    /// The validator for the vendored R4 schema. Parsing the 4 MB schema is deferred to the
    /// first validation.
    pub fn r4() -> Self {
        let compiled = all_resource_types()
            .iter()
            .map(|t| (*t, OnceLock::new()))
            .collect();
        Self { compiled }
    }

    fn validator_for(&self, resource_type: ResourceType) -> Result<&jsonschema::Validator, &str> {
        let Some(cell) = self.compiled.get(resource_type.as_str()) else {
            return Err("unknown resource type");
        };
        cell.get_or_init(|| {
            let full = fhir_schema();
            let schema = serde_json::json!({
                "$schema": "http://json-schema.org/draft-06/schema#",
                "$ref": format!("#/definitions/{resource_type}"),
                "definitions": full.get("definitions").cloned().unwrap_or(Value::Null),
            });
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft6)
                .should_validate_formats(false)
                .build(&schema)
                .map_err(|e| format!("the schema of {resource_type} did not compile: {e}"))
        })
        .as_ref()
        .map_err(String::as_str)
    }
}

impl Validator for JsonSchemaValidator {
    fn validate(&self, resource_type: ResourceType, resource: &Value) -> Vec<Issue> {
        let validator = match self.validator_for(resource_type) {
            Ok(v) => v,
            Err(problem) => return vec![Issue::new(Severity::Error, "exception", problem)],
        };
        validator
            .iter_errors(resource)
            .take(20)
            .map(|e| {
                let path = pointer_to_fhirpath(resource_type.as_str(), e.instance_path().as_str());
                let mut issue = Issue::new(
                    Severity::Error,
                    "structure",
                    format!("{path}: {}", describe(&e)),
                );
                issue.expression.push(path);
                issue
            })
            .collect()
    }
}

/// Describes a schema error without echoing large instance values back.
fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    let text = e.to_string();
    crate::id::truncate_for_message(&text)
}

/// Turns a JSON pointer (`/name/0/family`) into a FHIRPath-like location (`Patient.name[0].family`).
fn pointer_to_fhirpath(root: &str, pointer: &str) -> String {
    let mut out = root.to_owned();
    for segment in pointer.split('/').filter(|s| !s.is_empty()) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            out.push('.');
            out.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_valid_and_reports_invalid_with_paths() {
        let v = JsonSchemaValidator::r4();
        let patient = ResourceType::parse("Patient").unwrap();
        let ok = json!({"resourceType": "Patient", "name": [{"family": "Doe"}], "birthDate": "1970-01-01"});
        assert!(v.validate(patient, &ok).is_empty());
        let bad =
            json!({"resourceType": "Patient", "name": [{"family": 3}], "gender": "x", "foo": 1});
        let issues = v.validate(patient, &bad);
        assert!(
            issues
                .iter()
                .any(|i| i.expression == ["Patient.name[0].family"]),
            "{issues:?}"
        );
        assert!(
            issues.iter().any(|i| i.expression == ["Patient.gender"]),
            "{issues:?}"
        );
    }
}
