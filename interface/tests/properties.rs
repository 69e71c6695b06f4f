//! Property-based tests (issue 5): search value parsing, partial dates, numbers and the
//! FHIRPath evaluation behind index extraction never panic, and keep their invariants, on
//! any input.

use hearth_interface::index::{extract_all, parse_date_range, parse_decimal_range};
use hearth_interface::instant::{Instant, parse_range};
use hearth_interface::search::{Criterion, SearchQuery, split_or_values};
use hearth_interface::search_params::SearchParamRegistry;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Arbitrary JSON trees, a few levels deep, with FHIR-looking keys.
fn json_tree() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("name".to_owned()),
        Just("code".to_owned()),
        Just("coding".to_owned()),
        Just("system".to_owned()),
        Just("value".to_owned()),
        Just("valueQuantity".to_owned()),
        Just("reference".to_owned()),
        Just("subject".to_owned()),
        Just("identifier".to_owned()),
        Just("period".to_owned()),
        Just("start".to_owned()),
        Just("effectiveDateTime".to_owned()),
        Just("given".to_owned()),
        Just("family".to_owned()),
        Just("url".to_owned()),
        Just("extension".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        "(19|20)[0-9]{2}(-[01][0-9](-[0-3][0-9](T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9])?)?)?)?".prop_map(Value::String),
        "(Patient|Observation|Encounter)/[a-z0-9]{1,5}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn search_values_split_and_unescape_without_panics(raw in ".{0,200}") {
        let values = split_or_values(&raw);
        prop_assert!(!values.is_empty());
        // Every split is at a comma (`\\,` is an escaped backslash, then a separator).
        prop_assert!(values.len() <= raw.matches(',').count() + 1);
        let _ = Criterion::parse(&raw, &raw);
    }

    #[test]
    fn escaped_values_round_trip(values in prop::collection::vec("[^\\\\]{0,12}", 1..6)) {
        let escaped: Vec<String> = values.iter().map(|v| v.replace(',', "\\,")).collect();
        prop_assert_eq!(split_or_values(&escaped.join(",")), values);
    }

    #[test]
    fn query_limits_never_panic(names in prop::collection::vec("[a-z_:.-]{0,12}", 0..80), values in prop::collection::vec(".{0,60}", 0..80)) {
        let criteria = names.iter().zip(values.iter().cycle()).map(|(n, v)| Criterion::parse(n, v)).collect();
        let query = SearchQuery { criteria, ..SearchQuery::default() };
        let _ = query.check_limits();
    }

    #[test]
    fn date_parsing_never_panics(raw in ".{0,40}") {
        if let Some((start, end)) = parse_range(&raw) {
            prop_assert!(start <= end);
        }
        if let Some((start, end)) = parse_date_range(&raw) {
            prop_assert!(start <= end);
        }
    }

    #[test]
    fn valid_dates_cover_their_own_instant(y in 1900i32..2100, m in 1u32..=12, d in 1u32..=28, h in 0u32..24, min in 0u32..60, s in 0u32..60) {
        let date = format!("{y:04}-{m:02}-{d:02}");
        let instant = format!("{date}T{h:02}:{min:02}:{s:02}Z");
        let (day_start, day_end) = parse_range(&date).expect("date");
        let (at, _) = parse_range(&instant).expect("instant");
        prop_assert!(day_start <= at && at <= day_end);
        prop_assert_eq!(Instant(at.0).to_fhir()[..19].to_owned(), instant[..19].to_owned());
        let (ms_start, ms_end) = parse_date_range(&date).expect("date (ms)");
        prop_assert_eq!((ms_start, ms_end), (day_start.0.div_euclid(1000), day_end.0.div_euclid(1000)));
    }

    #[test]
    fn decimal_ranges_never_panic_and_bracket_the_value(raw in "-?[0-9]{1,12}(\\.[0-9]{0,8})?([eE][+-]?[0-9]{1,12})?|.{0,30}") {
        if let Some((value, low, high)) = parse_decimal_range(&raw) {
            prop_assert!(low <= value && value <= high);
        }
    }

    #[test]
    fn extraction_never_panics_on_arbitrary_resources(tree in json_tree(), ty in prop::sample::select(vec!["Patient", "Observation", "Encounter", "Condition", "Claim", "Bundle"])) {
        let mut resource = match tree {
            Value::Object(map) => Value::Object(map),
            other => json!({ "value": other }),
        };
        resource["resourceType"] = json!(ty);
        for (def, values) in extract_all(ty, &resource) {
            prop_assert!(!values.is_empty(), "{} yields empty lists only when it yields nothing", def.code);
        }
    }
}

#[test]
fn every_registry_expression_evaluates_on_empty_resources() {
    for def in SearchParamRegistry::r4().all() {
        for base in &def.base {
            let resource = json!({ "resourceType": base });
            if let Some(expression) = &def.expression {
                let nodes = expression.evaluate(&resource);
                // Only boolean tests (such as Patient.deceased) and composites (which select
                // the resource for their components) find anything in an empty resource.
                assert!(
                    nodes
                        .iter()
                        .all(|n| n.value.is_boolean() || n.value == &resource),
                    "{} on an empty {base}",
                    def.code
                );
            }
        }
    }
}

/// The input proptest found: an escaped backslash, then a separating comma.
#[test]
fn an_escaped_backslash_before_a_comma_still_separates() {
    assert_eq!(split_or_values("a\\\\,b"), ["a\\", "b"]);
}
