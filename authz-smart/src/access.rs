//! What a SMART token grants: its clinical scopes, confined to the `patient` claim's
//! compartment for `patient/` scopes.

use hearth_interface::authz::{Access, Interaction};
use hearth_interface::compartment::in_patient_compartment;
use hearth_interface::{ResourceId, ResourceType};
use serde_json::Value;

use crate::scopes::{Context, Scope};

/// The grant of one SMART access token.
#[derive(Debug)]
pub struct SmartAccess {
    subject: String,
    scopes: Vec<Scope>,
    patient: Option<ResourceId>,
}

impl SmartAccess {
    /// The grant of `scopes` for `subject`. `patient/` scopes grant nothing without a
    /// patient in context.
    pub fn new(subject: String, scopes: Vec<Scope>, patient: Option<ResourceId>) -> Self {
        let scopes = scopes
            .into_iter()
            .filter(|s| s.context != Context::Patient || patient.is_some())
            .collect();
        Self {
            subject,
            scopes,
            patient,
        }
    }

    fn covering(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
    ) -> impl Iterator<Item = &Scope> {
        self.scopes
            .iter()
            .filter(move |s| s.covers(interaction, resource_type))
    }
}

impl Access for SmartAccess {
    fn allows(&self, interaction: Interaction, resource_type: ResourceType) -> bool {
        self.covering(interaction, resource_type).next().is_some()
    }

    fn compartment(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
    ) -> Option<&ResourceId> {
        let unconfined = self
            .covering(interaction, resource_type)
            .any(|s| s.context != Context::Patient);
        if unconfined {
            None
        } else {
            self.patient.as_ref()
        }
    }

    fn filters_resources(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| s.context == Context::Patient || s.is_granular())
    }

    fn permits(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
        resource: &Value,
    ) -> bool {
        self.covering(interaction, resource_type).any(|s| {
            let in_context = match (s.context, &self.patient) {
                (Context::Patient, Some(p)) => {
                    in_patient_compartment(resource_type.as_str(), resource, p.as_str())
                }
                (Context::Patient, None) => false,
                _ => true,
            };
            in_context && s.matches(resource_type, resource)
        })
    }

    fn subject(&self) -> &str {
        &self.subject
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scopes::parse_all;
    use serde_json::json;

    fn ty(n: &str) -> ResourceType {
        ResourceType::parse(n).unwrap()
    }

    #[test]
    fn patient_scopes_confine_to_the_compartment() {
        let p = ResourceId::parse("p1").unwrap();
        let a = SmartAccess::new(
            "s".into(),
            parse_all("patient/*.rs openid"),
            Some(p.clone()),
        );
        assert!(a.allows(Interaction::Read, ty("Observation")));
        assert!(!a.allows(Interaction::Update, ty("Observation")));
        assert_eq!(
            a.compartment(Interaction::Search, ty("Observation")),
            Some(&p)
        );
        assert!(a.filters_resources());
        let mine = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}});
        let theirs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p2"}});
        assert!(a.permits(Interaction::Read, ty("Observation"), &mine));
        assert!(!a.permits(Interaction::Read, ty("Observation"), &theirs));
    }

    #[test]
    fn patient_scopes_without_a_patient_grant_nothing() {
        let a = SmartAccess::new("s".into(), parse_all("patient/*.rs"), None);
        assert!(!a.allows(Interaction::Read, ty("Observation")));
    }

    #[test]
    fn system_scopes_are_unconfined() {
        let a = SmartAccess::new("c".into(), parse_all("system/Patient.rs"), None);
        assert!(a.allows(Interaction::Search, ty("Patient")));
        assert!(!a.allows(Interaction::Search, ty("Observation")));
        assert_eq!(a.compartment(Interaction::Search, ty("Patient")), None);
        assert!(!a.filters_resources());
    }
}
