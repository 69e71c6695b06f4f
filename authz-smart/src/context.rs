//! The launch context of a SMART token: the patient in context (`patient` claim) and the
//! user (`fhirUser` claim), checked and combined into the patient whose compartment
//! confines the token's scopes.
//!
//! # Rules
//! - `fhirUser`, when present, is a relative (`Patient/123`) or absolute
//!   (`https://ehr.example/fhir/Practitioner/7`) reference to a Patient, Practitioner,
//!   PractitionerRole, RelatedPerson or Person; anything else makes the token invalid (401).
//!   Only its type and id are used (an absolute reference is trusted as the issuer's
//!   statement about a resource on this server).
//! - `patient`, when present, is a resource id; anything else makes the token invalid.
//! - The patient in context is the `patient` claim, else the `fhirUser` when it is a
//!   Patient. `patient/` scopes without one grant nothing (403 explaining why).
//! - A user who is a Patient sees only their own data: every scope of the token (`user/`,
//!   and `system/` should an issuer grant one) is confined to their compartment, exactly
//!   like `patient/` scopes. A `patient` claim naming another patient contradicts that and
//!   makes the token invalid.
//! - Other users (Practitioner, ...) and tokens without `fhirUser` get what the scopes
//!   grant: `user/` and `system/` scopes are not confined.

use hearth_interface::authz::unauthorized;
use hearth_interface::{ResourceId, ResourceType, Result};
use serde_json::{Map, Value};

/// The resource types a `fhirUser` may reference (SMART App Launch v2).
const USER_TYPES: [&str; 5] = [
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "Person",
];

/// The user a token speaks for (`fhirUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirUser {
    /// Patient, Practitioner, PractitionerRole, RelatedPerson or Person.
    pub resource_type: ResourceType,
    /// The user's resource id.
    pub id: ResourceId,
}

impl FhirUser {
    /// Parses a relative or absolute (http/https) reference to a user resource; `None`
    /// for anything else (other types, queries, fragments, versions, malformed ids).
    pub fn parse(reference: &str) -> Option<Self> {
        let path = match reference.split_once("://") {
            Some((scheme, rest)) => {
                if scheme != "https" && scheme != "http" {
                    return None;
                }
                // Skip the authority: the reference is the path's last two segments.
                rest.split_once('/')?.1
            }
            None => reference,
        };
        if path.contains(['?', '#']) {
            return None;
        }
        let mut segments = path.rsplit('/');
        let (id, ty) = (segments.next()?, segments.next()?);
        if reference.split_once("://").is_none() && segments.next().is_some() {
            return None;
        }
        if !USER_TYPES.contains(&ty) {
            return None;
        }
        Some(Self {
            resource_type: ResourceType::parse(ty)?,
            id: ResourceId::parse(id).ok()?,
        })
    }

    /// Whether the user is a Patient.
    pub fn is_patient(&self) -> bool {
        self.resource_type.as_str() == "Patient"
    }
}

/// The checked launch context of a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchContext {
    /// The patient whose compartment confines the token's confined scopes.
    pub patient: Option<ResourceId>,
    /// Whether the user is that patient: then every scope is confined.
    pub patient_user: bool,
}

impl LaunchContext {
    /// The context of a verified token's claims.
    ///
    /// # Errors
    /// `Unauthorized` when `fhirUser` or `patient` is malformed, or they name different
    /// patients.
    pub fn of(claims: &Map<String, Value>) -> Result<Self> {
        let user = match claims.get("fhirUser") {
            None => None,
            Some(value) => Some(value.as_str().and_then(FhirUser::parse).ok_or_else(|| {
                unauthorized(
                    "the fhirUser claim must reference a Patient, Practitioner, \
                     PractitionerRole, RelatedPerson or Person",
                )
            })?),
        };
        let patient = match claims.get("patient") {
            None => None,
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|p| ResourceId::parse(p).ok())
                    .ok_or_else(|| unauthorized("the patient claim must be a resource id"))?,
            ),
        };
        let user_patient = user.filter(FhirUser::is_patient).map(|u| u.id);
        if let (Some(p), Some(u)) = (&patient, &user_patient)
            && p != u
        {
            return Err(unauthorized(
                "the patient claim names another patient than the fhirUser patient",
            ));
        }
        Ok(Self {
            patient_user: user_patient.is_some(),
            patient: patient.or(user_patient),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(text: &str) -> Option<(String, String)> {
        FhirUser::parse(text).map(|u| (u.resource_type.to_string(), u.id.to_string()))
    }

    #[test]
    fn fhir_user_references() {
        let p = Some(("Patient".to_owned(), "p1".to_owned()));
        assert_eq!(user("Patient/p1"), p);
        assert_eq!(user("https://ehr.example/fhir/Patient/p1"), p);
        assert_eq!(user("http://127.0.0.1:8080/Patient/p1"), p);
        assert!(user("Practitioner/d").is_some());
        assert!(user("PractitionerRole/r").is_some());
        assert!(user("RelatedPerson/r").is_some());
        assert!(user("Person/x").is_some());
        for bad in [
            "",
            "p1",
            "Observation/o1",
            "Patient/",
            "Patient/bad id",
            "x/Patient/p1",
            "Patient/p1/_history/1",
            "ftp://host/Patient/p1",
            "https://host/Patient/p1?x=1",
            "https://host/Patient/p1#a",
            "urn:uuid:1234",
        ] {
            assert_eq!(user(bad), None, "{bad}");
        }
    }

    fn context(claims: Value) -> Result<LaunchContext> {
        LaunchContext::of(claims.as_object().unwrap())
    }

    #[test]
    fn launch_context() {
        let p1 = ResourceId::parse("p1").ok();
        let c = context(json!({"patient": "p1"})).unwrap();
        assert_eq!((c.patient.clone(), c.patient_user), (p1.clone(), false));
        let c = context(json!({"fhirUser": "Patient/p1"})).unwrap();
        assert_eq!((c.patient.clone(), c.patient_user), (p1.clone(), true));
        let c = context(json!({"fhirUser": "Practitioner/d", "patient": "p1"})).unwrap();
        assert_eq!((c.patient.clone(), c.patient_user), (p1.clone(), false));
        let c = context(json!({"fhirUser": "Patient/p1", "patient": "p1"})).unwrap();
        assert_eq!((c.patient, c.patient_user), (p1, true));
        assert_eq!(context(json!({})).unwrap(), LaunchContext::default());
        assert!(context(json!({"fhirUser": "Patient/p1", "patient": "p2"})).is_err());
        assert!(context(json!({"fhirUser": "Device/d"})).is_err());
        assert!(context(json!({"fhirUser": 7})).is_err());
        assert!(context(json!({"patient": "not an id"})).is_err());
    }
}
