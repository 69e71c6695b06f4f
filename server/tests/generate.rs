//! `hearth generate`: every resource is schema-valid with a unique id, every reference
//! resolves, the output is byte-for-byte reproducible, and the summary has its format.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};

use hearth_interface::ResourceType;
use hearth_interface::validate::{JsonSchemaValidator, Validator};
use serde_json::Value;

const TYPES: [&str; 14] = [
    "Patient",
    "Practitioner",
    "Organization",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "AllergyIntolerance",
    "DiagnosticReport",
    "Claim",
    "ExplanationOfBenefit",
    "Group",
];

const PATIENTS: u64 = 20;

fn generate(out: &Path, seed: u64) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["generate", "--patients", &PATIENTS.to_string()])
        .args(["--seed", &seed.to_string(), "--quiet", "--out"])
        .arg(out)
        .output()
        .expect("run hearth generate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every file's bytes, by type.
fn files(dir: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    TYPES
        .iter()
        .map(|t| {
            let path = dir.join(format!("{t}.ndjson"));
            (
                *t,
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
        })
        .collect()
}

/// Every `reference` string anywhere in `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("reference") {
                out.push(r.clone());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// Parses the summary: the total and the per-type counts.
fn summary(text: &str) -> (u64, BTreeMap<String, u64>) {
    let mut lines = text.lines();
    let first = lines.next().expect("a summary line");
    let words: Vec<&str> = first.split(' ').collect();
    assert_eq!(words.len(), 11, "{first}");
    assert_eq!(words[0], "generated", "{first}");
    assert_eq!(
        &words[2..5],
        ["resources", "for", &PATIENTS.to_string()],
        "{first}"
    );
    assert_eq!(&words[5..7], ["patients", "in"], "{first}");
    let seconds = words[7];
    assert!(
        seconds.parse::<f64>().is_ok() && seconds.split('.').nth(1).map(str::len) == Some(2),
        "{first}"
    );
    assert_eq!(words[8], "s", "{first}");
    assert!(
        words[9].starts_with('(') && words[10] == "resources/s)",
        "{first}"
    );
    assert!(
        words[9][1..].parse::<u64>().is_ok(),
        "rate is a whole number: {first}"
    );
    let total = words[1].parse().expect("total");
    let counts = lines
        .map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next().expect("type").to_owned();
            let count = parts.next().expect("count").parse().expect("number");
            (name, count)
        })
        .collect();
    (total, counts)
}

#[test]
fn generates_valid_resolvable_reproducible_records() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let run = generate(&first, 7);
    assert!(
        run.status.success(),
        "{}{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    let (total, counts) = summary(&stdout(&run));

    let validator = JsonSchemaValidator::r4();
    let mut ids: HashSet<String> = HashSet::new();
    let mut refs: Vec<(String, String)> = Vec::new();
    let mut per_type: BTreeMap<String, u64> = BTreeMap::new();
    let output = files(&first);
    for (ty, bytes) in &output {
        let resource_type = ResourceType::parse(ty).unwrap();
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        assert!(text.ends_with('\n'), "{ty}.ndjson ends with a newline");
        for (n, line) in text.lines().enumerate() {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{ty}.ndjson:{}: {e}", n + 1));
            assert_eq!(value["resourceType"], *ty, "{ty}.ndjson:{}", n + 1);
            let issues = validator.validate(resource_type, &value);
            assert!(
                issues.is_empty(),
                "{ty}.ndjson:{}: {issues:?}\n{line}",
                n + 1
            );
            let id = value["id"].as_str().expect("an id");
            assert!(
                (1..=64).contains(&id.len())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "bad id {id}"
            );
            assert!(ids.insert(format!("{ty}/{id}")), "duplicate {ty}/{id}");
            let mut found = Vec::new();
            references(&value, &mut found);
            refs.extend(found.into_iter().map(|r| (format!("{ty}/{id}"), r)));
            *per_type.entry((*ty).to_owned()).or_default() += 1;
        }
    }
    for ty in TYPES {
        assert!(per_type.get(ty).copied().unwrap_or(0) > 0, "no {ty}");
    }
    assert!(!refs.is_empty());
    for (from, to) in &refs {
        assert!(ids.contains(to), "{from} refers to missing {to}");
    }
    assert_eq!(total, ids.len() as u64);
    assert_eq!(counts, per_type, "the summary counts what was written");
    let average = total / PATIENTS;
    assert!(
        (150..=450).contains(&average),
        "{average} resources per patient"
    );

    // Every patient is in the all-patients group.
    let groups = std::str::from_utf8(&output["Group"]).unwrap();
    let all = groups
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|g| g["id"] == "grp-all-patients")
        .expect("the all-patients group");
    assert_eq!(all["member"].as_array().unwrap().len() as u64, PATIENTS);

    let again = dir.path().join("again");
    assert!(generate(&again, 7).status.success());
    assert!(files(&again) == output, "same seed, same bytes");

    let other = dir.path().join("other");
    assert!(generate(&other, 8).status.success());
    let different = files(&other);
    for ty in ["Patient", "Observation", "Claim"] {
        assert_ne!(different[ty], output[ty], "another seed changes {ty}");
    }
}

#[test]
fn reports_an_uncreatable_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let run = generate(&file.join("out"), 1);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.starts_with("hearth: cannot create"), "{stderr}");
}
