//! The registry of FHIR R4 search parameters, built once from the embedded
//! `data/search-parameters.json` with every expression compiled to a FHIRPath
//! [`Expression`].

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::fhirpath::{Expression, FhirPathError};

/// The type of a search parameter, which fixes how its values are indexed and matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchParamType {
    /// A decimal or integer.
    Number,
    /// A date, dateTime, instant, Period or Timing.
    Date,
    /// A simple string, or the parts of a HumanName or Address.
    String,
    /// A code, Coding, CodeableConcept, Identifier, ContactPoint, boolean or plain string.
    Token,
    /// A Reference, canonical or uri pointing at another resource.
    Reference,
    /// A combination of other parameters, matched together.
    Composite,
    /// A Quantity (or Age, Duration, Money, Range...).
    Quantity,
    /// A uri, url or canonical.
    Uri,
    /// Parameters with their own matching rules (`near`, `_query`...).
    Special,
}

impl SearchParamType {
    /// The FHIR code of the type, as in `SearchParameter.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchParamType::Number => "number",
            SearchParamType::Date => "date",
            SearchParamType::String => "string",
            SearchParamType::Token => "token",
            SearchParamType::Reference => "reference",
            SearchParamType::Composite => "composite",
            SearchParamType::Quantity => "quantity",
            SearchParamType::Uri => "uri",
            SearchParamType::Special => "special",
        }
    }
}

/// One component of a composite search parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParamComponent {
    /// Canonical URL of the search parameter defining the component.
    pub definition: String,
    /// Type of that search parameter.
    pub kind: SearchParamType,
    /// Expression evaluated on each item selected by the composite's own expression.
    pub expression: Expression,
}

/// A search parameter definition with its compiled expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParamDef {
    /// The name used in query strings, e.g. `birthdate`.
    pub code: String,
    /// Canonical URL of the SearchParameter.
    pub url: String,
    /// The parameter type.
    pub kind: SearchParamType,
    /// Resource types the parameter applies to (`Resource` for all types).
    pub base: Vec<String>,
    /// The compiled expression; `None` for `_text`, `_content` and `_query`.
    pub expression: Option<Expression>,
    /// Resource types a reference parameter may point to.
    pub targets: Vec<String>,
    /// Components of a composite parameter, in order.
    pub components: Vec<SearchParamComponent>,
    /// Allowed modifiers, when the definition restricts them (usually empty).
    pub modifiers: Vec<String>,
    /// Allowed comparators (`eq`, `ge`...), when the definition lists them.
    pub comparators: Vec<String>,
    /// Whether several values may be ORed in one parameter, when stated.
    pub multiple_or: Option<bool>,
    /// Whether the parameter may be repeated (ANDed), when stated.
    pub multiple_and: Option<bool>,
    /// Start of the human-readable description.
    pub description: String,
}

/// Errors building a registry from a SearchParameter bundle.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The bundle is not valid JSON of the expected shape.
    #[error("invalid search parameter bundle: {0}")]
    Json(#[from] serde_json::Error),
    /// An expression could not be compiled.
    #[error("search parameter {url}: {source}")]
    Expression {
        /// URL of the offending SearchParameter.
        url: String,
        /// The parse error.
        source: FhirPathError,
    },
    /// A SearchParameter has a type outside the FHIR value set.
    #[error("search parameter {url}: unknown type {kind}")]
    UnknownType {
        /// URL of the offending SearchParameter.
        url: String,
        /// The unknown type code.
        kind: String,
    },
    /// A composite component names a SearchParameter absent from the bundle.
    #[error("search parameter {url}: unknown component {definition}")]
    UnknownComponent {
        /// URL of the composite SearchParameter.
        url: String,
        /// The unresolved component definition.
        definition: String,
    },
}

/// All search parameters, indexed by resource type, code and URL.
#[derive(Debug)]
pub struct SearchParamRegistry {
    defs: Vec<SearchParamDef>,
    /// Indexes into `defs` per base type, in bundle order.
    by_type: HashMap<String, Vec<usize>>,
    /// Index into `defs` per base type, then code.
    by_code: HashMap<String, HashMap<String, usize>>,
    by_url: HashMap<String, usize>,
}

