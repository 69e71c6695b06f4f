//! Conformance of `_text`/`_content` (word prefixes of the narrative or of all string
//! content, see [`fulltext`](crate::fulltext)) and of composite parameters (parts matched
//! within one item of the base expression). Run by [`run_all`](super::search::run_all).

use serde_json::{Value, json};

use super::search::{Backend, MakeVisible};
use crate::IssueKind;
use crate::search::SearchEngine;
use crate::store::ResourceStore;

fn narrative(text: &str) -> Value {
    json!({"status": "generated",
        "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{text}</div>")})
}

/// `_text` matches word prefixes of the narrative, `_content` of every string, ignoring
/// case and accents; values ORed, parameters ANDed; modifiers refused.
pub async fn full_text_searches(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    b.put_all([
        json!({"resourceType": "Patient", "id": "t1",
            "text": narrative("<p>Patient has <b>Heart</b> failure (Müller)</p>"),
            "name": [{"family": "Alpha"}]}),
        json!({"resourceType": "Patient", "id": "t2",
            "text": narrative("Healthy; hearty appetite &amp; more"),
            "name": [{"family": "Beta"}]}),
        json!({"resourceType": "Patient", "id": "t3",
            "name": [{"family": "Heartwood", "given": ["Émile"]}],
            "identifier": [{"system": "http://hospital.example/ids", "value": "ZZ-9"}],
            "managingOrganization": {"reference": "Organization/acme", "display": "Acme Care"}}),
        json!({"resourceType": "Patient", "id": "t4", "gender": "other"}),
    ])
    .await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("_text", "heart", &["t1", "t2"]),
        ("_text", "HEART FAIL", &["t1"]),
        ("_text", "mull", &["t1"]),
        ("_text", "eart", &[]),
        ("_text", "fail,appetite", &["t1", "t2"]),
        ("_text", "heartwood", &[]),
        ("_text", "more", &["t2"]),
        ("_content", "heartwood", &["t3"]),
        ("_content", "heart", &["t1", "t2", "t3"]),
        ("_content", "emile", &["t3"]),
        ("_content", "zz", &["t3"]),
        ("_content", "acme care", &["t3"]),
        ("_content", "hospital", &[]),
        ("_content", "acme", &["t3"]),
        ("_content", "other", &["t4"]),
        ("_content", "alpha,beta", &["t1", "t2"]),
    ];
    b.expect("Patient", cases).await;
    let both = [("_text", "heart"), ("_content", "alpha")];
    assert_eq!(b.ids("Patient", &both).await, ["t1"]);
    // A new version replaces the text of the old one.
    b.put(json!({"resourceType": "Patient", "id": "t1",
        "text": narrative("Recovered")}))
        .await;
    assert_eq!(b.ids("Patient", &[("_text", "heart")]).await, ["t2"]);
    assert_eq!(b.ids("Patient", &[("_text", "recov")]).await, ["t1"]);
    for (key, value) in [("_text:exact", "heart"), ("_content", "!!")] {
        let err = b.error("Patient", &[(key, value)]).await;
        assert_eq!(err.kind(), IssueKind::Invalid, "{key}={value}");
        assert!(err.message().contains(key.split(':').next().unwrap_or(key)));
    }
}

/// Composite parameters: every part (of its component's type, with prefixes and units)
/// must match within one item of the base expression; `:missing`; bad values refused.
pub async fn composite_searches(
    store: &dyn ResourceStore,
    search: &dyn SearchEngine,
    visible: &dyn MakeVisible,
) {
    let b = Backend {
        store,
        search,
        visible,
    };
    let loinc = |code: &str| json!({"coding": [{"system": "http://loinc.org", "code": code}]});
    let mmhg = |value: f64| {
        json!({"value": value, "unit": "mmHg",
        "system": "http://unitsofmeasure.org", "code": "mm[Hg]"})
    };
    let pressure = |id: &str, systolic: f64, diastolic: f64| {
        json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": loinc("85354-9"),
        "component": [
            {"code": loinc("8480-6"), "valueQuantity": mmhg(systolic)},
            {"code": loinc("8462-4"), "valueQuantity": mmhg(diastolic)}
        ]})
    };
    b.put_all([
        pressure("bp1", 120.0, 80.0),
        pressure("bp2", 150.0, 95.0),
        json!({"resourceType": "Observation", "id": "w1", "status": "final",
            "code": loinc("29463-7"),
            "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}),
        json!({"resourceType": "Observation", "id": "s1", "status": "final",
            "code": loinc("72166-2"),
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]}}),
        json!({"resourceType": "Observation", "id": "d1", "status": "final",
            "code": loinc("21112-8"), "valueDateTime": "2021-06-01"}),
    ])
    .await;
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "component-code-value-quantity",
            "http://loinc.org|8480-6$gt130",
            &["bp2"],
        ),
        ("component-code-value-quantity", "8462-4$80", &["bp1"]),
        // 80 is bp1's diastolic value, not its systolic: parts match within one item.
        ("component-code-value-quantity", "8480-6$80", &[]),
        ("component-code-value-quantity", "8462-4$gt100", &[]),
        (
            "component-code-value-quantity",
            "8480-6$gt130,8462-4$80",
            &["bp1", "bp2"],
        ),
        (
            "component-code-value-quantity",
            "8480-6$ge120|http://unitsofmeasure.org|mm[Hg]",
            &["bp1", "bp2"],
        ),
        (
            "component-code-value-quantity",
            "8480-6$ge120|http://unitsofmeasure.org|kg",
            &[],
        ),
        ("code-value-quantity", "29463-7$70", &["w1"]),
        (
            "code-value-quantity",
            "http://loinc.org|29463-7$ge70|http://unitsofmeasure.org|kg",
            &["w1"],
        ),
        ("code-value-quantity", "29463-7$gt70", &[]),
        ("code-value-quantity", "8480-6$120", &[]),
        (
            "code-value-concept",
            "72166-2$http://snomed.info/sct|8517006",
            &["s1"],
        ),
        ("code-value-concept", "72166-2$other", &[]),
        ("code-value-date", "21112-8$ge2021-01", &["d1"]),
        ("code-value-date", "21112-8$lt2021", &[]),
        (
            "code-value-quantity:missing",
            "true",
            &["bp1", "bp2", "s1", "d1"],
        ),
        ("code-value-quantity:missing", "false", &["w1"]),
    ];
    b.expect("Observation", cases).await;
    for value in ["29463-7", "29463-7$70$1", "29463-7$x70", "$70"] {
        let err = b
            .error("Observation", &[("code-value-quantity", value)])
            .await;
        assert_eq!(err.kind(), IssueKind::Invalid, "{value}");
        assert!(err.message().contains("code-value-quantity"), "{value}");
    }
}
