//! One patient's record: the `Patient`, then a timeline of encounters over the last ten
//! years (check-ups, chronic follow-ups, sick visits, emergencies, hospital stays), each with
//! its conditions, vital signs, labs, prescriptions, procedures, vaccines and bill.

use serde_json::{Value, json};

use super::billing::{Bill, Line};
use super::codes::{
    self, ACUTE, ADMISSION, ALLERGIES, Acute, BMP, CBC, CHECK_UP, CHRONIC, Code, EMERGENCIES,
    EMERGENCY_VISIT, FOLLOW_UP, LIPIDS, Measure, Panel, SCREENINGS, SURGERIES, SYMPTOM_VISIT,
    Treatment, UCUM, VACCINES,
};
use super::cohort;
use super::kind::{Kind, Sink};
use super::names::PAYERS;
use super::person::Person;
use super::pool::World;
use super::random::{self, Rng, below, between, normal, percent, pick, round, unit};
use super::time::{self, DAY, REFERENCE};

/// Writes patient `index` of `world` and everything that happened to them.
pub fn write(world: &World, index: u32, sink: &mut Sink) {
    let mut rng = random::stream(world.seed, u64::from(index));
    let person = Person::new(world, index, &mut rng);
    sink.push(Kind::Patient, &person.resource(&mut rng));
    cohort::join(&person, sink);
    let mut record = Record {
        world,
        rng,
        sink,
        person,
        counters: [0; Kind::COUNT],
        conditions: Vec::new(),
    };
    record.timeline();
}

/// The kinds of encounter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VisitKind {
    CheckUp,
    FollowUp,
    Symptom,
    Emergency,
    Inpatient,
}

impl VisitKind {
    fn code(self) -> Code {
        match self {
            VisitKind::CheckUp => CHECK_UP,
            VisitKind::FollowUp => FOLLOW_UP,
            VisitKind::Symptom => SYMPTOM_VISIT,
            VisitKind::Emergency => EMERGENCY_VISIT,
            VisitKind::Inpatient => ADMISSION,
        }
    }

    fn class(self) -> (&'static str, &'static str) {
        match self {
            VisitKind::Emergency => ("EMER", "emergency"),
            VisitKind::Inpatient => ("IMP", "inpatient encounter"),
            _ => ("AMB", "ambulatory"),
        }
    }

    /// Typical charge in cents, per day for hospital stays.
    fn cents(self) -> i64 {
        match self {
            VisitKind::CheckUp => 15_000,
            VisitKind::FollowUp => 12_000,
            VisitKind::Symptom => 10_000,
            VisitKind::Emergency => 65_000,
            VisitKind::Inpatient => 250_000,
        }
    }
}

/// One encounter being written.
#[derive(Debug)]
struct Visit {
    kind: VisitKind,
    id: String,
    reference: String,
    day: i64,
    start: i64,
    end: i64,
    practitioner: String,
    provider: String,
    reasons: Vec<String>,
    lines: Vec<Line>,
}

impl Visit {
    fn start_time(&self) -> String {
        time::date_time(self.start)
    }
}

/// A chronic condition the patient has been diagnosed with.
#[derive(Debug)]
struct Diagnosed {
    chronic: usize,
    reference: String,
}

struct Record<'a> {
    world: &'a World,
    rng: Rng,
    sink: &'a mut Sink,
    person: Person,
    counters: [u32; Kind::COUNT],
    conditions: Vec<Diagnosed>,
}

fn quantity(value: f64, unit: &str, decimals: u32) -> Value {
    let value = round(value, decimals);
    if decimals == 0 {
        json!({"value": value as i64, "unit": unit, "system": UCUM, "code": unit})
    } else {
        json!({"value": value, "unit": unit, "system": UCUM, "code": unit})
    }
}

fn category(system: &str, code: &str, display: &str) -> Value {
    json!([{"coding": [{"system": system, "code": code, "display": display}]}])
}

