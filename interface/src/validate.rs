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
/// definitions one resource type reaches, on first use of that type.
///
/// The official schema lets `contained`, `Bundle.entry.resource` and `Parameters` hold any
/// resource through `ResourceList`, a `oneOf` over all 146 types: compiling it makes every
/// type's validator as large as the whole schema (120 ms to compile each). Here
/// `ResourceList` only requires an object, and each embedded resource is validated by its
/// own type's validator, with its path in the issues.
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
            let schema = serde_json::json!({
                "$schema": "http://json-schema.org/draft-06/schema#",
                "$ref": format!("#/definitions/{resource_type}"),
                "definitions": reachable_definitions(resource_type.as_str()),
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

/// The schema's name for "any resource".
const RESOURCE_LIST: &str = "ResourceList";
/// How deeply resources may nest inside resources (a Bundle in a Bundle in ...).
const MAX_EMBEDDING: usize = 8;
/// Issues reported per resource at most.
const MAX_ISSUES: usize = 20;

/// The definitions `root` reaches through `$ref`, with `ResourceList` reduced to "an object
/// with a string `resourceType`" (the embedded resource's own validation does the rest).
fn reachable_definitions(root: &str) -> Value {
    let Some(all) = fhir_schema().get("definitions").and_then(Value::as_object) else {
        return Value::Null;
    };
    let mut kept = serde_json::Map::new();
    let mut pending = vec![root.to_owned()];
    while let Some(name) = pending.pop() {
        if kept.contains_key(&name) {
            continue;
        }
        if name == RESOURCE_LIST {
            kept.insert(
                name,
                serde_json::json!({
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": { "resourceType": { "type": "string" } }
                }),
            );
            continue;
        }
        let Some(definition) = all.get(&name) else {
            continue;
        };
        collect_refs(definition, &mut pending);
        kept.insert(name, with_json_rules(definition.clone()));
    }
    Value::Object(kept)
}

/// The schema writes FHIR `integer`, `unsignedInt` and `positiveInt` as a number with a
/// digits-only pattern, which JSON Schema applies to strings only; makes them 32-bit
/// integers with their lower bounds.
fn tighten_integer(schema: &mut serde_json::Map<String, Value>) {
    let minimum = match schema.get("pattern").and_then(Value::as_str) {
        Some("^-?([0]|([1-9][0-9]*))$") => i64::from(i32::MIN),
        Some("^[0]|([1-9][0-9]*)$") => 0,
        Some("^[1-9][0-9]*$") => 1,
        _ => return,
    };
    if schema.get("type").and_then(Value::as_str) == Some("number") {
        schema.insert("type".into(), Value::from("integer"));
        schema.insert("minimum".into(), Value::from(minimum));
        schema.insert("maximum".into(), Value::from(i32::MAX));
    }
}

/// Adds the FHIR rules (json.html, datatypes.html) the official schema leaves out: a complex
/// element is an object (the schema only lists its properties, so `"name": ["x"]` would
/// pass), objects and arrays are never empty, and the integer types are 32-bit integers
/// (the schema says "number", so `1.5` would pass).
fn with_json_rules(mut definition: Value) -> Value {
    let Some(map) = definition.as_object_mut() else {
        return definition;
    };
    tighten_integer(map);
    if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
        for property in properties.values_mut().filter_map(Value::as_object_mut) {
            tighten_integer(property);
            if property.get("type").and_then(Value::as_str) == Some("array") {
                property.insert("minItems".into(), Value::from(1));
            }
        }
        map.entry("type").or_insert_with(|| Value::from("object"));
        map.insert("minProperties".into(), Value::from(1));
    }
    definition
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/definitions/") {
                            out.push(name.to_owned());
                        }
                    }
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

impl JsonSchemaValidator {
    /// Validates `resource` as `resource_type` and every resource embedded in it as its own
    /// type; `path` is the FHIRPath of `resource` in the top-level resource.
    fn validate_at(
        &self,
        resource_type: ResourceType,
        resource: &Value,
        path: &str,
        depth: usize,
        issues: &mut Vec<Issue>,
    ) {
        let validator = match self.validator_for(resource_type) {
            Ok(v) => v,
            Err(problem) => {
                issues.push(Issue::new(Severity::Error, "exception", problem));
                return;
            }
        };
        for e in validator.iter_errors(resource) {
            if issues.len() >= MAX_ISSUES {
                return;
            }
            issues.push(structure_issue(
                pointer_to_fhirpath(path, e.instance_path().as_str()),
                describe(&e),
            ));
        }
        let mut embedded = Vec::new();
        find_embedded(resource_type, resource, &mut embedded);
        for (pointer, inner) in embedded {
            let inner_path = pointer_to_fhirpath(path, &pointer);
            if depth >= MAX_EMBEDDING {
                issues.push(structure_issue(
                    inner_path,
                    "resources are nested too deeply".into(),
                ));
                return;
            }
            let type_name = inner
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("");
            match ResourceType::parse(type_name) {
                Some(inner_type) => {
                    self.validate_at(inner_type, inner, &inner_path, depth + 1, issues)
                }
                None => issues.push(structure_issue(
                    format!("{inner_path}.resourceType"),
                    format!(
                        "unknown resource type '{}'",
                        crate::id::truncate_for_message(type_name)
                    ),
                )),
            }
        }
    }
}

