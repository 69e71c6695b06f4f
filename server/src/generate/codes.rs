//! The embedded code tables: a few dozen LOINC, SNOMED CT, RxNorm and CVX concepts with their
//! displays, and the clinical facts the generator attaches to them (units, reference ranges,
//! typical costs, who gets them).

use serde_json::{Value, json};

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// RxNorm.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// CVX (vaccines administered).
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
/// UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// One concept of a code system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The code system URI.
    pub system: &'static str,
    /// The code.
    pub code: &'static str,
    /// The human-readable display.
    pub display: &'static str,
}

impl Code {
    /// The concept as a FHIR `Coding`.
    pub fn coding(&self) -> Value {
        json!({"system": self.system, "code": self.code, "display": self.display})
    }

    /// The concept as a FHIR `CodeableConcept` with one coding and the display as text.
    pub fn concept(&self) -> Value {
        json!({"coding": [self.coding()], "text": self.display})
    }
}

const fn loinc(code: &'static str, display: &'static str) -> Code {
    Code {
        system: LOINC,
        code,
        display,
    }
}

const fn snomed(code: &'static str, display: &'static str) -> Code {
    Code {
        system: SNOMED,
        code,
        display,
    }
}

const fn rxnorm(code: &'static str, display: &'static str) -> Code {
    Code {
        system: RXNORM,
        code,
        display,
    }
}

const fn cvx(code: &'static str, display: &'static str) -> Code {
    Code {
        system: CVX,
        code,
        display,
    }
}

/// A vital sign or lab measurement: its LOINC code, UCUM unit and value distribution.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// The LOINC code.
    pub code: Code,
    /// The UCUM unit code (also used as the human unit).
    pub unit: &'static str,
    /// The typical (mean) value.
    pub mean: f64,
    /// The spread (standard deviation) of values.
    pub spread: f64,
    /// The normal range's lower bound, if it has one.
    pub low: Option<f64>,
    /// The normal range's upper bound, if it has one.
    pub high: Option<f64>,
}

const fn measure(
    code: Code,
    unit: &'static str,
    mean: f64,
    spread: f64,
    low: Option<f64>,
    high: Option<f64>,
) -> Measure {
    Measure {
        code,
        unit,
        mean,
        spread,
        low,
        high,
    }
}

/// Heart rate.
pub const HEART_RATE: Code = loinc("8867-4", "Heart rate");
/// Blood pressure panel (systolic and diastolic as components).
pub const BLOOD_PRESSURE: Code =
    loinc("85354-9", "Blood pressure panel with all children optional");
/// Systolic blood pressure.
pub const SYSTOLIC: Code = loinc("8480-6", "Systolic blood pressure");
/// Diastolic blood pressure.
pub const DIASTOLIC: Code = loinc("8462-4", "Diastolic blood pressure");
/// Body weight.
pub const BODY_WEIGHT: Code = loinc("29463-7", "Body weight");
/// Body height.
pub const BODY_HEIGHT: Code = loinc("8302-2", "Body height");
/// Body mass index.
pub const BMI: Code = loinc("39156-5", "Body mass index (BMI) [Ratio]");
/// Body temperature.
pub const BODY_TEMPERATURE: Code = loinc("8310-5", "Body temperature");
/// Respiratory rate.
pub const RESPIRATORY_RATE: Code = loinc("9279-1", "Respiratory rate");

/// A lab panel: the DiagnosticReport's code and the Observations it holds.
#[derive(Debug, Clone, Copy)]
pub struct Panel {
    /// The panel's LOINC code.
    pub code: Code,
    /// Its member tests.
    pub tests: &'static [Measure],
}

/// Complete blood count.
pub const CBC: Panel = Panel {
    code: loinc("58410-2", "CBC panel - Blood by Automated count"),
    tests: &[
        measure(
            loinc("718-7", "Hemoglobin [Mass/volume] in Blood"),
            "g/dL",
            14.2,
            1.3,
            Some(12.0),
            Some(17.5),
        ),
        measure(
            loinc(
                "4544-3",
                "Hematocrit [Volume Fraction] of Blood by Automated count",
            ),
            "%",
            42.0,
            3.8,
            Some(36.0),
            Some(50.0),
        ),
        measure(
            loinc(
                "6690-2",
                "Leukocytes [#/volume] in Blood by Automated count",
            ),
            "10*3/uL",
            7.2,
            1.9,
            Some(4.5),
            Some(11.0),
        ),
        measure(
            loinc("777-3", "Platelets [#/volume] in Blood by Automated count"),
            "10*3/uL",
            260.0,
            60.0,
            Some(150.0),
            Some(400.0),
        ),
    ],
};

