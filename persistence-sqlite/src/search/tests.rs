//! Unit tests of criteria parsing and the SQL predicates against the reference semantics.

use super::matching::*;
use super::*;
use hearth_interface::index::{IndexValue, parse_date_range};
use hearth_interface::search_params::SearchParamRegistry;

fn string_value(s: &str) -> IndexValue {
    IndexValue::String {
        normalized: normalize_string(s),
        exact: s.to_owned(),
    }
}

fn token(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_owned),
        code: code.map(str::to_owned),
        text: text.map(str::to_owned),
        of_type: Vec::new(),
    }
}

fn reference(r: Option<&str>, ty: Option<&str>, id: Option<&str>) -> IndexValue {
    IndexValue::Reference {
        reference: r.map(str::to_owned),
        resource_type: ty.map(str::to_owned),
        id: id.map(str::to_owned),
        identifier: None,
    }
}

fn quantity(
    value: f64,
    system: Option<&str>,
    code: Option<&str>,
    unit: Option<&str>,
) -> IndexValue {
    IndexValue::Quantity {
        value: Some(value),
        low: value - 0.5,
        high: value + 0.5,
        system: system.map(str::to_owned),
        code: code.map(str::to_owned),
        unit: unit.map(str::to_owned),
    }
}

/// Parses `key=value` for `ty` the way the router would.
fn condition(ty: &str, key: &str, value: &str) -> Result<Condition> {
    let criterion = Criterion::parse(key, value);
    let resource_type = ResourceType::parse(ty).expect("type");
    compile_one(resource_type, &criterion).map(|f| f.condition)
}

/// Whether `values` match `key=value`, checking that the SQL predicate agrees with
/// the in-memory semantics.
fn check(ty: &str, key: &str, value: &str, values: &[IndexValue]) -> bool {
    let resource_type = ResourceType::parse(ty).expect("type");
    let filter =
        compile_one(resource_type, &Criterion::parse(key, value)).expect("valid criterion");
    agree(
        resource_type,
        filter,
        values,
        &format!("{ty}?{key}={value}"),
    )
}

/// Whether `values` pass `filter`, in memory and in SQL (which must agree).
fn agree(resource_type: ResourceType, filter: Filter, values: &[IndexValue], what: &str) -> bool {
    let in_memory = matches(&filter.condition, values);
    let conn = Connection::open_in_memory().expect("sqlite");
    crate::schema::migrate(&conn).expect("schema");
    crate::indexing::insert(
        &conn,
        resource_type,
        1,
        &vec![(filter.def, values.to_vec())],
    )
    .expect("index");
    let plan = Plan {
        resource_type,
        filters: vec![filter],
        any_of: Vec::new(),
        same_row_dates: Vec::new(),
    };
    let in_sql = plan.count(&conn).expect("count") == 1;
    assert_eq!(in_sql, in_memory, "SQL and memory disagree on {what}");
    // The same filter as a per-candidate check rather than the driving lookup.
    let mut b = Binder::default();
    let ty = resource_type.as_str();
    let check = filter_sql(&plan.filters[0], ty, &mut b, false);
    let sql = format!(
        "SELECT COUNT(*) FROM current c WHERE c.type = {} AND {check}",
        b.text(ty)
    );
    let n: i64 = conn
        .query_row(&sql, params_from_iter(&b.args), |r| r.get(0))
        .expect("check");
    assert_eq!(n == 1, in_memory, "SQL check and memory disagree on {what}");
    in_memory
}

/// [`range_matches`] on a date, checked against SQL.
fn date_matches(prefix: Prefix, (start, end): (i64, i64), target: (i64, i64)) -> bool {
    let in_memory = range_matches(prefix, (start, end), target);
    let resource_type = ResourceType::parse("Patient").expect("type");
    let def = SearchParamRegistry::r4()
        .get("Patient", "birthdate")
        .expect("birthdate");
    let filter = Filter {
        def,
        condition: Condition::AnyOf(vec![ValueQuery::Date { prefix, start, end }]),
    };
    let values = [IndexValue::Date {
        start: target.0,
        end: target.1,
    }];
    let agreed = agree(resource_type, filter, &values, &format!("{prefix:?}"));
    assert_eq!(agreed, in_memory);
    agreed
}

#[test]
fn string_modes_fold_case_and_accents() {
    let values = [string_value("Müller")];
    assert!(check("Patient", "family", "mul", &values));
    assert!(check("Patient", "family", "MÜLLER", &values));
    assert!(!check("Patient", "family", "ller", &values));
    assert!(check("Patient", "family:contains", "LLé", &values));
    assert!(check("Patient", "family:exact", "Müller", &values));
    assert!(!check("Patient", "family:exact", "Muller", &values));
    assert!(!check("Patient", "family:exact", "müller", &values));
}

