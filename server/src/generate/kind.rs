//! The resource types the generator writes, and the per-block output buffers.

use std::fmt;

use serde_json::Value;

/// A generated resource type (one NDJSON file each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `Patient`.
    Patient,
    /// `Practitioner` (shared pool).
    Practitioner,
    /// `Organization` (shared pool: payers, then providers).
    Organization,
    /// `Encounter`.
    Encounter,
    /// `Condition`.
    Condition,
    /// `Observation` (vital signs and labs).
    Observation,
    /// `MedicationRequest`.
    MedicationRequest,
    /// `Procedure`.
    Procedure,
    /// `Immunization`.
    Immunization,
    /// `AllergyIntolerance`.
    AllergyIntolerance,
    /// `DiagnosticReport` (lab panels).
    DiagnosticReport,
    /// `Claim` (one per encounter).
    Claim,
    /// `ExplanationOfBenefit` (one per claim).
    ExplanationOfBenefit,
    /// `Group` (cohorts of patients).
    Group,
}

impl Kind {
    /// How many kinds there are.
    pub const COUNT: usize = 14;

    /// Every kind, in file order.
    pub const ALL: [Kind; Kind::COUNT] = [
        Kind::Patient,
        Kind::Practitioner,
        Kind::Organization,
        Kind::Encounter,
        Kind::Condition,
        Kind::Observation,
        Kind::MedicationRequest,
        Kind::Procedure,
        Kind::Immunization,
        Kind::AllergyIntolerance,
        Kind::DiagnosticReport,
        Kind::Claim,
        Kind::ExplanationOfBenefit,
        Kind::Group,
    ];

    /// The FHIR resource type name (also the file's base name).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Patient => "Patient",
            Kind::Practitioner => "Practitioner",
            Kind::Organization => "Organization",
            Kind::Encounter => "Encounter",
            Kind::Condition => "Condition",
            Kind::Observation => "Observation",
            Kind::MedicationRequest => "MedicationRequest",
            Kind::Procedure => "Procedure",
            Kind::Immunization => "Immunization",
            Kind::AllergyIntolerance => "AllergyIntolerance",
            Kind::DiagnosticReport => "DiagnosticReport",
            Kind::Claim => "Claim",
            Kind::ExplanationOfBenefit => "ExplanationOfBenefit",
            Kind::Group => "Group",
        }
    }

    /// The prefix of the kind's ids (`enc-000001-0001`).
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::Patient => "pat",
            Kind::Practitioner => "prac",
            Kind::Organization => "org",
            Kind::Encounter => "enc",
            Kind::Condition => "cond",
            Kind::Observation => "obs",
            Kind::MedicationRequest => "medrx",
            Kind::Procedure => "proc",
            Kind::Immunization => "imm",
            Kind::AllergyIntolerance => "alg",
            Kind::DiagnosticReport => "rpt",
            Kind::Claim => "clm",
            Kind::ExplanationOfBenefit => "eob",
            Kind::Group => "grp",
        }
    }

    /// The position in [`Kind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Serialized resources of one block of patients, one NDJSON buffer per kind, plus the
/// block's cohort memberships.
#[derive(Debug)]
pub struct Sink {
    buffers: [Vec<u8>; Kind::COUNT],
    counts: [u64; Kind::COUNT],
    members: Vec<(usize, u32)>,
    error: Option<String>,
}

impl Default for Sink {
    fn default() -> Self {
        Self {
            buffers: std::array::from_fn(|_| Vec::new()),
            counts: [0; Kind::COUNT],
            members: Vec::new(),
            error: None,
        }
    }
}

impl Sink {
    /// Appends `resource` as one NDJSON line of `kind`.
    pub fn push(&mut self, kind: Kind, resource: &Value) {
        let buffer = &mut self.buffers[kind.index()];
        let start = buffer.len();
        match serde_json::to_writer(&mut *buffer, resource) {
            Ok(()) => {
                buffer.push(b'\n');
                self.counts[kind.index()] += 1;
            }
            Err(e) => {
                buffer.truncate(start);
                self.error
                    .get_or_insert_with(|| format!("cannot serialize a {kind}: {e}"));
            }
        }
    }

    /// Records that patient `patient` (0-based) belongs to cohort `cohort`.
    pub fn join(&mut self, cohort: usize, patient: u32) {
        self.members.push((cohort, patient));
    }

    /// The NDJSON bytes of `kind`.
    pub fn bytes(&self, kind: Kind) -> &[u8] {
        &self.buffers[kind.index()]
    }

    /// How many resources of each kind (indexed like [`Kind::ALL`]).
    pub fn counts(&self) -> &[u64; Kind::COUNT] {
        &self.counts
    }

    /// The cohort memberships, in the order recorded.
    pub fn members(&self) -> &[(usize, u32)] {
        &self.members
    }

    /// The first serialization failure, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}
