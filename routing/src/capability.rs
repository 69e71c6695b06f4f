//! The CapabilityStatement, generated from the configured components: the resource types,
//! interactions and operations the router serves and the search parameters the configured
//! search engine supports.

use hearth_interface::ResourceType;
use hearth_interface::id::all_resource_types;
use hearth_interface::search_params::{SearchParamRegistry, SearchParamType};
use serde_json::{Value, json};

use crate::AppState;

/// Interactions the router offers on every resource type.
const TYPE_INTERACTIONS: [&str; 9] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// The statement for this server, with `base` as the implementation URL. The part that
/// does not depend on the base is built once per process.
pub fn statement(state: &AppState, base: &str) -> Value {
    let mut statement = state.capability_cache.get_or_init(|| build(state)).clone();
    statement["implementation"] = json!({ "description": "Hearth FHIR R4 server", "url": base });
    statement
}

fn build(state: &AppState) -> Value {
    let resources: Vec<Value> = all_resource_types()
        .iter()
        .filter_map(|name| ResourceType::parse(name))
        .map(|ty| resource_entry(state, ty))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": hearth_interface::instant::Instant::now().to_fhir(),
        "publisher": "Hearth",
        "kind": "instance",
        "software": { "name": "Hearth", "version": env!("CARGO_PKG_VERSION") },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": format!("storage backend: {}", state.store.backend_name()),
            "resource": resources,
            "interaction": [{ "code": "history-system" }, { "code": "search-system" }],
            "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
            "operation": [{
                "name": "validate",
                "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"
            }]
        }]
    })
}

fn resource_entry(state: &AppState, ty: ResourceType) -> Value {
    let search_params: Vec<Value> = state
        .search
        .supported_params(ty)
        .into_iter()
        .map(|p| json!({ "name": p.code, "definition": p.definition, "type": p.kind }))
        .chain(std::iter::once(json!({
            "name": crate::list_param::LIST,
            "type": "special",
            "documentation": "members of a List: _list=[List/]id (resolved by the router)"
        })))
        .collect();
    let interactions: Vec<Value> = TYPE_INTERACTIONS
        .iter()
        .map(|c| json!({ "code": c }))
        .collect();
    let includes: Vec<String> = std::iter::once("*".to_owned())
        .chain(
            SearchParamRegistry::r4()
                .for_type(ty.as_str())
                .filter(|d| d.kind == SearchParamType::Reference)
                .map(|d| format!("{ty}:{}", d.code)),
        )
        .collect();
    json!({
        "type": ty.as_str(),
        "profile": format!("http://hl7.org/fhir/StructureDefinition/{ty}"),
        "interaction": interactions,
        "versioning": "versioned-update",
        "readHistory": true,
        "updateCreate": true,
        "conditionalCreate": true,
        "conditionalRead": "full-support",
        "conditionalUpdate": true,
        "conditionalDelete": "single",
        "searchInclude": includes,
        "searchParam": search_params,
        "operation": [{
            "name": "validate",
            "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"
        }]
    })
}