#[test]
fn token_forms() {
    let values = [
        token(
            Some("http://loinc.org"),
            Some("1234-5"),
            Some("Body Weight"),
        ),
        token(None, Some("local"), None),
    ];
    assert!(check("Observation", "code", "1234-5", &values));
    assert!(check(
        "Observation",
        "code",
        "http://loinc.org|1234-5",
        &values
    ));
    assert!(!check(
        "Observation",
        "code",
        "http://snomed.info/sct|1234-5",
        &values
    ));
    assert!(check("Observation", "code", "|local", &values));
    assert!(!check("Observation", "code", "|1234-5", &values));
    assert!(check("Observation", "code", "http://loinc.org|", &values));
    assert!(!check("Observation", "code", "http://x|", &values));
    assert!(check("Observation", "code:text", "body w", &values));
    assert!(!check("Observation", "code:text", "weight", &values));
    assert!(check("Observation", "code:not", "other", &values));
    assert!(!check("Observation", "code:not", "other,local", &values));
    assert!(check("Observation", "code:not", "local", &[]));
}

#[test]
fn token_of_type_and_escaped_codes() {
    let identifier = IndexValue::Token {
        system: Some("urn:a|b".into()),
        code: Some("X|1".into()),
        text: None,
        of_type: vec![(Some("http://t".into()), Some("MR".into()))],
    };
    let values = [identifier];
    assert!(check("Patient", "identifier", r"urn:a\|b|X\|1", &values));
    assert!(check("Patient", "identifier", r"X\|1", &values));
    assert!(check(
        "Patient",
        "identifier:of-type",
        r"http://t|MR|X\|1",
        &values
    ));
    assert!(!check(
        "Patient",
        "identifier:of-type",
        r"http://t|DL|X\|1",
        &values
    ));
    assert!(condition("Patient", "identifier:of-type", "http://t|MR").is_err());
    assert!(condition("Patient", "identifier", "|").is_err());
    assert!(condition("Patient", "identifier", "a|b|c").is_err());
}

#[test]
fn reference_forms() {
    let values = [
        reference(Some("Patient/1"), Some("Patient"), Some("1")),
        IndexValue::Reference {
            reference: None,
            resource_type: None,
            id: None,
            identifier: Some((Some("http://ids".into()), Some("abc".into()))),
        },
    ];
    assert!(check("Observation", "subject", "Patient/1", &values));
    assert!(check("Observation", "subject", "1", &values));
    assert!(!check("Observation", "subject", "Group/1", &values));
    assert!(check("Observation", "subject:Patient", "1", &values));
    assert!(!check("Observation", "subject:Group", "1", &values));
    assert!(check(
        "Observation",
        "subject",
        "http://server/fhir/Patient/1",
        &values
    ));
    assert!(check(
        "Observation",
        "subject",
        "Patient/1/_history/3",
        &values
    ));
    assert!(check(
        "Observation",
        "subject:identifier",
        "http://ids|abc",
        &values
    ));
    assert!(check("Observation", "subject:identifier", "abc", &values));
    assert!(!check(
        "Observation",
        "subject:identifier",
        "http://other|abc",
        &values
    ));
    assert!(condition("Observation", "subject:Bogus", "1").is_err());
    assert!(condition("Observation", "subject:Medication", "1").is_err());
    assert!(condition("Observation", "subject:Patient", "Patient/1").is_err());
}

#[test]
fn literal_references_match_text_or_trailing_type_and_id() {
    let absolute = [reference(
        Some("http://x/fhir/Patient/1"),
        Some("Patient"),
        Some("1"),
    )];
    assert!(check("Observation", "subject", "Patient/1", &absolute));
    assert!(check(
        "Observation",
        "subject",
        "http://x/fhir/Patient/1",
        &absolute
    ));
    let canonical = [reference(Some("urn:uuid:123"), None, None)];
    assert!(check("Observation", "subject", "urn:uuid:123", &canonical));
    assert_eq!(trailing_type_id("a/b"), None);
    assert_eq!(trailing_type_id("Patient/"), None);
    assert_eq!(
        trailing_type_id("http://x/Group/g/_history/2"),
        Some(("Group".into(), "g".into()))
    );
}

#[test]
fn uri_modes() {
    let values = [IndexValue::Uri("http://acme.org/fhir/ValueSet/123".into())];
    assert!(check(
        "ValueSet",
        "url",
        "http://acme.org/fhir/ValueSet/123",
        &values
    ));
    assert!(!check("ValueSet", "url", "http://acme.org/fhir", &values));
    assert!(check(
        "ValueSet",
        "url:below",
        "http://acme.org/fhir",
        &values
    ));
    assert!(check(
        "ValueSet",
        "url:above",
        "http://acme.org/fhir/ValueSet/123/_history/5",
        &values
    ));
    assert!(!check("ValueSet", "url:above", "http://acme.org", &values));
}

