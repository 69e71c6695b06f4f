//! SMART App Launch clinical scopes, v1 (`patient/*.read`, `user/Observation.write`) and
//! v2 (`patient/Observation.rs`, `system/*.cruds`, granular
//! `patient/Observation.rs?category=laboratory`).

use hearth_interface::ResourceType;
use hearth_interface::authz::Interaction;
use hearth_interface::index::{IndexValue, extract};
use hearth_interface::search_params::{SearchParamRegistry, SearchParamType};
use serde_json::Value;

/// Whose data a scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The patient in context (the token's `patient` claim, or its `fhirUser` when that is
    /// a Patient): that compartment only.
    Patient,
    /// Whatever the user (`fhirUser`) may see: a patient user their own compartment only.
    User,
    /// A backend service, no user.
    System,
}

/// Permission bits: `c r u d s`.
const C: u8 = 1;
const R: u8 = 2;
const U: u8 = 4;
const D: u8 = 8;
const S: u8 = 16;

/// One clinical scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// patient, user or system.
    pub context: Context,
    /// The type, `None` for `*`.
    pub resource_type: Option<ResourceType>,
    perms: u8,
    /// A granular restriction: a token search parameter and the values it must have.
    filter: Option<(String, Vec<String>)>,
}

impl Scope {
    /// Parses one scope; `None` for scopes that are not clinical scopes (`openid`,
    /// `launch/patient`, ...) or are malformed (which then grant nothing).
    pub fn parse(text: &str) -> Option<Self> {
        let (context, rest) = text.split_once('/')?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return None,
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (ty, perms) = rest.split_once('.')?;
        let resource_type = match ty {
            "*" => None,
            name => Some(ResourceType::parse(name)?),
        };
        let perms = match perms {
            "read" => R | S,
            "write" => C | U | D,
            "*" => C | R | U | D | S,
            letters => v2_permissions(letters)?,
        };
        let filter = match query {
            None => None,
            Some(q) => Some(parse_filter(resource_type?, q)?),
        };
        Some(Self {
            context,
            resource_type,
            perms,
            filter,
        })
    }

    /// Whether the scope grants `interaction` on `resource_type` (ignoring its filter).
    pub fn covers(&self, interaction: Interaction, resource_type: ResourceType) -> bool {
        self.resource_type.is_none_or(|t| t == resource_type)
            && needs(interaction)
                .iter()
                .any(|bits| self.perms & bits == *bits)
    }

    /// Whether every permission of `other` on every type it names is also granted here.
    pub fn includes(&self, other: &Scope) -> bool {
        self.context == other.context
            && (self.resource_type.is_none() || self.resource_type == other.resource_type)
            && other.perms & self.perms == other.perms
            && (self.filter.is_none() || self.filter == other.filter)
    }

    /// Whether the scope restricts which resources of its type it covers.
    pub fn is_granular(&self) -> bool {
        self.filter.is_some()
    }

    /// The granular restriction: a token search parameter and the values (ORed) one of
    /// which a resource must have; `None` for a whole-type scope.
    pub fn filter(&self) -> Option<(&str, &[String])> {
        self.filter
            .as_ref()
            .map(|(param, values)| (param.as_str(), values.as_slice()))
    }

    /// Whether `resource` passes the scope's granular filter.
    pub fn matches(&self, resource_type: ResourceType, resource: &Value) -> bool {
        let Some((param, values)) = &self.filter else {
            return true;
        };
        let Some(def) = SearchParamRegistry::r4().get(resource_type.as_str(), param) else {
            return false;
        };
        extract(def, resource).into_iter().any(|v| match v {
            IndexValue::Token { system, code, .. } => {
                values.iter().any(|wanted| match wanted.split_once('|') {
                    Some((s, c)) => system.as_deref() == Some(s) && code.as_deref() == Some(c),
                    None => code.as_deref() == Some(wanted.as_str()),
                })
            }
            _ => false,
        })
    }
}

/// The permission sets of which one is needed for `interaction`.
fn needs(interaction: Interaction) -> &'static [u8] {
    match interaction {
        Interaction::Read | Interaction::History => &[R],
        Interaction::Search => &[S],
        Interaction::Create => &[C],
        Interaction::Update => &[U],
        Interaction::Delete => &[D],
        Interaction::Validate => &[C, U],
        Interaction::Export => &[R | S],
        Interaction::Import => &[C | U],
    }
}

