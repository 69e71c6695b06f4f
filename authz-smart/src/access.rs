//! What a SMART token grants: its clinical scopes, confined to the patient compartment of
//! its launch context ([`LaunchContext`]) for `patient/` scopes, and for every scope when
//! the user is a Patient.

use hearth_interface::authz::{Access, Interaction, forbidden};
use hearth_interface::compartment::in_patient_compartment;
use hearth_interface::search::Criterion;
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType};
use serde_json::Value;

use crate::context::LaunchContext;
use crate::scopes::{Context, Scope};

/// The grant of one SMART access token.
#[derive(Debug)]
pub struct SmartAccess {
    subject: String,
    scopes: Vec<Scope>,
    context: LaunchContext,
    /// `patient/` scopes that grant nothing because no patient is in context.
    without_patient: Vec<Scope>,
}

impl SmartAccess {
    /// The grant of `scopes` for `subject` in `context`. `patient/` scopes grant nothing
    /// without a patient in context.
    pub fn new(subject: String, scopes: Vec<Scope>, context: LaunchContext) -> Self {
        let (scopes, without_patient) = scopes
            .into_iter()
            .partition(|s| s.context != Context::Patient || context.patient.is_some());
        Self {
            subject,
            scopes,
            context,
            without_patient,
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

    /// Whether `scope` is confined to the patient compartment of the context.
    fn confined(&self, scope: &Scope) -> bool {
        scope.context == Context::Patient || self.context.patient_user
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
            .any(|s| !self.confined(s));
        if unconfined {
            None
        } else {
            self.context.patient.as_ref()
        }
    }

    fn filters_resources(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| self.confined(s) || s.is_granular())
    }

    /// One criterion when every scope granting search on the type is granular on the same
    /// parameter, and they are all confined to the compartment or none is: the values are
    /// ORed. Other combinations (different parameters, confined and unconfined granular
    /// scopes) are not one FHIR query; their matches are filtered by [`Access::permits`].
    fn search_criterion(&self, resource_type: ResourceType) -> Option<Criterion> {
        let scopes: Vec<&Scope> = self.covering(Interaction::Search, resource_type).collect();
        let first = scopes.first()?;
        let (param, _) = first.filter()?;
        let confined = self.confined(first);
        let mut values: Vec<String> = Vec::new();
        for scope in &scopes {
            let (p, vs) = scope.filter()?;
            if p != param || self.confined(scope) != confined {
                return None;
            }
            for v in vs {
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
        }
        Some(Criterion {
            name: param.to_owned(),
            modifier: None,
            values,
        })
    }

    fn permits(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
        resource: &Value,
    ) -> bool {
        self.covering(interaction, resource_type).any(|s| {
            let in_context = match (self.confined(s), &self.context.patient) {
                (true, Some(p)) => {
                    in_patient_compartment(resource_type.as_str(), resource, p.as_str())
                }
                (true, None) => false,
                (false, _) => true,
            };
            in_context && s.matches(resource_type, resource)
        })
    }

    fn refusal(&self, interaction: Interaction, resource_type: ResourceType) -> Error {
        if self
            .without_patient
            .iter()
            .any(|s| s.covers(interaction, resource_type))
        {
            Error::new(
                IssueKind::Forbidden,
                format!(
                    "the access token's patient/ scopes for {resource_type} need a patient in \
                     context (a patient claim, or a fhirUser that is a Patient): without one \
                     there is no compartment to confine them to, so they grant nothing"
                ),
            )
        } else {
            forbidden(interaction, resource_type)
        }
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

    fn access(scopes: &str, patient: Option<&str>, patient_user: bool) -> SmartAccess {
        let context = LaunchContext {
            patient: patient.map(|p| ResourceId::parse(p).unwrap()),
            patient_user,
        };
        SmartAccess::new("s".into(), parse_all(scopes), context)
    }

    fn criterion(a: &SmartAccess, t: &str) -> Option<(String, Vec<String>)> {
        a.search_criterion(ty(t)).map(|c| (c.name, c.values))
    }

    #[test]
    fn patient_scopes_confine_to_the_compartment() {
        let p = ResourceId::parse("p1").unwrap();
        let a = access("patient/*.rs openid", Some("p1"), false);
        assert!(a.allows(Interaction::Read, ty("Observation")));
        assert!(!a.allows(Interaction::Update, ty("Observation")));
        assert_eq!(
            a.compartment(Interaction::Search, ty("Observation")),
            Some(&p)
        );
        assert!(a.filters_resources());
        assert_eq!(criterion(&a, "Observation"), None);
        let mine = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}});
        let theirs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p2"}});
        assert!(a.permits(Interaction::Read, ty("Observation"), &mine));
        assert!(!a.permits(Interaction::Read, ty("Observation"), &theirs));
    }