/// Resource types that are not DomainResources (no `_text`, `text`, extensions...).
const NOT_DOMAIN_RESOURCES: [&str; 3] = ["Binary", "Bundle", "Parameters"];

impl SearchParamRegistry {
    /// The registry of every search parameter defined by FHIR R4 (4.0.1), built on
    /// first use.
    pub fn r4() -> &'static SearchParamRegistry {
        static REGISTRY: OnceLock<SearchParamRegistry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            Self::from_bundle(include_str!("../data/search-parameters.json"))
                .expect("the embedded R4 search parameters are valid")
        })
    }

    /// Builds a registry from a Bundle of SearchParameter resources (JSON text).
    pub fn from_bundle(json: &str) -> Result<SearchParamRegistry, RegistryError> {
        let bundle: raw::Bundle = serde_json::from_str(json)?;
        let params: Vec<raw::SearchParameter> =
            bundle.entry.into_iter().map(|e| e.resource).collect();
        let kinds: HashMap<&str, SearchParamType> = params
            .iter()
            .filter_map(|p| Some((p.url.as_str(), parse_type(&p.kind)?)))
            .collect();
        let defs = params
            .iter()
            .map(|p| compile(p, &kinds))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::index(defs))
    }

    fn index(defs: Vec<SearchParamDef>) -> SearchParamRegistry {
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_code: HashMap<String, HashMap<String, usize>> = HashMap::new();
        let mut by_url = HashMap::new();
        for (i, def) in defs.iter().enumerate() {
            by_url.entry(def.url.clone()).or_insert(i);
            for base in &def.base {
                by_type.entry(base.clone()).or_default().push(i);
                by_code
                    .entry(base.clone())
                    .or_default()
                    .entry(def.code.clone())
                    .or_insert(i);
            }
        }
        SearchParamRegistry {
            defs,
            by_type,
            by_code,
            by_url,
        }
    }

    /// The parameter `code` for `resource_type`: a type-specific parameter, or one
    /// defined on `DomainResource` or `Resource` (such as `_id`).
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&SearchParamDef> {
        Self::bases(resource_type)
            .into_iter()
            .find_map(|base| self.by_code.get(base)?.get(code))
            .and_then(|&i| self.defs.get(i))
    }

    /// Every parameter applying to `resource_type`: its own, then the `DomainResource`
    /// and `Resource` ones.
    pub fn for_type<'s>(
        &'s self,
        resource_type: &str,
    ) -> impl Iterator<Item = &'s SearchParamDef> + 's {
        let indexes: Vec<usize> = Self::bases(resource_type)
            .into_iter()
            .flat_map(|base| self.by_type.get(base).into_iter().flatten().copied())
            .collect();
        indexes.into_iter().filter_map(|i| self.defs.get(i))
    }

    /// The parameter with canonical URL `url`.
    pub fn by_url(&self, url: &str) -> Option<&SearchParamDef> {
        self.by_url.get(url).and_then(|&i| self.defs.get(i))
    }

    /// Every parameter in the registry, in definition order.
    pub fn all(&self) -> impl Iterator<Item = &SearchParamDef> {
        self.defs.iter()
    }

    /// The base types whose parameters apply to `resource_type`, most specific first.
    fn bases(resource_type: &str) -> Vec<&str> {
        let mut bases = vec![resource_type];
        if !NOT_DOMAIN_RESOURCES.contains(&resource_type) && resource_type != "Resource" {
            bases.push("DomainResource");
        }
        if resource_type != "Resource" {
            bases.push("Resource");
        }
        bases
    }
}

fn parse_type(kind: &str) -> Option<SearchParamType> {
    Some(match kind {
        "number" => SearchParamType::Number,
        "date" => SearchParamType::Date,
        "string" => SearchParamType::String,
        "token" => SearchParamType::Token,
        "reference" => SearchParamType::Reference,
        "composite" => SearchParamType::Composite,
        "quantity" => SearchParamType::Quantity,
        "uri" => SearchParamType::Uri,
        "special" => SearchParamType::Special,
        _ => return None,
    })
}