/// `cruds` letters: a non-empty subsequence of `c r u d s`, in that order.
fn v2_permissions(letters: &str) -> Option<u8> {
    let mut perms = 0;
    let mut last = 0;
    for ch in letters.chars() {
        let (bit, rank) = match ch {
            'c' => (C, 1),
            'r' => (R, 2),
            'u' => (U, 3),
            'd' => (D, 4),
            's' => (S, 5),
            _ => return None,
        };
        if rank <= last {
            return None;
        }
        last = rank;
        perms |= bit;
    }
    (perms != 0).then_some(perms)
}

/// `category=laboratory` or `code=http://loinc.org|1234-5`: one token parameter.
fn parse_filter(ty: ResourceType, query: &str) -> Option<(String, Vec<String>)> {
    let (param, value) = query.split_once('=')?;
    if query.contains('&') || value.is_empty() {
        return None;
    }
    let def = SearchParamRegistry::r4().get(ty.as_str(), param)?;
    if def.kind != SearchParamType::Token {
        return None;
    }
    Some((
        param.to_owned(),
        value.split(',').map(str::to_owned).collect(),
    ))
}

/// The clinical scopes of a space-separated scope string.
pub fn parse_all(scopes: &str) -> Vec<Scope> {
    scopes.split_whitespace().filter_map(Scope::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(n: &str) -> ResourceType {
        ResourceType::parse(n).unwrap()
    }

    #[test]
    fn v1_scopes() {
        let s = Scope::parse("patient/*.read").unwrap();
        assert_eq!(s.context, Context::Patient);
        assert!(s.covers(Interaction::Read, ty("Observation")));
        assert!(s.covers(Interaction::Search, ty("Patient")));
        assert!(!s.covers(Interaction::Create, ty("Observation")));
        let w = Scope::parse("user/Observation.write").unwrap();
        assert!(w.covers(Interaction::Update, ty("Observation")));
        assert!(!w.covers(Interaction::Read, ty("Observation")));
        assert!(!w.covers(Interaction::Update, ty("Patient")));
        assert!(
            Scope::parse("user/*.*")
                .unwrap()
                .covers(Interaction::Delete, ty("Claim"))
        );
    }

    #[test]
    fn v2_scopes() {
        let s = Scope::parse("system/Patient.rs").unwrap();
        assert!(s.covers(Interaction::Read, ty("Patient")));
        assert!(s.covers(Interaction::Search, ty("Patient")));
        assert!(!s.covers(Interaction::Update, ty("Patient")));
        assert!(
            Scope::parse("patient/Observation.cu")
                .unwrap()
                .covers(Interaction::Create, ty("Observation"))
        );
        assert!(
            Scope::parse("patient/Observation.sr").is_none(),
            "out of order"
        );
        assert!(Scope::parse("patient/Observation.x").is_none());
        assert!(Scope::parse("patient/Nope.rs").is_none());
        assert!(Scope::parse("openid").is_none());
        assert!(Scope::parse("launch/patient").is_none());
    }

    #[test]
    fn granular_scopes() {
        let s = Scope::parse("patient/Observation.rs?category=laboratory").unwrap();
        let lab = json!({"resourceType": "Observation", "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory"}]}]});
        let vitals = json!({"resourceType": "Observation", "category": [{"coding": [{
            "code": "vital-signs"}]}]});
        assert!(s.is_granular());
        assert!(s.matches(ty("Observation"), &lab));
        assert!(!s.matches(ty("Observation"), &vitals));
        assert!(Scope::parse("patient/*.rs?category=laboratory").is_none());
        assert!(Scope::parse("patient/Observation.rs?date=2020").is_none());
    }

    #[test]
    fn inclusion_for_granting() {
        let registered = Scope::parse("system/*.rs").unwrap();
        assert!(registered.includes(&Scope::parse("system/Patient.r").unwrap()));
        assert!(registered.includes(&Scope::parse("system/*.read").unwrap()));
        assert!(!registered.includes(&Scope::parse("system/Patient.cruds").unwrap()));
        assert!(!registered.includes(&Scope::parse("user/Patient.r").unwrap()));
    }
}