#[test]
fn missing_both_ways_and_bad_values() {
    let some = [token(None, Some("male"), None)];
    assert!(check("Patient", "gender:missing", "true", &[]));
    assert!(!check("Patient", "gender:missing", "true", &some));
    assert!(check("Patient", "gender:missing", "false", &some));
    assert!(!check("Patient", "birthdate:missing", "false", &[]));
    assert!(condition("Patient", "gender:missing", "yes").is_err());
    assert!(condition("Patient", "gender:missing", "true,false").is_err());
}

#[test]
fn date_prefix_table() {
    let day = |s: &str| parse_date_range(s).expect("date");
    let (qs, qe) = day("2020-06");
    let q = (qs, qe);
    let inside = day("2020-06-15");
    let before = day("2020-05-31");
    let after = day("2020-07-01");
    let spanning = (day("2020-05-31").0, day("2020-06-02").1);
    assert!(date_matches(Prefix::Eq, q, inside));
    assert!(!date_matches(Prefix::Eq, q, spanning));
    assert!(date_matches(Prefix::Ne, q, spanning));
    assert!(date_matches(Prefix::Gt, q, after));
    assert!(!date_matches(Prefix::Gt, q, inside));
    assert!(date_matches(Prefix::Lt, q, before));
    assert!(date_matches(Prefix::Lt, q, spanning));
    assert!(date_matches(Prefix::Ge, q, inside));
    assert!(date_matches(Prefix::Ge, q, after));
    assert!(!date_matches(Prefix::Ge, q, before));
    assert!(date_matches(Prefix::Le, q, before));
    assert!(!date_matches(Prefix::Le, q, after));
    assert!(date_matches(Prefix::Sa, q, after));
    assert!(!date_matches(Prefix::Sa, q, spanning));
    assert!(date_matches(Prefix::Eb, q, before));
    assert!(!date_matches(Prefix::Eb, q, spanning));
    assert!(date_matches(Prefix::Ap, q, spanning));
    assert!(!date_matches(Prefix::Ap, q, after));
    let open = (day("2020-06-10").0, i64::MAX);
    assert!(date_matches(Prefix::Gt, q, open));
    assert!(!date_matches(Prefix::Eq, q, open));
}

#[test]
fn number_prefixes_use_the_precision_of_the_query() {
    let n = |v: f64| {
        [IndexValue::Number {
            value: v,
            low: v,
            high: v,
        }]
    };
    assert!(check("ChargeItem", "factor-override", "100", &n(100.4)));
    assert!(!check("ChargeItem", "factor-override", "100", &n(100.5)));
    assert!(check("ChargeItem", "factor-override", "100.0", &n(100.04)));
    assert!(!check("ChargeItem", "factor-override", "100.0", &n(100.4)));
    assert!(check("ChargeItem", "factor-override", "ne100", &n(101.0)));
    assert!(check("ChargeItem", "factor-override", "gt1.5", &n(1.6)));
    assert!(!check("ChargeItem", "factor-override", "gt1.5", &n(1.5)));
    assert!(check("ChargeItem", "factor-override", "ge1.5", &n(1.5)));
    assert!(check("ChargeItem", "factor-override", "lt1.5", &n(1.4)));
    assert!(check("ChargeItem", "factor-override", "le1.5", &n(1.5)));
    assert!(check("ChargeItem", "factor-override", "sa1.5", &n(1.6)));
    assert!(!check("ChargeItem", "factor-override", "sa1.5", &n(1.5)));
    assert!(check("ChargeItem", "factor-override", "eb1.5", &n(1.44)));
    assert!(check("ChargeItem", "factor-override", "ap100", &n(109.0)));
    assert!(!check("ChargeItem", "factor-override", "ap100", &n(111.0)));
    assert!(condition("ChargeItem", "factor-override", "gtabc").is_err());
    for bad in ["NaN", "inf", "1e400", "1.5e-2147483648", "1.5e+99999"] {
        assert!(
            condition("ChargeItem", "factor-override", bad).is_err(),
            "{bad}"
        );
        assert!(
            condition("Observation", "value-quantity", bad).is_err(),
            "{bad}"
        );
    }
    assert!(check("ChargeItem", "factor-override", "1e-3", &n(0.001)));
}

