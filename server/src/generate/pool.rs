//! The shared pools every patient refers to: practitioners and organizations (payers first,
//! then providers), sized in proportion to the number of patients.

use serde_json::{Value, json};

use super::kind::{Kind, Sink};
use super::names::{CITIES, FAMILY, FEMALE_GIVEN, MALE_GIVEN, PAYERS, PROVIDER_KINDS, STREETS};
use super::random::{self, Rng, between, percent, pick};

/// The sizes of the generated world and how to name its shared resources.
#[derive(Debug, Clone, Copy)]
pub struct World {
    /// The seed.
    pub seed: u64,
    /// Number of patients.
    pub patients: u32,
    /// Number of practitioners.
    pub practitioners: u32,
    /// Number of provider organizations (payers come on top).
    pub providers: u32,
}

impl World {
    /// The world of `patients` patients: `patients / 20 + 5` practitioners and as many
    /// organizations (of which the first few are the payers).
    pub fn new(seed: u64, patients: u32) -> Self {
        let pool = patients / 20 + 5;
        Self {
            seed,
            patients,
            practitioners: pool,
            providers: pool.saturating_sub(PAYERS.len() as u32).max(1),
        }
    }

    /// The reference of practitioner `i` (0-based).
    pub fn practitioner(&self, i: u32) -> String {
        format!("Practitioner/{}", practitioner_id(i))
    }

    /// The reference of provider organization `i` (0-based).
    pub fn provider(&self, i: u32) -> String {
        format!("Organization/{}", organization_id(PAYERS.len() as u32 + i))
    }

    /// The reference of payer `i` (an index into [`PAYERS`]).
    pub fn payer(&self, i: usize) -> String {
        format!("Organization/{}", organization_id(i as u32))
    }
}

fn practitioner_id(i: u32) -> String {
    format!("{}-{:04}", Kind::Practitioner.prefix(), u64::from(i) + 1)
}

fn organization_id(i: u32) -> String {
    format!("{}-{:04}", Kind::Organization.prefix(), u64::from(i) + 1)
}

/// A postal address in one of the embedded cities (`use_` is `home` or `work`).
pub fn address(rng: &mut Rng, use_: &str) -> Value {
    let city = pick(rng, &CITIES);
    json!({
        "use": use_,
        "line": [format!("{} {}", between(rng, 1, 999), pick(rng, &STREETS))],
        "city": city.name,
        "state": city.state,
        "postalCode": format!("{}{:02}", city.zip, between(rng, 0, 99)),
        "country": "US"
    })
}

/// A US-style phone number.
pub fn phone(rng: &mut Rng) -> String {
    format!(
        "555-{:03}-{:04}",
        between(rng, 100, 999),
        between(rng, 0, 9999)
    )
}

/// Writes the practitioners and organizations of `world`.
pub fn write(world: &World, sink: &mut Sink) {
    let mut rng = random::stream(world.seed, random::POOL_STREAM);
    for i in 0..world.practitioners {
        let female = percent(&mut rng, 50);
        let given = if female {
            pick(&mut rng, &FEMALE_GIVEN)
        } else {
            pick(&mut rng, &MALE_GIVEN)
        };
        let family = pick(&mut rng, &FAMILY);
        let resource = json!({
            "resourceType": "Practitioner",
            "id": practitioner_id(i),
            "identifier": [{
                "system": "http://hl7.org/fhir/sid/us-npi",
                "value": format!("99{:08}", u64::from(i) + 1)
            }],
            "active": true,
            "name": [{"use": "official", "family": family, "given": [given], "prefix": ["Dr."]}],
            "telecom": [{
                "system": "email",
                "value": format!("{}.{}{}@example.org", given.to_lowercase(), family.to_lowercase(), i + 1),
                "use": "work"
            }],
            "address": [address(&mut rng, "work")],
            "gender": if female { "female" } else { "male" },
            "qualification": [{"code": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0360|2.7",
                "code": "MD",
                "display": "Doctor of Medicine"
            }]}}]
        });
        sink.push(Kind::Practitioner, &resource);
    }
    for (i, (name, _)) in PAYERS.iter().enumerate() {
        let resource = organization(&mut rng, organization_id(i as u32), name, "pay", "Payer");
        sink.push(Kind::Organization, &resource);
    }
    for i in 0..world.providers {
        let city = pick(&mut rng, &CITIES).name;
        let name = format!("{city} {}", pick(&mut rng, &PROVIDER_KINDS));
        let id = organization_id(PAYERS.len() as u32 + i);
        let resource = organization(&mut rng, id, &name, "prov", "Healthcare Provider");
        sink.push(Kind::Organization, &resource);
    }
}

fn organization(rng: &mut Rng, id: String, name: &str, code: &str, display: &str) -> Value {
    json!({
        "resourceType": "Organization",
        "id": id,
        "identifier": [{"system": "urn:hearth:generate:organization", "value": id}],
        "active": true,
        "type": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/organization-type",
            "code": code,
            "display": display
        }]}],
        "name": name,
        "telecom": [{"system": "phone", "value": phone(rng), "use": "work"}],
        "address": [address(rng, "work")]
    })
}