const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

fn decimals(measure: &Measure) -> u32 {
    if measure.mean >= 100.0 {
        0
    } else if measure.mean >= 10.0 {
        1
    } else {
        2
    }
}

impl Record<'_> {
    /// A fresh id of `kind` for this patient (`obs-000001-0042`).
    fn next_id(&mut self, kind: Kind) -> String {
        let counter = &mut self.counters[kind.index()];
        *counter += 1;
        format!(
            "{}-{:06}-{:04}",
            kind.prefix(),
            u64::from(self.person.index) + 1,
            counter
        )
    }

    fn timeline(&mut self) {
        let start = (self.person.birth + 1).max(REFERENCE - 3652);
        let end = self.person.end();
        if end <= start {
            return;
        }
        let mut plan: Vec<(usize, i64, i64)> = Vec::new();
        for (c, chronic) in CHRONIC.iter().enumerate() {
            if !self.person.chronic[c] {
                continue;
            }
            let earliest = self.person.birth + chronic.min_age * 365 + chronic.min_age / 4;
            let (onset, diagnosed) = if earliest < start && percent(&mut self.rng, 50) {
                (between(&mut self.rng, earliest, start - 1), start)
            } else {
                let day = between(&mut self.rng, earliest.max(start), end);
                (day, day)
            };
            plan.push((c, diagnosed, onset));
        }
        let utilization = unit(&mut self.rng);
        let count = (5 + (utilization * utilization * 54.0) as usize + 2 * plan.len()).min(56);
        let mut visit_days: Vec<i64> = (0..count)
            .map(|_| between(&mut self.rng, start, end))
            .collect();
        visit_days.sort_unstable();
        let allergies = if percent(&mut self.rng, 25) {
            1 + below(&mut self.rng, 3)
        } else {
            0
        };
        let mut diagnosed_at: Vec<(usize, usize, i64)> = plan
            .iter()
            .filter_map(|&(c, day, onset)| {
                visit_days
                    .iter()
                    .position(|&d| d >= day)
                    .map(|visit| (visit, c, onset))
            })
            .collect();
        diagnosed_at.sort_unstable();
        for (i, &day) in visit_days.iter().enumerate() {
            let kind = self.visit_kind(i, day);
            let mut visit = self.open_visit(kind, day);
            for &(_, c, onset) in diagnosed_at.iter().filter(|(v, _, _)| *v == i) {
                self.diagnose_chronic(&mut visit, c, onset);
            }
            if i == 0 {
                self.allergies(&visit, allergies);
            }
            match kind {
                VisitKind::CheckUp => self.check_up(&mut visit),
                VisitKind::FollowUp => self.follow_up(&mut visit),
                VisitKind::Symptom => {
                    let illness = *pick(&mut self.rng, &ACUTE);
                    self.illness(&mut visit, &illness, 60, 65);
                    let fever = illness.fever && percent(&mut self.rng, 60);
                    self.vitals(&visit, false, fever);
                }
                VisitKind::Emergency => {
                    let injury = *pick(&mut self.rng, &EMERGENCIES);
                    self.illness(&mut visit, &injury, 85, 70);
                    self.vitals(&visit, true, false);
                }
                VisitKind::Inpatient => self.hospital_stay(&mut visit),
            }
            self.close_visit(visit);
        }
    }

    fn visit_kind(&mut self, i: usize, day: i64) -> VisitKind {
        if i == 0 {
            return VisitKind::CheckUp;
        }
        let roll = below(&mut self.rng, 100);
        let adult = self.person.age(day) >= 18;
        match roll {
            0..28 => VisitKind::CheckUp,
            28..55 if !self.conditions.is_empty() => VisitKind::FollowUp,
            28..88 => VisitKind::Symptom,
            88..96 => VisitKind::Emergency,
            _ if adult => VisitKind::Inpatient,
            _ => VisitKind::Emergency,
        }
    }

    fn open_visit(&mut self, kind: VisitKind, day: i64) -> Visit {
        let id = self.next_id(Kind::Encounter);
        let start = day * DAY + between(&mut self.rng, 8 * 60, 17 * 60) * 60;
        let minutes = match kind {
            VisitKind::CheckUp | VisitKind::FollowUp => 30,
            VisitKind::Symptom => 20,
            VisitKind::Emergency => between(&mut self.rng, 120, 360),
            VisitKind::Inpatient => between(&mut self.rng, 1, 6) * 24 * 60,
        };
        let (practitioner, provider) = match kind {
            VisitKind::CheckUp | VisitKind::FollowUp => (
                self.person.practitioner.clone(),
                self.person.provider.clone(),
            ),
            VisitKind::Symptom => (self.random_practitioner(), self.person.provider.clone()),
            VisitKind::Emergency | VisitKind::Inpatient => {
                let provider = below(&mut self.rng, self.world.providers as usize) as u32;
                (self.random_practitioner(), self.world.provider(provider))
            }
        };
        let mut cents = kind.cents() * between(&mut self.rng, 80, 120) / 100;
        if kind == VisitKind::Inpatient {
            cents *= minutes / (24 * 60);
        }
        Visit {
            kind,
            reference: format!("Encounter/{id}"),
            id,
            day,
            start,
            end: start + minutes * 60,
            practitioner,
            provider,
            reasons: Vec::new(),
            lines: vec![Line {
                product: kind.code(),
                cents,
                procedure: None,
            }],
        }
    }

    fn random_practitioner(&mut self) -> String {
        let i = below(&mut self.rng, self.world.practitioners as usize) as u32;
        self.world.practitioner(i)
    }

    /// Writes the visit's bill and the `Encounter` itself.
    fn close_visit(&mut self, visit: Visit) {
        let claim_id = self.next_id(Kind::Claim);
        let eob_id = self.next_id(Kind::ExplanationOfBenefit);
        let start = visit.start_time();
        let end = time::date_time(visit.end);
        let (payer_name, payer_share) = PAYERS[self.person.payer.min(PAYERS.len() - 1)];
        let bill = Bill {
            claim_id: &claim_id,
            eob_id: &eob_id,
            patient: &self.person.reference,
            encounter: &visit.reference,
            provider: &visit.provider,
            payer: &self.world.payer(self.person.payer),
            payer_name,
            payer_share,
            institutional: visit.kind == VisitKind::Inpatient,
            start: &start,
            end: &end,
            diagnoses: &visit.reasons,
            lines: &visit.lines,
        };
        self.sink.push(Kind::Claim, &bill.claim());
        self.sink
            .push(Kind::ExplanationOfBenefit, &bill.explanation());
        let (class, class_display) = visit.kind.class();
        let mut encounter = json!({
            "resourceType": "Encounter",
            "id": visit.id,
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": class,
                "display": class_display
            },
            "type": [visit.kind.code().concept()],
            "subject": {"reference": self.person.reference},
            "participant": [{
                "type": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "PPRF",
                    "display": "primary performer"
                }]}],
                "individual": {"reference": visit.practitioner}
            }],
            "period": {"start": start, "end": end},
            "serviceProvider": {"reference": visit.provider}
        });
        if !visit.reasons.is_empty() {
            encounter["reasonReference"] = visit
                .reasons
                .iter()
                .map(|r| json!({"reference": r}))
                .collect();
        }
        self.sink.push(Kind::Encounter, &encounter);
    }

    /// Writes a `Condition`; returns its reference.
    fn condition(
        &mut self,
        visit: &Visit,
        code: &Code,
        onset: i64,
        abatement: Option<i64>,
        problem: bool,
    ) -> String {
        let id = self.next_id(Kind::Condition);
        let resolved = abatement.is_some_and(|day| day < REFERENCE);
        let (category_code, category_display) = if problem {
            ("problem-list-item", "Problem List Item")
        } else {
            ("encounter-diagnosis", "Encounter Diagnosis")
        };
        let mut condition = json!({
            "resourceType": "Condition",
            "id": id,
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": if resolved { "resolved" } else { "active" }
            }]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed"
            }]},
            "category": category(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                category_code,
                category_display
            ),
            "code": code.concept(),
            "subject": {"reference": self.person.reference},
            "encounter": {"reference": visit.reference},
            "onsetDateTime": time::date(onset),
            "recordedDate": visit.start_time()
        });
        if let Some(day) = abatement.filter(|_| resolved) {
            condition["abatementDateTime"] = json!(time::date(day));
        }
        self.sink.push(Kind::Condition, &condition);
        format!("Condition/{id}")
    }

    fn diagnose_chronic(&mut self, visit: &mut Visit, c: usize, onset: i64) {
        let chronic = &CHRONIC[c];
        let reference = self.condition(visit, &chronic.code, onset.min(visit.day), None, true);
        visit.reasons.push(reference.clone());
        if let Some(med) = chronic.meds.first() {
            self.prescribe(visit, med, &reference, true);
        }
        if let Some(med) = chronic.meds.get(1)
            && percent(&mut self.rng, 30)
        {
            self.prescribe(visit, med, &reference, true);
        }
        self.sink.join(c, self.person.index);
        self.conditions.push(Diagnosed {
            chronic: c,
            reference,
        });
    }

    fn prescribe(&mut self, visit: &Visit, med: &Code, reason: &str, long_term: bool) {
        let id = self.next_id(Kind::MedicationRequest);
        let current = long_term && self.person.death.is_none() && visit.day >= REFERENCE - 365;
        let (frequency, text) = if long_term {
            (1, "Take 1 tablet by mouth once daily")
        } else {
            (3, "Take 1 tablet by mouth three times daily for 10 days")
        };
        let request = json!({
            "resourceType": "MedicationRequest",
            "id": id,
            "status": if current { "active" } else { "completed" },
            "intent": "order",
            "medicationCodeableConcept": med.concept(),
            "subject": {"reference": self.person.reference},
            "encounter": {"reference": visit.reference},
            "authoredOn": visit.start_time(),
            "requester": {"reference": visit.practitioner},
            "reasonReference": [{"reference": reason}],
            "dosageInstruction": [{
                "sequence": 1,
                "text": text,
                "timing": {"repeat": {"frequency": frequency, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": quantity(1.0, "1", 0)}]
            }]
        });
        self.sink.push(Kind::MedicationRequest, &request);
    }

    fn procedure(&mut self, visit: &mut Visit, treatment: &Treatment, reason: Option<&str>) {
        let id = self.next_id(Kind::Procedure);
        let start = visit.start + 10 * 60;
        let mut procedure = json!({
            "resourceType": "Procedure",
            "id": id,
            "status": "completed",
            "code": treatment.code.concept(),
            "subject": {"reference": self.person.reference},
            "encounter": {"reference": visit.reference},
            "performedPeriod": {
                "start": time::date_time(start),
                "end": time::date_time(start + treatment.minutes * 60)
            },
            "performer": [{"actor": {"reference": visit.practitioner}}],
            "location": {"display": "Procedure room"}
        });
        if let Some(reason) = reason {
            procedure["reasonReference"] = json!([{"reference": reason}]);
        }
        self.sink.push(Kind::Procedure, &procedure);
        let cents = treatment.cents * between(&mut self.rng, 85, 115) / 100;
        visit.lines.push(Line {
            product: treatment.code,
            cents,
            procedure: Some(format!("Procedure/{id}")),
        });
    }

    fn immunize(&mut self, visit: &mut Visit, vaccine: &Code) {
        let id = self.next_id(Kind::Immunization);
        let immunization = json!({
            "resourceType": "Immunization",
            "id": id,
            "status": "completed",
            "vaccineCode": vaccine.concept(),
            "patient": {"reference": self.person.reference},
            "encounter": {"reference": visit.reference},
            "occurrenceDateTime": visit.start_time(),
            "primarySource": true,
            "lotNumber": format!("{:08X}", between(&mut self.rng, 0, 0xFFFF_FFFF)),
            "performer": [{"actor": {"reference": visit.practitioner}}]
        });
        self.sink.push(Kind::Immunization, &immunization);
        visit.lines.push(Line {
            product: *vaccine,
            cents: 14_000,
            procedure: None,
        });
    }

    fn allergies(&mut self, visit: &Visit, count: usize) {
        let first = below(&mut self.rng, ALLERGIES.len());
        for k in 0..count {
            let allergy = ALLERGIES[(first + k * 3) % ALLERGIES.len()];
            let id = self.next_id(Kind::AllergyIntolerance);
            let severe = allergy.reaction == codes::ALLERGIES[2].reaction;
            let onset = self.person.birth + between(&mut self.rng, 365, 20 * 365);
            let resource = json!({
                "resourceType": "AllergyIntolerance",
                "id": id,
                "clinicalStatus": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active"
                }]},
                "verificationStatus": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": "confirmed"
                }]},
                "type": "allergy",
                "category": [allergy.category],
                "criticality": if severe { "high" } else { "low" },
                "code": allergy.code.concept(),
                "patient": {"reference": self.person.reference},
                "encounter": {"reference": visit.reference},
                "onsetDateTime": time::date(onset.min(visit.day)),
                "recordedDate": visit.start_time(),
                "reaction": [{
                    "manifestation": [allergy.reaction.concept()],
                    "severity": if severe { "severe" } else { "mild" }
                }]
            });
            self.sink.push(Kind::AllergyIntolerance, &resource);
        }
    }

    fn check_up(&mut self, visit: &mut Visit) {
        let age = self.person.age(visit.day);
        self.vitals(visit, true, false);
        if age >= 18 {
            if percent(&mut self.rng, 30) {
                self.panel(visit, &CBC);
            }
            if percent(&mut self.rng, 30) {
                self.panel(visit, &BMP);
            }
            if age >= 20 && percent(&mut self.rng, 30) {
                self.panel(visit, &LIPIDS);
            }
        }
        for screening in &SCREENINGS {
            let fits = (screening.min_age..=screening.max_age).contains(&age)
                && screening.gender.is_none_or(|g| g == self.person.gender);
            if fits && percent(&mut self.rng, screening.percent) {
                self.procedure(visit, &screening.treatment, None);
            }
        }
        let year = time::year(visit.day);
        for vaccine in &VACCINES {
            let fits =
                (vaccine.min_age..=vaccine.max_age).contains(&age) && year >= vaccine.since_year;
            if fits && percent(&mut self.rng, vaccine.percent) {
                self.immunize(visit, &vaccine.code);
            }
        }
    }

    fn follow_up(&mut self, visit: &mut Visit) {
        self.vitals(visit, true, false);
        let mut panels: Vec<&'static Panel> = Vec::new();
        for k in 0..self.conditions.len() {
            let chronic = &CHRONIC[self.conditions[k].chronic];
            let reference = self.conditions[k].reference.clone();
            if !visit.reasons.contains(&reference) {
                visit.reasons.push(reference.clone());
            }
            if let Some(med) = chronic.meds.first()
                && percent(&mut self.rng, 70)
            {
                self.prescribe(visit, med, &reference, true);
            }
            if let Some(panel) = chronic.panel
                && !panels.iter().any(|p| p.code == panel.code)
                && percent(&mut self.rng, 60)
            {
                panels.push(panel);
            }
        }
        for panel in panels {
            self.panel(visit, panel);
        }
        if percent(&mut self.rng, 25) {
            self.procedure(visit, &SCREENINGS[1].treatment, None);
        }
    }

    /// A sick or emergency visit for `illness`: its condition, maybe a procedure (chance
    /// `procedure_percent`) and a prescription (chance `med_percent`).
    /// Returns the condition's reference.
    fn illness(
        &mut self,
        visit: &mut Visit,
        illness: &Acute,
        procedure_percent: u32,
        med_percent: u32,
    ) -> String {
        let abatement = (visit.day + illness.days).min(self.person.end());
        let reference = self.condition(visit, &illness.code, visit.day, Some(abatement), false);
        visit.reasons.push(reference.clone());
        if let Some(treatment) = illness.procedure
            && percent(&mut self.rng, procedure_percent)
        {
            self.procedure(visit, treatment, Some(&reference));
        }
        if let Some(med) = illness.med
            && percent(&mut self.rng, med_percent)
        {
            self.prescribe(visit, &med, &reference, false);
        }
        reference
    }

    fn hospital_stay(&mut self, visit: &mut Visit) {
        let reason = if !self.conditions.is_empty() && percent(&mut self.rng, 50) {
            let k = below(&mut self.rng, self.conditions.len());
            let reference = self.conditions[k].reference.clone();
            visit.reasons.push(reference.clone());
            reference
        } else {
            let pneumonia = ACUTE[ACUTE.len() - 1];
            self.illness(visit, &pneumonia, 0, 80)
        };
        self.vitals(visit, true, false);
        self.panel(visit, &CBC);
        self.panel(visit, &BMP);
        if percent(&mut self.rng, 60) {
            let mut surgery = *pick(&mut self.rng, &SURGERIES);
            let age = self.person.age(visit.day);
            if surgery.code == SURGERIES[4].code
                && !(self.person.gender == "female" && (18..=45).contains(&age))
            {
                surgery = SURGERIES[0];
            }
            self.procedure(visit, &surgery, Some(&reason));
        }
    }

    /// The common fields of an `Observation` at `visit`.
    /// Returns the new observation's reference and its common fields.
    fn observation(
        &mut self,
        visit: &Visit,
        code: &Code,
        laboratory: bool,
        minutes: i64,
    ) -> (String, Value) {
        let id = self.next_id(Kind::Observation);
        let (category_code, category_display) = if laboratory {
            ("laboratory", "Laboratory")
        } else {
            ("vital-signs", "Vital Signs")
        };
        let effective = visit.start + minutes * 60;
        let reference = format!("Observation/{id}");
        let observation = json!({
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "category": category(OBSERVATION_CATEGORY, category_code, category_display),
            "code": code.concept(),
            "subject": {"reference": self.person.reference},
            "encounter": {"reference": visit.reference},
            "effectiveDateTime": time::date_time(effective),
            "issued": time::date_time(effective + if laboratory { 3 * 3600 } else { 0 })
        });
        (reference, observation)
    }

    fn vital(&mut self, visit: &Visit, code: &Code, value: f64, unit: &str, decimals: u32) {
        let (_, mut observation) = self.observation(visit, code, false, 5);
        observation["valueQuantity"] = quantity(value, unit, decimals);
        self.sink.push(Kind::Observation, &observation);
    }

    /// Vital signs: heart rate, blood pressure and temperature, plus body measurements and
    /// respiratory rate when `full`.
    fn vitals(&mut self, visit: &Visit, full: bool, fever: bool) {
        let age_days = visit.day - self.person.birth;
        let age = self.person.age(visit.day);
        let rng = &mut self.rng;
        let heart_rate = normal(rng, self.person.heart_rate, 5.0) + if fever { 15.0 } else { 0.0 };
        let systolic = normal(rng, self.person.systolic, 6.0);
        let diastolic = systolic * 0.64 + normal(rng, 0.0, 4.0);
        let temperature = if fever {
            38.0 + unit(rng) * 1.5
        } else {
            normal(rng, 36.8, 0.2)
        };
        let height = self.person.height_at(age_days) + normal(rng, 0.0, 0.4);
        let bmi = self.person.bmi_at(age) + normal(rng, 0.0, 0.6);
        let respiration = normal(rng, 15.0, 1.5) + if fever { 4.0 } else { 0.0 };
        self.vital(visit, &codes::HEART_RATE, heart_rate, "/min", 0);
        if age >= 3 {
            let (_, mut observation) = self.observation(visit, &codes::BLOOD_PRESSURE, false, 5);
            observation["component"] = json!([
                {"code": codes::SYSTOLIC.concept(), "valueQuantity": quantity(systolic, "mm[Hg]", 0)},
                {"code": codes::DIASTOLIC.concept(), "valueQuantity": quantity(diastolic, "mm[Hg]", 0)}
            ]);
            self.sink.push(Kind::Observation, &observation);
        }
        self.vital(visit, &codes::BODY_TEMPERATURE, temperature, "Cel", 1);
        if !full {
            return;
        }
        let height = round(height, 1);
        let weight = round(bmi * height * height / 10_000.0, 1);
        self.vital(visit, &codes::BODY_HEIGHT, height, "cm", 1);
        self.vital(visit, &codes::BODY_WEIGHT, weight, "kg", 1);
        if age >= 2 {
            let bmi = weight * 10_000.0 / (height * height);
            self.vital(visit, &codes::BMI, bmi, "kg/m2", 1);
        }
        self.vital(visit, &codes::RESPIRATORY_RATE, respiration, "/min", 0);
    }

    /// A lab panel: one `Observation` per test and the `DiagnosticReport` listing them.
    fn panel(&mut self, visit: &Visit, panel: &Panel) {
        let shift = self
            .conditions
            .iter()
            .map(|d| &CHRONIC[d.chronic])
            .filter(|c| c.panel.is_some_and(|p| p.code == panel.code))
            .map(|c| c.lab_shift)
            .fold(0.0, f64::max);
        let mut results = Vec::with_capacity(panel.tests.len());
        for test in panel.tests {
            let (reference, mut observation) = self.observation(visit, &test.code, true, 15);
            let direction = if test.high.is_some() { 1.0 } else { -1.0 };
            let decimals = decimals(test);
            let value = normal(
                &mut self.rng,
                test.mean + direction * shift * test.spread,
                test.spread,
            )
            .max(0.0);
            let value = round(value, decimals);
            observation["valueQuantity"] = quantity(value, test.unit, decimals);
            let mut range = json!({});
            if let Some(low) = test.low {
                range["low"] = quantity(low, test.unit, 2);
            }
            if let Some(high) = test.high {
                range["high"] = quantity(high, test.unit, 2);
            }
            observation["referenceRange"] = json!([range]);
            let flag = if test.low.is_some_and(|low| value < low) {
                Some(("L", "Low"))
            } else if test.high.is_some_and(|high| value > high) {
                Some(("H", "High"))
            } else {
                None
            };
            if let Some((code, display)) = flag {
                observation["interpretation"] = category(
                    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    code,
                    display,
                );
            }
            results.push(json!({"reference": reference}));
            self.sink.push(Kind::Observation, &observation);
        }
        let id = self.next_id(Kind::DiagnosticReport);
        let effective = visit.start + 15 * 60;
        let report = json!({
            "resourceType": "DiagnosticReport",
            "id": id,
            "status": "final",
            "category": category("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory"),
            "code": panel.code.concept(),
            "subject": {"reference": self.person.reference},
            "encounter": {"reference": visit.reference},
            "effectiveDateTime": time::date_time(effective),
            "issued": time::date_time(effective + 3 * 3600),
            "performer": [{"reference": visit.provider}],
            "result": results
        });
        self.sink.push(Kind::DiagnosticReport, &report);
    }
}