    #[test]
    fn patient_scopes_without_a_patient_grant_nothing_and_say_why() {
        let a = access("patient/*.rs user/Practitioner.rs", None, false);
        assert!(!a.allows(Interaction::Read, ty("Observation")));
        assert!(a.allows(Interaction::Read, ty("Practitioner")));
        let why = a.refusal(Interaction::Read, ty("Observation")).to_string();
        assert!(why.contains("patient in context"), "{why}");
        let plain = a
            .refusal(Interaction::Update, ty("Observation"))
            .to_string();
        assert!(!plain.contains("patient in context"), "{plain}");
    }

    #[test]
    fn a_patient_user_is_confined_to_their_compartment() {
        let p = ResourceId::parse("p1").unwrap();
        let a = access("user/*.rs", Some("p1"), true);
        assert_eq!(
            a.compartment(Interaction::Search, ty("Observation")),
            Some(&p)
        );
        let theirs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p2"}});
        assert!(!a.permits(Interaction::Read, ty("Observation"), &theirs));
        let practitioner = access("user/*.rs", Some("p1"), false);
        assert_eq!(
            practitioner.compartment(Interaction::Search, ty("Observation")),
            None
        );
        assert!(practitioner.permits(Interaction::Read, ty("Observation"), &theirs));
    }

    #[test]
    fn granular_scopes_become_one_criterion_when_they_can() {
        let lab = |values: &[&str]| {
            Some((
                "category".to_owned(),
                values.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            ))
        };
        let a = access("user/Observation.rs?category=laboratory", None, false);
        assert_eq!(criterion(&a, "Observation"), lab(&["laboratory"]));
        assert_eq!(criterion(&a, "Patient"), None);
        let two = access(
            "user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs,laboratory",
            None,
            false,
        );
        assert_eq!(
            criterion(&two, "Observation"),
            lab(&["laboratory", "vital-signs"])
        );
        let confined = access(
            "patient/Observation.rs?category=laboratory",
            Some("p1"),
            false,
        );
        assert_eq!(criterion(&confined, "Observation"), lab(&["laboratory"]));
        // A whole-type scope next to a granular one: nothing to narrow.
        let whole = access(
            "user/Observation.rs?category=laboratory user/Observation.rs",
            None,
            false,
        );
        assert_eq!(criterion(&whole, "Observation"), None);
        // Different parameters, or confined and unconfined scopes: not one query.
        let mixed = access(
            "user/Observation.rs?category=laboratory user/Observation.rs?code=1234-5",
            None,
            false,
        );
        assert_eq!(criterion(&mixed, "Observation"), None);
        let contexts = access(
            "patient/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs",
            Some("p1"),
            false,
        );
        assert_eq!(criterion(&contexts, "Observation"), None);
    }

    #[test]
    fn system_scopes_are_unconfined() {
        let a = access("system/Patient.rs", None, false);
        assert!(a.allows(Interaction::Search, ty("Patient")));
        assert!(!a.allows(Interaction::Search, ty("Observation")));
        assert_eq!(a.compartment(Interaction::Search, ty("Patient")), None);
        assert!(!a.filters_resources());
    }
}
