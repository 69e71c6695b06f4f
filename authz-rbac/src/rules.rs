//! RBAC rules: which interactions on which resource types each group may perform.
//!
//! A rules file is JSON:
//! ```json
//! { "groups": {
//!     "practitioner": { "interactions": ["read", "search", "create"], "resourceTypes": ["*"] },
//!     "auditor": { "interactions": ["read"], "resourceTypes": ["Patient"] }
//! } }
//! ```
//! Interactions: `read`, `search`, `history`, `create`, `update`, `delete`, `validate`,
//! `export`, `import` (bulk data needs its own `export`/`import` grant), or `*`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use hearth_interface::ResourceType;
use hearth_interface::authz::Interaction;
use serde::Deserialize;

/// The financial resource types the default `non-practitioner` group may read.
pub const FINANCIAL_TYPES: [&str; 16] = [
    "Account",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "ExplanationOfBenefit",
    "InsurancePlan",
    "Invoice",
    "PaymentNotice",
    "PaymentReconciliation",
];

/// A rules file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file cannot be read.
    #[error("cannot read the RBAC rules file {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid rules JSON.
    #[error("invalid RBAC rules: {0}")]
    Invalid(String),
}

/// What one group may do.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRule {
    interactions: HashSet<Interaction>,
    /// `None`: every type.
    types: Option<HashSet<ResourceType>>,
}

impl GroupRule {
    /// Whether the rule grants `interaction` on `resource_type`.
    pub fn allows(&self, interaction: Interaction, resource_type: ResourceType) -> bool {
        self.interactions.contains(&interaction)
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&resource_type))
    }
}

/// The rules of every group.
#[derive(Debug, Clone, PartialEq)]
pub struct RbacRules {
    groups: HashMap<String, GroupRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    groups: HashMap<String, GroupFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GroupFile {
    interactions: Vec<String>,
    resource_types: Vec<String>,
}

impl RbacRules {
    /// The defaults described in the crate documentation.
    pub fn defaults() -> Self {
        let read = || HashSet::from([Interaction::Read, Interaction::Search]);
        let types = |names: &[&str]| {
            Some(
                names
                    .iter()
                    .filter_map(|n| ResourceType::parse(n))
                    .collect(),
            )
        };
        let groups = HashMap::from([
            (
                "practitioner".to_owned(),
                GroupRule {
                    interactions: Interaction::ALL.into_iter().collect(),
                    types: None,
                },
            ),
            (
                "non-practitioner".to_owned(),
                GroupRule {
                    interactions: read(),
                    types: types(&FINANCIAL_TYPES),
                },
            ),
            (
                "auditor".to_owned(),
                GroupRule {
                    interactions: read(),
                    types: types(&["Patient"]),
                },
            ),
        ]);
        Self { groups }
    }

    /// Parses a rules document (see the module documentation).
    ///
    /// # Errors
    /// [`RulesError::Invalid`] for malformed JSON, unknown interactions or resource types.
    pub fn parse(json: &str) -> Result<Self, RulesError> {
        let file: RulesFile =
            serde_json::from_str(json).map_err(|e| RulesError::Invalid(e.to_string()))?;
        let mut groups = HashMap::new();
        for (name, group) in file.groups {
            let interactions = if group.interactions.iter().any(|i| i == "*") {
                Interaction::ALL.into_iter().collect()
            } else {
                group
                    .interactions
                    .iter()
                    .map(|i| {
                        Interaction::parse(i).ok_or_else(|| {
                            RulesError::Invalid(format!("group {name}: unknown interaction '{i}'"))
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            let types = if group.resource_types.iter().any(|t| t == "*") {
                None
            } else {
                Some(
                    group
                        .resource_types
                        .iter()
                        .map(|t| {
                            ResourceType::parse(t).ok_or_else(|| {
                                RulesError::Invalid(format!(
                                    "group {name}: unknown resource type '{t}'"
                                ))
                            })
                        })
                        .collect::<Result<_, _>>()?,
                )
            };
            groups.insert(
                name,
                GroupRule {
                    interactions,
                    types,
                },
            );
        }
        Ok(Self { groups })
    }

    /// Reads a rules file.
    ///
    /// # Errors
    /// [`RulesError::Read`] when it cannot be read, [`RulesError::Invalid`] otherwise.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The rule of `group`, if it has one.
    pub fn group(&self, group: &str) -> Option<&GroupRule> {
        self.groups.get(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str) -> ResourceType {
        ResourceType::parse(name).unwrap()
    }

    #[test]
    fn defaults_follow_fhir_works_on_aws() {
        let rules = RbacRules::defaults();
        let practitioner = rules.group("practitioner").unwrap();
        assert!(practitioner.allows(Interaction::Delete, ty("Observation")));
        assert!(practitioner.allows(Interaction::Export, ty("Patient")));
        let auditor = rules.group("auditor").unwrap();
        assert!(auditor.allows(Interaction::Read, ty("Patient")));
        assert!(!auditor.allows(Interaction::Read, ty("Observation")));
        assert!(!auditor.allows(Interaction::Update, ty("Patient")));
        let billing = rules.group("non-practitioner").unwrap();
        assert!(billing.allows(Interaction::Search, ty("Claim")));
        assert!(!billing.allows(Interaction::Read, ty("Patient")));
        assert!(!billing.allows(Interaction::Export, ty("Claim")));
    }

    #[test]
    fn parses_a_rules_file_and_rejects_unknown_names() {
        let rules = RbacRules::parse(
            r#"{"groups": {"nurse": {"interactions": ["read", "update"], "resourceTypes": ["Observation"]}}}"#,
        )
        .unwrap();
        let nurse = rules.group("nurse").unwrap();
        assert!(nurse.allows(Interaction::Update, ty("Observation")));
        assert!(!nurse.allows(Interaction::Create, ty("Observation")));
        assert!(rules.group("practitioner").is_none());
        assert!(
            RbacRules::parse(
                r#"{"groups": {"x": {"interactions": ["write"], "resourceTypes": ["*"]}}}"#
            )
            .is_err()
        );
        assert!(
            RbacRules::parse(
                r#"{"groups": {"x": {"interactions": ["read"], "resourceTypes": ["Nope"]}}}"#
            )
            .is_err()
        );
    }
}