fn compile(
    p: &raw::SearchParameter,
    kinds: &HashMap<&str, SearchParamType>,
) -> Result<SearchParamDef, RegistryError> {
    let parse = |src: &str| {
        Expression::parse(src).map_err(|source| RegistryError::Expression {
            url: p.url.clone(),
            source,
        })
    };
    let kind = parse_type(&p.kind).ok_or_else(|| RegistryError::UnknownType {
        url: p.url.clone(),
        kind: p.kind.clone(),
    })?;
    let components = p
        .component
        .iter()
        .map(|c| {
            let kind = kinds.get(c.definition.as_str()).copied().ok_or_else(|| {
                RegistryError::UnknownComponent {
                    url: p.url.clone(),
                    definition: c.definition.clone(),
                }
            })?;
            Ok(SearchParamComponent {
                definition: c.definition.clone(),
                kind,
                expression: parse(&c.expression)?,
            })
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    Ok(SearchParamDef {
        code: p.code.clone(),
        url: p.url.clone(),
        kind,
        base: p.base.clone(),
        expression: p.expression.as_deref().map(parse).transpose()?,
        targets: p.target.clone(),
        components,
        modifiers: p.modifier.clone(),
        comparators: p.comparator.clone(),
        multiple_or: p.multiple_or,
        multiple_and: p.multiple_and,
        description: p.description.clone(),
    })
}

/// The JSON shape of the embedded bundle.
mod raw {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Bundle {
        #[serde(default)]
        pub entry: Vec<Entry>,
    }

    #[derive(Deserialize)]
    pub struct Entry {
        pub resource: SearchParameter,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SearchParameter {
        pub url: String,
        pub code: String,
        #[serde(default)]
        pub base: Vec<String>,
        #[serde(rename = "type")]
        pub kind: String,
        pub expression: Option<String>,
        #[serde(default)]
        pub target: Vec<String>,
        #[serde(default)]
        pub component: Vec<Component>,
        #[serde(default)]
        pub modifier: Vec<String>,
        #[serde(default)]
        pub comparator: Vec<String>,
        pub multiple_or: Option<bool>,
        pub multiple_and: Option<bool>,
        #[serde(default)]
        pub description: String,
    }

    #[derive(Deserialize)]
    pub struct Component {
        pub definition: String,
        pub expression: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_registry_has_every_parameter() {
        let registry = SearchParamRegistry::r4();
        assert_eq!(registry.all().count(), 1375);
        let birthdate = registry.get("Patient", "birthdate").expect("birthdate");
        assert_eq!(birthdate.kind, SearchParamType::Date);
        assert_eq!(
            birthdate.expression.as_ref().map(Expression::source),
            Some("Patient.birthDate | Person.birthDate | RelatedPerson.birthDate")
        );
        let id = registry.get("Observation", "_id").expect("_id");
        assert_eq!(id.kind, SearchParamType::Token);
        assert!(registry.get("Bundle", "_text").is_none());
        assert!(registry.get("Patient", "_text").is_some());
        assert!(registry.get("Patient", "no-such-param").is_none());
        let subject = registry.get("Observation", "subject").expect("subject");
        assert!(subject.targets.contains(&"Patient".to_owned()));
    }

    #[test]
    fn for_type_includes_generic_parameters_once() {
        let registry = SearchParamRegistry::r4();
        let codes: Vec<&str> = registry
            .for_type("Patient")
            .map(|d| d.code.as_str())
            .collect();
        for code in ["name", "birthdate", "_id", "_lastUpdated", "_text"] {
            assert_eq!(codes.iter().filter(|c| **c == code).count(), 1, "{code}");
        }
        assert!(registry.for_type("Bundle").all(|d| d.code != "_text"));
    }

    #[test]
    fn composite_components_resolve() {
        let registry = SearchParamRegistry::r4();
        let composite = registry
            .get("Observation", "code-value-quantity")
            .expect("composite");
        assert_eq!(composite.kind, SearchParamType::Composite);
        let kinds: Vec<SearchParamType> = composite.components.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [SearchParamType::Token, SearchParamType::Quantity]);
        let first = &composite.components[0].definition;
        assert_eq!(
            registry.by_url(first).map(|d| d.code.as_str()),
            Some("code")
        );
    }

    #[test]
    fn rejects_unknown_types() {
        let bundle = r#"{"entry": [{"resource": {"url": "u", "code": "c", "type": "odd"}}]}"#;
        assert!(matches!(
            SearchParamRegistry::from_bundle(bundle),
            Err(RegistryError::UnknownType { .. })
        ));
    }
}