/// Basic metabolic panel.
pub const BMP: Panel = Panel {
    code: loinc("51990-0", "Basic metabolic panel - Blood"),
    tests: &[
        measure(
            loinc("2339-0", "Glucose [Mass/volume] in Blood"),
            "mg/dL",
            92.0,
            14.0,
            Some(70.0),
            Some(99.0),
        ),
        measure(
            loinc("6299-2", "Urea nitrogen [Mass/volume] in Blood"),
            "mg/dL",
            14.0,
            4.0,
            Some(7.0),
            Some(20.0),
        ),
        measure(
            loinc("38483-4", "Creatinine [Mass/volume] in Blood"),
            "mg/dL",
            0.95,
            0.2,
            Some(0.6),
            Some(1.3),
        ),
        measure(
            loinc("49765-1", "Calcium [Mass/volume] in Blood"),
            "mg/dL",
            9.4,
            0.45,
            Some(8.6),
            Some(10.3),
        ),
        measure(
            loinc("2947-0", "Sodium [Moles/volume] in Blood"),
            "mmol/L",
            140.0,
            2.5,
            Some(136.0),
            Some(145.0),
        ),
        measure(
            loinc("6298-4", "Potassium [Moles/volume] in Blood"),
            "mmol/L",
            4.3,
            0.4,
            Some(3.5),
            Some(5.1),
        ),
    ],
};

