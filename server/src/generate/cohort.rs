//! Cohort `Group`s listing patients as `member.entity`: one per long-term condition (members
//! join when diagnosed), the patients aged 65 and over, and all patients.

use serde_json::{Value, json};

use super::codes::{AGE, CHRONIC, CLINICAL_FINDING, UCUM};
use super::kind::{Kind, Sink};
use super::person::{Person, patient_id};
use super::time::REFERENCE;

/// The cohort of every patient.
pub const ALL_PATIENTS: usize = CHRONIC.len();
/// The cohort of living patients aged 65 and over on the reference date.
pub const SENIORS: usize = CHRONIC.len() + 1;
/// Number of cohorts: the conditions of [`CHRONIC`] (same indexes), then the two above.
pub const COUNT: usize = CHRONIC.len() + 2;

/// Records `person`'s membership of the demographic cohorts.
pub fn join(person: &Person, sink: &mut Sink) {
    sink.join(ALL_PATIENTS, person.index);
    if person.death.is_none() && person.age(REFERENCE) >= 65 {
        sink.join(SENIORS, person.index);
    }
}

/// Writes one `Group` per cohort; `members[c]` lists cohort `c`'s patients (0-based).
pub fn write(members: &[Vec<u32>], sink: &mut Sink) {
    for (cohort, patients) in members.iter().enumerate().take(COUNT) {
        let (slug, name, characteristic) = describe(cohort);
        let mut group = json!({
            "resourceType": "Group",
            "id": format!("{}-{slug}", Kind::Group.prefix()),
            "active": true,
            "type": "person",
            "actual": true,
            "name": name,
            "quantity": patients.len()
        });
        if let Some(characteristic) = characteristic {
            group["characteristic"] = json!([characteristic]);
        }
        if !patients.is_empty() {
            group["member"] = patients
                .iter()
                .map(|&p| json!({"entity": {"reference": format!("Patient/{}", patient_id(p))}}))
                .collect();
        }
        sink.push(Kind::Group, &group);
    }
}

/// The slug, name and characteristic of cohort `cohort`.
fn describe(cohort: usize) -> (&'static str, String, Option<Value>) {
    match CHRONIC.get(cohort) {
        Some(chronic) => (
            chronic.slug,
            format!("Patients with {}", chronic.code.display),
            Some(json!({
                "code": CLINICAL_FINDING.concept(),
                "valueCodeableConcept": chronic.code.concept(),
                "exclude": false
            })),
        ),
        None if cohort == SENIORS => (
            "aged-65-plus",
            "Living patients aged 65 and over".to_owned(),
            Some(json!({
                "code": AGE.concept(),
                "valueRange": {"low": {"value": 65, "unit": "a", "system": UCUM, "code": "a"}},
                "exclude": false
            })),
        ),
        None => ("all-patients", "All patients".to_owned(), None),
    }
}
