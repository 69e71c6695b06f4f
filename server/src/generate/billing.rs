//! `Claim` and `ExplanationOfBenefit`: one pair per encounter, itemising the visit, its
//! procedures and vaccines, with the encounter's conditions as diagnoses.

use serde_json::{Value, json};

use super::codes::Code;

/// One billed line.
#[derive(Debug, Clone)]
pub struct Line {
    /// What was provided.
    pub product: Code,
    /// Charge in cents.
    pub cents: i64,
    /// The `Procedure/<id>` it bills, if any.
    pub procedure: Option<String>,
}

/// Everything a claim and its explanation of benefit say.
#[derive(Debug)]
pub struct Bill<'a> {
    /// The claim's id.
    pub claim_id: &'a str,
    /// The explanation of benefit's id.
    pub eob_id: &'a str,
    /// `Patient/<id>`.
    pub patient: &'a str,
    /// `Encounter/<id>`.
    pub encounter: &'a str,
    /// `Organization/<id>` of the provider.
    pub provider: &'a str,
    /// `Organization/<id>` of the payer.
    pub payer: &'a str,
    /// The payer's name (the coverage's display).
    pub payer_name: &'a str,
    /// Percentage of charges the payer pays.
    pub payer_share: i64,
    /// Institutional (hospital) rather than professional claim.
    pub institutional: bool,
    /// Billable period start (`dateTime`).
    pub start: &'a str,
    /// Billable period end (`dateTime`), also the creation time.
    pub end: &'a str,
    /// `Condition/<id>` references diagnosed or treated.
    pub diagnoses: &'a [String],
    /// The lines.
    pub lines: &'a [Line],
}

fn money(cents: i64) -> Value {
    json!({"value": cents as f64 / 100.0, "currency": "USD"})
}

fn adjudication(code: &str, display: &str) -> Value {
    json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/adjudication",
        "code": code,
        "display": display
    }]})
}

impl Bill<'_> {
    fn claim_type(&self) -> Value {
        let (code, display) = if self.institutional {
            ("institutional", "Institutional")
        } else {
            ("professional", "Professional")
        };
        json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/claim-type",
            "code": code,
            "display": display
        }]})
    }

    fn diagnosis(&self) -> Vec<Value> {
        self.diagnoses
            .iter()
            .enumerate()
            .map(|(i, reference)| json!({"sequence": i + 1, "diagnosisReference": {"reference": reference}}))
            .collect()
    }

    fn procedure(&self) -> Vec<Value> {
        self.lines
            .iter()
            .filter_map(|line| line.procedure.as_deref())
            .enumerate()
            .map(|(i, reference)| {
                json!({"sequence": i + 1, "date": self.start, "procedureReference": {"reference": reference}})
            })
            .collect()
    }

    /// The claim's items, with `adjudicated` adding the payer's adjudication to each.
    fn items(&self, adjudicated: bool) -> Vec<Value> {
        let mut procedure_sequence = 0;
        self.lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let mut item = json!({
                    "sequence": i + 1,
                    "productOrService": line.product.concept(),
                    "servicedPeriod": {"start": self.start, "end": self.end},
                    "encounter": [{"reference": self.encounter}],
                    "net": money(line.cents)
                });
                if line.procedure.is_some() {
                    procedure_sequence += 1;
                    item["procedureSequence"] = json!([procedure_sequence]);
                } else if i == 0 && !self.diagnoses.is_empty() {
                    item["diagnosisSequence"] = json!((1..=self.diagnoses.len()).collect::<Vec<_>>());
                }
                if adjudicated {
                    let paid = line.cents * self.payer_share / 100;
                    item["adjudication"] = json!([
                        {"category": adjudication("submitted", "Submitted Amount"), "amount": money(line.cents)},
                        {"category": adjudication("benefit", "Benefit Amount"), "amount": money(paid)}
                    ]);
                }
                item
            })
            .collect()
    }

    fn total(&self) -> i64 {
        self.lines.iter().map(|l| l.cents).sum()
    }

    fn paid(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.cents * self.payer_share / 100)
            .sum()
    }

    fn insurance(&self) -> Value {
        json!([{"sequence": 1, "focal": true, "coverage": {"display": self.payer_name}}])
    }

    fn with_lists(&self, mut resource: Value) -> Value {
        let diagnosis = self.diagnosis();
        if !diagnosis.is_empty() {
            resource["diagnosis"] = Value::Array(diagnosis);
        }
        let procedure = self.procedure();
        if !procedure.is_empty() {
            resource["procedure"] = Value::Array(procedure);
        }
        resource
    }

    /// The `Claim`.
    pub fn claim(&self) -> Value {
        let claim = json!({
            "resourceType": "Claim",
            "id": self.claim_id,
            "status": "active",
            "type": self.claim_type(),
            "use": "claim",
            "patient": {"reference": self.patient},
            "billablePeriod": {"start": self.start, "end": self.end},
            "created": self.end,
            "insurer": {"reference": self.payer, "display": self.payer_name},
            "provider": {"reference": self.provider},
            "priority": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                "code": "normal"
            }]},
            "insurance": self.insurance(),
            "item": self.items(false),
            "total": money(self.total())
        });
        self.with_lists(claim)
    }

    /// The `ExplanationOfBenefit` of the claim.
    pub fn explanation(&self) -> Value {
        let total = self.total();
        let paid = self.paid();
        let eob = json!({
            "resourceType": "ExplanationOfBenefit",
            "id": self.eob_id,
            "status": "active",
            "type": self.claim_type(),
            "use": "claim",
            "patient": {"reference": self.patient},
            "billablePeriod": {"start": self.start, "end": self.end},
            "created": self.end,
            "insurer": {"reference": self.payer, "display": self.payer_name},
            "provider": {"reference": self.provider},
            "claim": {"reference": format!("Claim/{}", self.claim_id)},
            "outcome": "complete",
            "insurance": [{"focal": true, "coverage": {"display": self.payer_name}}],
            "item": self.items(true),
            "total": [
                {"category": adjudication("submitted", "Submitted Amount"), "amount": money(total)},
                {"category": adjudication("benefit", "Benefit Amount"), "amount": money(paid)}
            ],
            "payment": {"amount": money(paid)}
        });
        self.with_lists(eob)
    }
}