/// Lipid panel.
pub const LIPIDS: Panel = Panel {
    code: loinc("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
    tests: &[
        measure(
            loinc("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            190.0,
            30.0,
            None,
            Some(200.0),
        ),
        measure(
            loinc("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            130.0,
            40.0,
            None,
            Some(150.0),
        ),
        measure(
            loinc(
                "18262-6",
                "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
            ),
            "mg/dL",
            110.0,
            25.0,
            None,
            Some(130.0),
        ),
        measure(
            loinc(
                "2085-9",
                "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
            ),
            "mg/dL",
            55.0,
            12.0,
            Some(40.0),
            None,
        ),
    ],
};

/// Hemoglobin A1c.
pub const A1C: Panel = Panel {
    code: loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    tests: &[measure(
        loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        "%",
        5.4,
        0.4,
        Some(4.0),
        Some(5.6),
    )],
};

/// Thyroid stimulating hormone.
pub const THYROID: Panel = Panel {
    code: loinc("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
    tests: &[measure(
        loinc("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
        "m[IU]/L",
        2.0,
        0.9,
        Some(0.4),
        Some(4.0),
    )],
};

/// A long-term condition: who gets it and how it is treated and followed.
#[derive(Debug, Clone, Copy)]
pub struct Chronic {
    /// The SNOMED code.
    pub code: Code,
    /// The cohort Group's id and short name.
    pub slug: &'static str,
    /// Youngest age (years) at diagnosis.
    pub min_age: i64,
    /// Chance (percent) of having it by the end of the record, for patients under 50.
    pub young_percent: u32,
    /// Chance (percent) for patients 50 and older.
    pub old_percent: u32,
    /// Medications prescribed for it (the first is the usual one).
    pub meds: &'static [Code],
    /// The lab panel followed at its visits.
    pub panel: Option<&'static Panel>,
    /// How much it shifts lab values of its panel (in spreads).
    pub lab_shift: f64,
}

/// The long-term conditions (also the cohort Groups).
pub const CHRONIC: [Chronic; 12] = [
    Chronic {
        code: snomed("59621000", "Essential hypertension (disorder)"),
        slug: "hypertension",
        min_age: 18,
        young_percent: 8,
        old_percent: 45,
        meds: &[
            rxnorm("314076", "lisinopril 10 MG Oral Tablet"),
            rxnorm("197361", "amlodipine 5 MG Oral Tablet"),
            rxnorm("310798", "Hydrochlorothiazide 25 MG Oral Tablet"),
        ],
        panel: Some(&BMP),
        lab_shift: 0.3,
    },
    Chronic {
        code: snomed("44054006", "Diabetes mellitus type 2 (disorder)"),
        slug: "diabetes",
        min_age: 25,
        young_percent: 4,
        old_percent: 18,
        meds: &[rxnorm(
            "860975",
            "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        )],
        panel: Some(&A1C),
        lab_shift: 4.0,
    },
    Chronic {
        code: snomed("55822004", "Hyperlipidemia (disorder)"),
        slug: "hyperlipidemia",
        min_age: 25,
        young_percent: 6,
        old_percent: 30,
        meds: &[
            rxnorm("259255", "atorvastatin 80 MG Oral Tablet"),
            rxnorm("312961", "simvastatin 20 MG Oral Tablet"),
        ],
        panel: Some(&LIPIDS),
        lab_shift: 1.5,
    },
    Chronic {
        code: snomed("195967001", "Asthma (disorder)"),
        slug: "asthma",
        min_age: 2,
        young_percent: 9,
        old_percent: 7,
        meds: &[
            rxnorm(
                "895994",
                "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
            ),
            rxnorm(
                "745679",
                "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
            ),
        ],
        panel: None,
        lab_shift: 0.0,
    },
    Chronic {
        code: snomed("13645005", "Chronic obstructive lung disease (disorder)"),
        slug: "copd",
        min_age: 45,
        young_percent: 0,
        old_percent: 8,
        meds: &[rxnorm(
            "745679",
            "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        )],
        panel: Some(&CBC),
        lab_shift: 0.2,
    },
    Chronic {
        code: snomed("709044004", "Chronic kidney disease (disorder)"),
        slug: "ckd",
        min_age: 40,
        young_percent: 1,
        old_percent: 10,
        meds: &[rxnorm("314076", "lisinopril 10 MG Oral Tablet")],
        panel: Some(&BMP),
        lab_shift: 1.2,
    },
    Chronic {
        code: snomed("53741008", "Coronary arteriosclerosis (disorder)"),
        slug: "coronary-disease",
        min_age: 40,
        young_percent: 1,
        old_percent: 9,
        meds: &[
            rxnorm("243670", "aspirin 81 MG Oral Tablet"),
            rxnorm("259255", "atorvastatin 80 MG Oral Tablet"),
        ],
        panel: Some(&LIPIDS),
        lab_shift: 0.8,
    },
    Chronic {
        code: snomed("49436004", "Atrial fibrillation (disorder)"),
        slug: "atrial-fibrillation",
        min_age: 50,
        young_percent: 0,
        old_percent: 6,
        meds: &[rxnorm("855332", "warfarin sodium 5 MG Oral Tablet")],
        panel: Some(&CBC),
        lab_shift: 0.0,
    },
    Chronic {
        code: snomed("35489007", "Depressive disorder (disorder)"),
        slug: "depression",
        min_age: 12,
        young_percent: 10,
        old_percent: 8,
        meds: &[rxnorm("312938", "sertraline 100 MG Oral Tablet")],
        panel: None,
        lab_shift: 0.0,
    },
    Chronic {
        code: snomed("40930008", "Hypothyroidism (disorder)"),
        slug: "hypothyroidism",
        min_age: 18,
        young_percent: 3,
        old_percent: 8,
        meds: &[rxnorm(
            "966222",
            "levothyroxine sodium 0.075 MG Oral Tablet",
        )],
        panel: Some(&THYROID),
        lab_shift: 2.5,
    },
    Chronic {
        code: snomed("239873007", "Osteoarthritis of knee (disorder)"),
        slug: "osteoarthritis",
        min_age: 40,
        young_percent: 2,
        old_percent: 15,
        meds: &[
            rxnorm("313782", "acetaminophen 325 MG Oral Tablet"),
            rxnorm("310965", "ibuprofen 200 MG Oral Tablet"),
        ],
        panel: None,
        lab_shift: 0.0,
    },
    Chronic {
        code: snomed("162864005", "Body mass index 30+ - obesity (finding)"),
        slug: "obesity",
        min_age: 6,
        young_percent: 15,
        old_percent: 25,
        meds: &[],
        panel: Some(&A1C),
        lab_shift: 0.8,
    },
];

/// Index of obesity in [`CHRONIC`] (raises the body mass index).
pub const OBESITY: usize = 11;
/// Index of hypertension in [`CHRONIC`] (raises the blood pressure).
pub const HYPERTENSION: usize = 0;

/// A short illness seen at a sick visit or in the emergency department.
#[derive(Debug, Clone, Copy)]
pub struct Acute {
    /// The SNOMED code.
    pub code: Code,
    /// Days until it resolves.
    pub days: i64,
    /// The usual prescription, if any.
    pub med: Option<Code>,
    /// The usual procedure, if any.
    pub procedure: Option<&'static Treatment>,
    /// Whether it comes with fever.
    pub fever: bool,
}

/// A procedure with its typical cost.
#[derive(Debug, Clone, Copy)]
pub struct Treatment {
    /// The SNOMED code.
    pub code: Code,
    /// Typical charge in cents.
    pub cents: i64,
    /// Minutes it takes.
    pub minutes: i64,
}

const fn treatment(code: Code, cents: i64, minutes: i64) -> Treatment {
    Treatment {
        code,
        cents,
        minutes,
    }
}

const THROAT_CULTURE: Treatment =
    treatment(snomed("117015009", "Throat culture (procedure)"), 4_500, 10);
const URINE_CULTURE: Treatment =
    treatment(snomed("104177005", "Urine culture (procedure)"), 3_800, 10);
const CHEST_XRAY: Treatment = treatment(
    snomed("399208008", "Plain chest X-ray (procedure)"),
    18_000,
    20,
);
const ANKLE_XRAY: Treatment = treatment(
    snomed("19490002", "Radiography of ankle (procedure)"),
    15_000,
    20,
);
const SUTURE: Treatment = treatment(
    snomed("288086009", "Suture open wound (procedure)"),
    32_000,
    30,
);
const ECG: Treatment = treatment(
    snomed("29303009", "Electrocardiographic procedure (procedure)"),
    9_000,
    15,
);

/// Illnesses of sick visits.
pub const ACUTE: [Acute; 8] = [
    Acute {
        code: snomed("444814009", "Viral sinusitis (disorder)"),
        days: 14,
        med: None,
        procedure: None,
        fever: false,
    },
    Acute {
        code: snomed("195662009", "Acute viral pharyngitis (disorder)"),
        days: 10,
        med: Some(rxnorm("313782", "acetaminophen 325 MG Oral Tablet")),
        procedure: Some(&THROAT_CULTURE),
        fever: true,
    },
    Acute {
        code: snomed("10509002", "Acute bronchitis (disorder)"),
        days: 21,
        med: Some(rxnorm("313782", "acetaminophen 325 MG Oral Tablet")),
        procedure: Some(&CHEST_XRAY),
        fever: true,
    },
    Acute {
        code: snomed("43878008", "Streptococcal sore throat (disorder)"),
        days: 10,
        med: Some(rxnorm(
            "834061",
            "penicillin V potassium 250 MG Oral Tablet",
        )),
        procedure: Some(&THROAT_CULTURE),
        fever: true,
    },
    Acute {
        code: snomed("65363002", "Otitis media (disorder)"),
        days: 14,
        med: Some(rxnorm("308182", "amoxicillin 250 MG Oral Capsule")),
        procedure: None,
        fever: true,
    },
    Acute {
        code: snomed("68566005", "Urinary tract infectious disease (disorder)"),
        days: 10,
        med: Some(rxnorm(
            "562251",
            "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet",
        )),
        procedure: Some(&URINE_CULTURE),
        fever: false,
    },
    Acute {
        code: snomed("36971009", "Sinusitis (disorder)"),
        days: 14,
        med: Some(rxnorm("308182", "amoxicillin 250 MG Oral Capsule")),
        procedure: None,
        fever: false,
    },
    Acute {
        code: snomed("233604007", "Pneumonia (disorder)"),
        days: 28,
        med: Some(rxnorm(
            "562251",
            "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet",
        )),
        procedure: Some(&CHEST_XRAY),
        fever: true,
    },
];

/// Injuries and emergencies seen in the emergency department.
pub const EMERGENCIES: [Acute; 5] = [
    Acute {
        code: snomed("44465007", "Sprain of ankle (disorder)"),
        days: 28,
        med: Some(rxnorm("310965", "ibuprofen 200 MG Oral Tablet")),
        procedure: Some(&ANKLE_XRAY),
        fever: false,
    },
    Acute {
        code: snomed("284551006", "Laceration of foot (disorder)"),
        days: 21,
        med: Some(rxnorm("313782", "acetaminophen 325 MG Oral Tablet")),
        procedure: Some(&SUTURE),
        fever: false,
    },
    Acute {
        code: snomed("370247008", "Facial laceration (disorder)"),
        days: 14,
        med: None,
        procedure: Some(&SUTURE),
        fever: false,
    },
    Acute {
        code: snomed("29857009", "Chest pain (finding)"),
        days: 2,
        med: Some(rxnorm("243670", "aspirin 81 MG Oral Tablet")),
        procedure: Some(&ECG),
        fever: false,
    },
    Acute {
        code: snomed(
            "62106007",
            "Concussion with no loss of consciousness (disorder)",
        ),
        days: 30,
        med: Some(rxnorm("313782", "acetaminophen 325 MG Oral Tablet")),
        procedure: None,
        fever: false,
    },
];

/// Procedures of hospital stays.
pub const SURGERIES: [Treatment; 5] = [
    treatment(
        snomed("80146002", "Excision of appendix (procedure)"),
        1_250_000,
        90,
    ),
    treatment(
        snomed("38102005", "Excision of gallbladder (procedure)"),
        1_480_000,
        120,
    ),
    treatment(
        snomed(
            "36969009",
            "Placement of stent in coronary artery (procedure)",
        ),
        2_900_000,
        150,
    ),
    treatment(
        snomed("609588000", "Total knee replacement (procedure)"),
        3_250_000,
        180,
    ),
    treatment(
        snomed("11466000", "Cesarean section (procedure)"),
        1_600_000,
        90,
    ),
];

/// A screening done at a check-up.
#[derive(Debug, Clone, Copy)]
pub struct Screening {
    /// The procedure.
    pub treatment: Treatment,
    /// Youngest age.
    pub min_age: i64,
    /// Oldest age.
    pub max_age: i64,
    /// Only for this administrative gender, if set.
    pub gender: Option<&'static str>,
    /// Chance (percent) per check-up.
    pub percent: u32,
}

/// Check-up screenings.
pub const SCREENINGS: [Screening; 6] = [
    Screening {
        treatment: treatment(
            snomed("171207006", "Depression screening (procedure)"),
            2_500,
            10,
        ),
        min_age: 12,
        max_age: 200,
        gender: None,
        percent: 35,
    },
    Screening {
        treatment: treatment(
            snomed("430193006", "Medication reconciliation (procedure)"),
            1_500,
            10,
        ),
        min_age: 18,
        max_age: 200,
        gender: None,
        percent: 30,
    },
    Screening {
        treatment: treatment(
            snomed("24623002", "Screening mammography (procedure)"),
            24_000,
            30,
        ),
        min_age: 40,
        max_age: 75,
        gender: Some("female"),
        percent: 35,
    },
    Screening {
        treatment: treatment(snomed("73761001", "Colonoscopy (procedure)"), 160_000, 60),
        min_age: 45,
        max_age: 75,
        gender: None,
        percent: 8,
    },
    Screening {
        treatment: treatment(
            snomed(
                "90226004",
                "Cytopathology procedure, preparation of smear, genital source (procedure)",
            ),
            6_000,
            15,
        ),
        min_age: 21,
        max_age: 65,
        gender: Some("female"),
        percent: 20,
    },
    Screening {
        treatment: treatment(
            snomed(
                "36228007",
                "Ophthalmic examination and evaluation (procedure)",
            ),
            9_500,
            20,
        ),
        min_age: 3,
        max_age: 200,
        gender: None,
        percent: 10,
    },
];

/// A vaccine and the ages it is given at.
#[derive(Debug, Clone, Copy)]
pub struct Vaccine {
    /// The CVX code.
    pub code: Code,
    /// Youngest age (years).
    pub min_age: i64,
    /// Oldest age (years).
    pub max_age: i64,
    /// Chance (percent) per check-up in that age band.
    pub percent: u32,
    /// Earliest year it exists.
    pub since_year: i64,
}

const fn vaccine(code: Code, min_age: i64, max_age: i64, percent: u32, since_year: i64) -> Vaccine {
    Vaccine {
        code,
        min_age,
        max_age,
        percent,
        since_year,
    }
}

/// Vaccines.
pub const VACCINES: [Vaccine; 12] = [
    vaccine(
        cvx("140", "Influenza, seasonal, injectable, preservative free"),
        0,
        200,
        55,
        0,
    ),
    vaccine(cvx("08", "Hep B, adolescent or pediatric"), 0, 1, 70, 0),
    vaccine(cvx("20", "DTaP"), 0, 6, 60, 0),
    vaccine(cvx("10", "IPV"), 0, 6, 50, 0),
    vaccine(cvx("133", "Pneumococcal conjugate PCV 13"), 0, 2, 50, 0),
    vaccine(cvx("03", "MMR"), 1, 6, 45, 0),
    vaccine(cvx("21", "varicella"), 1, 6, 45, 0),
    vaccine(cvx("83", "Hep A, ped/adol, 2 dose"), 1, 3, 40, 0),
    vaccine(cvx("62", "HPV, quadrivalent"), 9, 26, 25, 0),
    vaccine(cvx("113", "Td (adult) preservative free"), 18, 200, 8, 0),
    vaccine(
        cvx("33", "pneumococcal polysaccharide vaccine, 23 valent"),
        65,
        200,
        12,
        0,
    ),
    vaccine(
        cvx(
            "208",
            "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose",
        ),
        12,
        200,
        35,
        2021,
    ),
];

/// An allergy: the substance finding, its category and usual reaction.
#[derive(Debug, Clone, Copy)]
pub struct Allergy {
    /// The SNOMED code.
    pub code: Code,
    /// `food`, `medication`, `environment` or `biologic`.
    pub category: &'static str,
    /// The usual manifestation.
    pub reaction: Code,
}

const HIVES: Code = snomed("247472004", "Wheal (finding)");
const RASH: Code = snomed("271807003", "Eruption of skin (disorder)");
const ANAPHYLAXIS: Code = snomed("39579001", "Anaphylaxis (disorder)");
const SNEEZING: Code = snomed("76067001", "Sneezing (finding)");
const COUGH: Code = snomed("49727002", "Cough (finding)");

/// Allergies.
pub const ALLERGIES: [Allergy; 10] = [
    Allergy {
        code: snomed("91936005", "Allergy to penicillin (finding)"),
        category: "medication",
        reaction: RASH,
    },
    Allergy {
        code: snomed("294505008", "Allergy to sulfonamides (finding)"),
        category: "medication",
        reaction: HIVES,
    },
    Allergy {
        code: snomed("91935009", "Allergy to peanuts (finding)"),
        category: "food",
        reaction: ANAPHYLAXIS,
    },
    Allergy {
        code: snomed("300913006", "Shellfish allergy (finding)"),
        category: "food",
        reaction: HIVES,
    },
    Allergy {
        code: snomed("91930004", "Allergy to eggs (finding)"),
        category: "food",
        reaction: RASH,
    },
    Allergy {
        code: snomed("425525006", "Allergy to dairy product (finding)"),
        category: "food",
        reaction: RASH,
    },
    Allergy {
        code: snomed("418689008", "Allergy to grass pollen (finding)"),
        category: "environment",
        reaction: SNEEZING,
    },
    Allergy {
        code: snomed("232350006", "House dust mite allergy (finding)"),
        category: "environment",
        reaction: SNEEZING,
    },
    Allergy {
        code: snomed("232347008", "Dander (animal) allergy (finding)"),
        category: "environment",
        reaction: COUGH,
    },
    Allergy {
        code: snomed("300916003", "Latex allergy (finding)"),
        category: "environment",
        reaction: HIVES,
    },
];

/// Encounter types (SNOMED), one per kind of visit.
pub const CHECK_UP: Code = snomed("185349003", "Encounter for check up (procedure)");
/// A sick visit.
pub const SYMPTOM_VISIT: Code = snomed("185345009", "Encounter for symptom (procedure)");
/// A chronic-care follow-up.
pub const FOLLOW_UP: Code = snomed("390906007", "Follow-up encounter (procedure)");
/// An emergency department visit.
pub const EMERGENCY_VISIT: Code = snomed("50849002", "Emergency room admission (procedure)");
/// A hospital stay.
pub const ADMISSION: Code = snomed("32485007", "Hospital admission (procedure)");

/// Group characteristic code for a diagnosis.
pub const CLINICAL_FINDING: Code = snomed("404684003", "Clinical finding (finding)");
/// Group characteristic code for age.
pub const AGE: Code = loinc("30525-0", "Age");
