//! A patient's fixed traits (demographics, body, care team) and the `Patient` resource.

use serde_json::{Value, json};

use super::codes::{CHRONIC, HYPERTENSION, OBESITY};
use super::kind::Kind;
use super::names::{FAMILY, FEMALE_GIVEN, MALE_GIVEN, PAYERS};
use super::pool::{World, address, phone};
use super::random::{Rng, below, between, normal, percent, pick};
use super::time::{self, DAY, REFERENCE, days};

/// One patient's traits, drawn once and used by every resource of the record.
#[derive(Debug, Clone)]
pub struct Person {
    /// 0-based patient number.
    pub index: u32,
    /// `Patient/<id>`.
    pub reference: String,
    /// `male` or `female`.
    pub gender: &'static str,
    /// Birth day (days since 1970-01-01).
    pub birth: i64,
    /// Death day, for the deceased.
    pub death: Option<i64>,
    /// Reference of the general practitioner.
    pub practitioner: String,
    /// Reference of the usual provider organization.
    pub provider: String,
    /// Index into [`PAYERS`].
    pub payer: usize,
    /// Adult height in centimetres.
    pub height: f64,
    /// Adult body mass index.
    pub bmi: f64,
    /// Resting heart rate.
    pub heart_rate: f64,
    /// Usual systolic blood pressure.
    pub systolic: f64,
    /// Which of [`CHRONIC`] the patient will have (decided up front, diagnosed later).
    pub chronic: [bool; CHRONIC.len()],
}

impl Person {
    /// Draws patient `index` of `world`.
    pub fn new(world: &World, index: u32, rng: &mut Rng) -> Self {
        let gender = if percent(rng, 51) { "female" } else { "male" };
        let birth = between(rng, days(1930, 1, 1), days(2020, 12, 31));
        let death = (birth < days(1950, 1, 1) && percent(rng, 20)).then(|| {
            let earliest = (REFERENCE - 10 * 365).max(birth + 60 * 365);
            between(rng, earliest, REFERENCE - 30)
        });
        let end = death.unwrap_or(REFERENCE - 1);
        let age = time::age(birth, end);
        let mut chronic = [false; CHRONIC.len()];
        for (has, condition) in chronic.iter_mut().zip(CHRONIC.iter()) {
            let chance = if age < 50 {
                condition.young_percent
            } else {
                condition.old_percent
            };
            *has = age >= condition.min_age && percent(rng, chance);
        }
        let height = if gender == "female" {
            normal(rng, 163.0, 6.5)
        } else {
            normal(rng, 177.0, 7.0)
        };
        let bmi = normal(rng, 25.5, 2.5) + if chronic[OBESITY] { 8.0 } else { 0.0 };
        let systolic = normal(rng, 118.0, 7.0) + if chronic[HYPERTENSION] { 22.0 } else { 0.0 };
        Self {
            index,
            reference: format!("Patient/{}", patient_id(index)),
            gender,
            birth,
            death,
            practitioner: world.practitioner(below(rng, world.practitioners as usize) as u32),
            provider: world.provider(below(rng, world.providers as usize) as u32),
            payer: if age >= 65 {
                0
            } else {
                1 + below(rng, PAYERS.len() - 1)
            },
            height,
            bmi,
            heart_rate: normal(rng, 72.0, 7.0),
            systolic,
            chronic,
        }
    }

    /// The last day of the record: the death day, or the day before the reference date.
    pub fn end(&self) -> i64 {
        self.death.unwrap_or(REFERENCE - 1)
    }

    /// Age in whole years on `day`.
    pub fn age(&self, day: i64) -> i64 {
        time::age(self.birth, day)
    }

    /// The `Patient` resource.
    pub fn resource(&self, rng: &mut Rng) -> Value {
        let female = self.gender == "female";
        let given_names: &[&str; 24] = if female { &FEMALE_GIVEN } else { &MALE_GIVEN };
        let mut given = vec![*pick(rng, given_names)];
        if percent(rng, 40) {
            given.push(*pick(rng, given_names));
        }
        let adult = self.age(self.end()) >= 18;
        let mut name = json!({"use": "official", "family": pick(rng, &FAMILY), "given": given});
        if adult {
            name["prefix"] = json!([if female { "Ms." } else { "Mr." }]);
        }
        let mut patient = json!({
            "resourceType": "Patient",
            "id": patient_id(self.index),
            "identifier": [{
                "type": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "MR",
                    "display": "Medical record number"
                }]},
                "system": "urn:hearth:generate:mrn",
                "value": format!("MRN{:08}", u64::from(self.index) + 1)
            }],
            "active": self.death.is_none(),
            "name": [name],
            "telecom": [{"system": "phone", "value": phone(rng), "use": "home"}],
            "gender": self.gender,
            "birthDate": time::date(self.birth),
            "address": [address(rng, "home")],
            "communication": [{"language": {"coding": [{
                "system": "urn:ietf:bcp:47",
                "code": "en-US",
                "display": "English (United States)"
            }]}}],
            "generalPractitioner": [{"reference": self.practitioner}],
            "managingOrganization": {"reference": self.provider}
        });
        if let Some(death) = self.death {
            patient["deceasedDateTime"] =
                json!(time::date_time(death * DAY + between(rng, 0, DAY - 1)));
        }
        if adult {
            let (code, display) = *pick(
                rng,
                &[
                    ("M", "Married"),
                    ("S", "Never Married"),
                    ("D", "Divorced"),
                    ("W", "Widowed"),
                ],
            );
            patient["maritalStatus"] = json!({"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                "code": code,
                "display": display
            }]});
        }
        patient
    }

    /// Height in centimetres at `age_days` days old (linear growth to the adult height at 18).
    pub fn height_at(&self, age_days: i64) -> f64 {
        let adult_days = 18 * 365;
        if age_days >= adult_days {
            self.height
        } else {
            50.0 + (self.height - 50.0) * age_days.max(0) as f64 / adult_days as f64
        }
    }

    /// Body mass index at `age` years (children lower, obese patients higher).
    pub fn bmi_at(&self, age: i64) -> f64 {
        if age >= 18 {
            self.bmi
        } else {
            16.0 + (self.bmi - 25.5) * 0.5 + age as f64 * 0.1
        }
    }
}

/// The id of patient `index` (0-based).
pub fn patient_id(index: u32) -> String {
    format!("{}-{:06}", Kind::Patient.prefix(), u64::from(index) + 1)
}