#[test]
fn quantity_units_and_ranges() {
    let ucum = "http://unitsofmeasure.org";
    let values = [quantity(70.0, Some(ucum), Some("kg"), Some("kilogram"))];
    let q = |v: &str| check("Observation", "value-quantity", v, &values);
    assert!(q("70"));
    assert!(q("70|http://unitsofmeasure.org|kg"));
    assert!(!q("70|http://unitsofmeasure.org|g"));
    assert!(!q("70|http://other|kg"));
    assert!(q("70||kg"));
    assert!(q("70||kilogram"));
    assert!(q("gt60||kg"));
    assert!(!q("lt60||kg"));
    assert!(condition("Observation", "value-quantity", "70|kg").is_err());
    let range = [IndexValue::Quantity {
        value: None,
        low: 10.0,
        high: 20.0,
        system: None,
        code: Some("a".into()),
        unit: None,
    }];
    let r = |v: &str| check("Observation", "value-quantity", v, &range);
    assert!(r("gt15") && r("lt15") && r("sa9") && !r("sa10") && r("eb21") && !r("eq15"));
    assert!(!r("gt20") && r("ge20") && !r("eb20") && r("ge19.5") && !r("ge21"));
    // Ranges wholly past the bound pass both lookups of a test on `hi`: counted once.
    assert!(r("gt5") && r("ge10") && r("eb25"));
    assert!(q("ge70") && !q("gt70") && q("eb71") && !q("eb70") && q("gt69.9||kg"));
}

#[test]
fn values_of_another_kind_never_match() {
    let values = [IndexValue::Uri("x".into())];
    assert!(!check("Patient", "family", "x", &values));
    assert!(!check("Patient", "gender", "x", &values));
    assert!(check("Patient", "gender:not", "x", &values));
}

#[test]
fn composite_parts_match_within_one_item() {
    let loinc = Some("http://loinc.org");
    let ucum = Some("http://unitsofmeasure.org");
    // A blood pressure: each component pairs its own code with its own value.
    let values = [
        IndexValue::Composite(vec![
            vec![token(loinc, Some("8480-6"), Some("Systolic"))],
            vec![quantity(120.0, ucum, Some("mm[Hg]"), None)],
        ]),
        IndexValue::Composite(vec![
            vec![
                token(loinc, Some("8462-4"), None),
                token(None, None, Some("Diastolic")),
            ],
            vec![quantity(80.0, ucum, Some("mm[Hg]"), None)],
        ]),
    ];
    let c = |v: &str| check("Observation", "component-code-value-quantity", v, &values);
    assert!(c("http://loinc.org|8480-6$gt100"));
    assert!(c("8480-6$120||mm[Hg]"));
    assert!(c("8462-4$le80|http://unitsofmeasure.org|mm[Hg]"));
    assert!(!c("8462-4$gt100"), "the diastolic value is 80");
    assert!(!c("8480-6$lt100"), "the systolic value is 120");
    assert!(!c("8480-6$120||kg"));
    assert!(c("x$1,8480-6$ge120"), "values are ORed");
    let concept = [IndexValue::Composite(vec![
        vec![token(loinc, Some("72166-2"), None)],
        vec![token(Some("http://snomed.info/sct"), Some("8517006"), None)],
    ])];
    let v = |q: &str| check("Observation", "code-value-concept", q, &concept);
    assert!(v("72166-2$http://snomed.info/sct|8517006") && !v("72166-2$1"));
    assert!(check(
        "Observation",
        "code-value-concept:missing",
        "false",
        &concept
    ));
    assert!(check("Observation", "code-value-date:missing", "true", &[]));
}

#[test]
fn full_text_matches_word_prefixes_ignoring_case_and_accents() {
    let text = [IndexValue::Text(
        "Patient Peter Chalmers has congestive Heart FAILURE, seen at Hôpital Saint-Éloi".into(),
    )];
    let t = |v: &str| check("Patient", "_text", v, &text);
    assert!(t("heart") && t("HEART fail") && t("hopital") && t("éloi") && t("saint eloi"));
    assert!(!t("eart") && !t("heart attack") && !t("chalmersx"));
    assert!(t("attack,congest"), "values are ORed");
    let c = |v: &str| check("Patient", "_content", v, &text);
    assert!(c("peter chalmers"));
    assert!(!check("Patient", "_text", "x", &[]));
}

#[test]
fn supported_params_include_composites_and_full_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let search = SqliteSearch::new(SqliteStore::open(dir.path()).expect("open"));
    let params = search.supported_params(ResourceType::parse("Observation").expect("type"));
    let find = |code: &str| params.iter().find(|p| p.code == code);
    assert!(find("code-value-quantity").is_some_and(|p| p.kind == "composite"));
    assert!(find("_text").is_some() && find("_content").is_some());
}