/// The resources embedded in `resource`: the places where the R4 schema says
/// `ResourceList` (`contained`, `Bundle.entry.resource`, `Bundle.entry.response.outcome`,
/// `Parameters.parameter.resource` and its nested `part`s), with their JSON pointers.
fn find_embedded<'a>(
    resource_type: ResourceType,
    resource: &'a Value,
    out: &mut Vec<(String, &'a Value)>,
) {
    let items = |value: &'a Value, key: &str| -> Vec<(usize, &'a Value)> {
        value
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().enumerate().collect())
            .unwrap_or_default()
    };
    for (i, contained) in items(resource, "contained") {
        out.push((format!("/contained/{i}"), contained));
    }
    match resource_type.as_str() {
        "Bundle" => {
            for (i, entry) in items(resource, "entry") {
                if let Some(inner) = entry.get("resource") {
                    out.push((format!("/entry/{i}/resource"), inner));
                }
                if let Some(outcome) = entry.get("response").and_then(|r| r.get("outcome")) {
                    out.push((format!("/entry/{i}/response/outcome"), outcome));
                }
            }
        }
        "Parameters" => {
            let mut pending: Vec<(String, &'a Value)> = items(resource, "parameter")
                .into_iter()
                .map(|(i, p)| (format!("/parameter/{i}"), p))
                .collect();
            while let Some((pointer, parameter)) = pending.pop() {
                if let Some(inner) = parameter.get("resource") {
                    out.push((format!("{pointer}/resource"), inner));
                }
                pending.extend(
                    items(parameter, "part")
                        .into_iter()
                        .map(|(i, p)| (format!("{pointer}/part/{i}"), p)),
                );
            }
        }
        _ => {}
    }
}

fn structure_issue(path: String, message: String) -> Issue {
    let mut issue = Issue::new(Severity::Error, "structure", format!("{path}: {message}"));
    issue.expression.push(path);
    issue
}

impl Validator for JsonSchemaValidator {
    fn validate(&self, resource_type: ResourceType, resource: &Value) -> Vec<Issue> {
        let mut issues = Vec::new();
        self.validate_at(
            resource_type,
            resource,
            resource_type.as_str(),
            0,
            &mut issues,
        );
        issues
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

    #[test]
    fn enforces_json_rules_the_schema_leaves_out() {
        let v = JsonSchemaValidator::r4();
        let patient = ResourceType::parse("Patient").unwrap();
        for bad in [
            json!({"resourceType": "Patient", "name": ["x"]}),
            json!({"resourceType": "Patient", "name": []}),
            json!({"resourceType": "Patient", "name": [{}]}),
            json!({"resourceType": "Patient", "multipleBirthInteger": 1.5}),
            json!({"resourceType": "Patient", "multipleBirthInteger": 3_000_000_000_u64}),
        ] {
            assert!(!v.validate(patient, &bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn example_scenario_instances_are_not_embedded_resources() {
        let v = JsonSchemaValidator::r4();
        let scenario = ResourceType::parse("ExampleScenario").unwrap();
        let ok = json!({"resourceType": "ExampleScenario", "status": "draft",
            "instance": [{"resourceId": "a", "resourceType": "Patient"}]});
        assert!(
            v.validate(scenario, &ok).is_empty(),
            "{:?}",
            v.validate(scenario, &ok)
        );
    }

    #[test]
    fn validates_embedded_resources_as_their_own_type() {
        let v = JsonSchemaValidator::r4();
        let bundle = ResourceType::parse("Bundle").unwrap();
        let ok = json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o"}]}}]});
        assert!(
            v.validate(bundle, &ok).is_empty(),
            "{:?}",
            v.validate(bundle, &ok)
        );
        let bad = json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "active": "yes"}]}},
            {"resource": {"resourceType": "Nope"}}, {"resource": {"id": "no-type"}}]});
        let issues = v.validate(bundle, &bad);
        let paths: Vec<&str> = issues
            .iter()
            .flat_map(|i| i.expression.iter().map(String::as_str))
            .collect();
        assert!(
            paths.contains(&"Bundle.entry[0].resource.contained[0].active"),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"Bundle.entry[1].resource.resourceType"),
            "{paths:?}"
        );
        assert!(paths.contains(&"Bundle.entry[2].resource"), "{paths:?}");
        let observation = ResourceType::parse("Observation").unwrap();
        assert!(
            !v.validate(observation, &json!({"resourceType": "Observation"}))
                .is_empty(),
            "code is required"
        );
    }
}
