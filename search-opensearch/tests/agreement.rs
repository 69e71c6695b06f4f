//! Differential test: on the R4 examples, OpenSearch (osmem-server) and SQLite answer
//! the same searches with the same matches, in the same order, and the same totals.
//! The searches are made from each example's own index values, in every form and with
//! every modifier and prefix of the parameter's type (composite parameters from the
//! first value of each part, `_text`/`_content` from words of the text), plus `_sort`
//! on every sortable parameter with values, both ways, over all resources of the type.

use std::collections::BTreeMap;
use std::sync::Arc;

use hearth_interface::fulltext::query_words;
use hearth_interface::index::{IndexValue, extract_all};
use hearth_interface::instant::Instant;
use hearth_interface::search::criteria::is_searchable;
use hearth_interface::search::{
    Criterion, SearchEngine, SearchQuery, SearchScope, SortKey, TotalMode,
};
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use hearth_interface::store::{Precondition, ResourceStore, StoredResource, Write};
use hearth_interface::{ResourceId, ResourceType};
use hearth_search_opensearch::mapping::is_sortable;
use hearth_search_opensearch::{
    OpenSearchClient, OpenSearchConfig, OpenSearchIndexer, OpenSearchSearch,
};
use hearth_sqlite::{SqliteSearch, SqliteStore};
use hearth_testkit::{OsMem, unique_name};
use serde_json::Value;

const EXAMPLES: &str = include_str!("../../tests/data/examples.ndjson");

/// Searches made per parameter and per type, to bound the test's time.
const PER_PARAM: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opensearch_and_sqlite_agree_on_the_r4_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let config =
        OpenSearchConfig::new(OsMem::shared().url()).with_index_prefix(unique_name("agree"));
    let client = OpenSearchClient::from_config(&config).expect("client");
    let resources: Vec<Value> = EXAMPLES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("example"))
        .collect();
    let writes = resources
        .iter()
        .filter_map(|r| {
            let ty = ResourceType::parse(r["resourceType"].as_str()?)?;
            let id = ResourceId::parse(r["id"].as_str()?).ok()?;
            Some(Write::upsert(ty, id, r.clone(), Precondition::None))
        })
        .collect();
    let mut stored: Vec<StoredResource> = Vec::new();
    for result in store.write_batch(writes).await.expect("batch") {
        stored.extend(result.expect("write").stored);
    }
    let indexer = OpenSearchIndexer::new(client.clone());
    let report = indexer.apply(&stored).await.expect("index");
    assert_eq!(report.indexed, stored.len());
    indexer.refresh().await.expect("refresh");

    let mut searches = searches(&stored);
    assert!(searches.len() > 3000, "{}", searches.len());
    let sorts = sort_searches(&stored);
    assert!(sorts.len() > 500, "{}", sorts.len());
    searches.extend(sorts);
    let sqlite: Arc<dyn SearchEngine> = Arc::new(SqliteSearch::new(store));
    let opensearch: Arc<dyn SearchEngine> = Arc::new(OpenSearchSearch::new(client));
    let mut tasks = Vec::new();
    for chunk in searches.chunks(searches.len().div_ceil(4)) {
        let chunk = chunk.to_vec();
        let (sqlite, opensearch) = (sqlite.clone(), opensearch.clone());
        tasks.push(tokio::spawn(async move {
            let mut disagreements = Vec::new();
            let mut matched = BTreeMap::<&str, usize>::new();
            for (ty, key, value) in chunk {
                let expected = run(sqlite.as_ref(), ty, &key, &value).await;
                let found = run(opensearch.as_ref(), ty, &key, &value).await;
                if expected.as_ref().is_ok_and(|(ids, _)| !ids.is_empty()) {
                    *matched.entry(class(ty, &key)).or_default() += 1;
                }
                if expected != found {
                    disagreements.push(format!(
                        "{ty}?{key}={value}: sqlite {expected:?}, opensearch {found:?}"
                    ));
                }
            }
            (disagreements, matched)
        }));
    }
    let mut disagreements = Vec::new();
    let mut by_class = BTreeMap::<&str, usize>::new();
    for task in tasks {
        let (found, n) = task.await.expect("task");
        disagreements.extend(found);
        for (class, n) in n {
            *by_class.entry(class).or_default() += n;
        }
    }
    let matched: usize = by_class.values().sum();
    for class in ["_sort", "full text", "composite"] {
        assert!(
            by_class.get(class).is_some_and(|n| *n > 100),
            "{by_class:?}"
        );
    }
    compartments_agree(&stored, sqlite.as_ref(), opensearch.as_ref()).await;
    // Most searches are made from a resource's own values, so they find it.
    assert!(
        matched * 2 > searches.len(),
        "{matched} of {}",
        searches.len()
    );
    println!(
        "{} searches, {matched} with matches: {by_class:?}",
        searches.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} searches disagree:\n{}",
        disagreements.len(),
        searches.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
}

/// Every Patient's compartment holds the same resources on both engines (a search over
/// many types orders them differently: SQLite type by type, OpenSearch by last change).
async fn compartments_agree(
    stored: &[StoredResource],
    sqlite: &dyn SearchEngine,
    opensearch: &dyn SearchEngine,
) {
    let query = SearchQuery {
        criteria: Vec::new(),
        count: 1000,
        cursor: None,
        total: TotalMode::Accurate,
        sort: Vec::new(),
    };
    let patients = stored
        .iter()
        .filter(|s| s.resource_type.as_str() == "Patient");
    let mut members = 0;
    for patient in patients {
        let scope = SearchScope::Compartment {
            compartment: patient.resource_type,
            id: patient.id.clone(),
            target: None,
        };
        let mut found = Vec::new();
        for engine in [sqlite, opensearch] {
            let page = engine.search(&scope, &query).await.expect("compartment");
            let mut ids: Vec<String> = page
                .matches
                .iter()
                .map(|m| format!("{}/{}", m.resource_type, m.id))
                .collect();
            ids.sort();
            found.push((ids, page.total));
        }
        assert_eq!(found[0], found[1], "Patient/{}/*", patient.id);
        members += found[0].0.len();
    }
    assert!(members > 50, "{members}");
}

/// The ids found and the total, or the error kind and message. The key `_sort` sorts
/// all resources of the type by `value` instead.
async fn run(
    engine: &dyn SearchEngine,
    ty: ResourceType,
    key: &str,
    value: &str,
) -> Result<(Vec<String>, Option<u64>), String> {
    let (criteria, sort) = if key == "_sort" {
        (
            Vec::new(),
            value.split(',').filter_map(SortKey::parse).collect(),
        )
    } else {
        (vec![Criterion::parse(key, value)], Vec::new())
    };
    let query = SearchQuery {
        criteria,
        count: 1000,
        cursor: None,
        total: TotalMode::Accurate,
        sort,
    };
    engine
        .search(&SearchScope::Type(ty), &query)
        .await
        .map(|page| {
            let ids = page.matches.iter().map(|m| m.id.to_string()).collect();
            (ids, page.total)
        })
        .map_err(|e| format!("{:?}: {}", e.kind(), e.message()))
}

type Search = (ResourceType, String, String);

/// The kind of search `key` makes on `ty`, to count matches by kind.
fn class(ty: ResourceType, key: &str) -> &'static str {
    let code = key.split(':').next().unwrap_or(key);
    match code {
        "_sort" => "_sort",
        "_text" | "_content" => "full text",
        _ => match SearchParamRegistry::r4().get(ty.as_str(), code) {
            Some(def) if def.kind == SearchParamType::Composite => "composite",
            _ => "other",
        },
    }
}

/// `_sort` searches: each sortable parameter with values in some example of the type,
/// ascending and descending, and with `_id` as a second key.
fn sort_searches(stored: &[StoredResource]) -> Vec<Search> {
    let mut seen = std::collections::BTreeSet::new();
    for version in stored {
        let ty = version.resource_type;
        let body: Value =
            serde_json::from_str(version.body.as_deref().expect("body")).expect("json");
        for (def, _) in extract_all(ty.as_str(), &body) {
            if is_sortable(def) {
                seen.insert((ty.as_str(), def.code.clone()));
            }
        }
    }
    let mut out = Vec::new();
    for (ty, code) in seen {
        let ty = ResourceType::parse(ty).expect("type");
        for sort in [code.clone(), format!("-{code}"), format!("-{code},-_id")] {
            out.push((ty, "_sort".to_owned(), sort));
        }
    }
    out
}

/// Searches from the index values of the examples: per type and parameter, the forms of
/// the values of the first resources that have some.
fn searches(stored: &[StoredResource]) -> Vec<Search> {
    let mut out = Vec::new();
    let mut done = std::collections::HashMap::<(ResourceType, String), usize>::new();
    for version in stored {
        let ty = version.resource_type;
        let body: Value =
            serde_json::from_str(version.body.as_deref().expect("body")).expect("json");
        for (def, values) in extract_all(ty.as_str(), &body) {
            if !is_searchable(def) {
                continue;
            }
            let made = done.entry((ty, def.code.clone())).or_default();
            if *made >= PER_PARAM {
                continue;
            }
            let mut forms = vec![
                (format!("{}:missing", def.code), "true".to_owned()),
                (format!("{}:missing", def.code), "false".to_owned()),
            ];
            for value in values.iter().take(2) {
                forms.extend(value_forms(def, value));
            }
            *made += forms.len();
            out.extend(forms.into_iter().map(|(k, v)| (ty, k, v)));
        }
    }
    out
}

/// A composite value from the first value of each part (its plain form), parts joined by
/// `$`; `None` when a part has no plain form.
fn composite_form(def: &SearchParamDef, parts: &[Vec<IndexValue>]) -> Option<String> {
    let registry = SearchParamRegistry::r4();
    let mut forms = Vec::new();
    for (component, values) in def.components.iter().zip(parts) {
        let part_def = registry.by_url(&component.definition)?;
        let value = values.first()?;
        let form = value_forms(part_def, value)
            .into_iter()
            .find(|(key, v)| *key == part_def.code && !v.contains('$'))?;
        forms.push(form.1);
    }
    Some(forms.join("$"))
}

/// Escapes a value for a criterion: `\` and `,` (and `|`, `$` in token-like parts).
fn esc(s: &str, pipes: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '\\' || c == ',' || (pipes && (c == '|' || c == '$')) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `system|code` escaped (parts are pipe-escaped, then the whole is comma-escaped).
fn pipe_join(parts: &[&str]) -> String {
    let joined: Vec<String> = parts.iter().map(|p| esc_pipe_only(p)).collect();
    esc_comma_only(&joined.join("|"))
}

fn esc_pipe_only(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('$', "\\$")
}

fn esc_comma_only(s: &str) -> String {
    s.replace('\\', "\\\\").replace(',', "\\,")
}

fn short(s: &str) -> bool {
    !s.is_empty() && s.len() < 200
}

fn value_forms(def: &SearchParamDef, value: &IndexValue) -> Vec<(String, String)> {
    let code = def.code.as_str();
    let k = |modifier: &str| {
        if modifier.is_empty() {
            code.to_owned()
        } else {
            format!("{code}:{modifier}")
        }
    };
    let mut out = Vec::new();
    match value {
        IndexValue::String { exact, .. } if short(exact) => {
            let chars: Vec<char> = exact.chars().collect();
            let head: String = chars.iter().take(3).collect();
            let middle: String = chars.iter().skip(1).take(3).collect();
            out.push((k(""), esc(&head, false)));
            out.push((k("exact"), esc(exact, false)));
            if !middle.is_empty() {
                out.push((k("contains"), esc(&middle, false)));
            }
        }
        IndexValue::Token {
            system,
            code: value,
            text,
            of_type,
        } => {
            if let Some(c) = value.as_deref().filter(|c| short(c)) {
                out.push((k(""), pipe_join(&[c])));
                out.push((k("not"), pipe_join(&[c])));
                match system.as_deref() {
                    Some(s) if short(s) => {
                        out.push((k(""), pipe_join(&[s, c])));
                        out.push((k(""), pipe_join(&[s, ""])));
                    }
                    _ => out.push((k(""), pipe_join(&["", c]))),
                }
                for (ts, tc) in of_type {
                    if let (Some(ts), Some(tc)) = (ts, tc) {
                        out.push((k("of-type"), pipe_join(&[ts, tc, c])));
                    }
                }
            }
            if let Some(word) = text.as_deref().and_then(|t| t.split_whitespace().next()) {
                out.push((k("text"), esc(word, false)));
            }
        }
        IndexValue::Reference {
            reference,
            resource_type,
            id,
            identifier,
        } => {
            if let Some(r) = reference
                .as_deref()
                .filter(|r| short(r) && r.contains(['/', ':']))
            {
                out.push((k(""), esc(r, false)));
            }
            if let Some(id) = id
                .as_deref()
                .filter(|i| short(i) && !i.contains(['/', ':']))
            {
                out.push((k(""), esc(id, false)));
                if let Some(ty) = resource_type.as_deref() {
                    out.push((k(ty), esc(id, false)));
                }
            }
            if let Some((s, v)) = identifier {
                let (s, v) = (s.as_deref().unwrap_or(""), v.as_deref().unwrap_or(""));
                if short(v) {
                    out.push((k("identifier"), pipe_join(&[s, v])));
                }
            }
        }
        IndexValue::Date { start, .. } if *start > 0 && *start < 253_402_300_799_000 => {
            let day = &Instant(start * 1000).to_fhir()[..10];
            for prefix in ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"] {
                out.push((k(""), format!("{prefix}{day}")));
            }
            let minute = &Instant(start * 1000).to_fhir()[..16];
            out.push((k(""), format!("ge{minute}")));
        }
        IndexValue::Number { value, .. } => {
            for prefix in ["", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"] {
                out.push((k(""), format!("{prefix}{value}")));
            }
        }
        IndexValue::Quantity {
            value,
            low,
            system,
            code: unit_code,
            unit,
            ..
        } => {
            let number = value.unwrap_or(*low);
            if number.is_finite() && number.abs() < 1e300 {
                for prefix in ["", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"] {
                    out.push((k(""), format!("{prefix}{number}")));
                }
                if let (Some(s), Some(c)) = (system, unit_code) {
                    out.push((k(""), format!("{number}|{}", pipe_join(&[s, c]))));
                }
                if let Some(u) = unit.as_deref().filter(|u| short(u)) {
                    out.push((k(""), format!("le{number}||{}", pipe_join(&[u]))));
                }
            }
        }
        IndexValue::Composite(parts) => {
            if let Some(value) = composite_form(def, parts) {
                out.push((k(""), value));
            }
        }
        IndexValue::Text(text) => {
            let words = query_words(text);
            if let Some(first) = words.first() {
                let head: String = first.chars().take(3).collect();
                out.push((k(""), esc(first, false)));
                out.push((k(""), esc(&head, false)));
                let middle: String = first.chars().skip(1).take(3).collect();
                if !middle.is_empty() {
                    out.push((k(""), esc(&middle, false)));
                }
            }
            if let [.., a, b] = words.as_slice() {
                out.push((k(""), esc(&format!("{a} {b}"), false)));
            }
        }
        IndexValue::Position {
            latitude,
            longitude,
        } => {
            out.push((k(""), format!("{latitude}|{longitude}|0.001|km")));
            // About 11 km north: not within 5 km, within 20 km (20,000 m).
            let north = (latitude + 0.1).min(90.0);
            out.push((k(""), format!("{north}|{longitude}|5")));
            out.push((k(""), format!("{north}|{longitude}|20000|m")));
        }
        IndexValue::Uri(uri) if short(uri) => {
            out.push((k(""), esc(uri, false)));
            let half: String = uri.chars().take(uri.chars().count() / 2).collect();
            if !half.is_empty() {
                out.push((k("below"), esc(&half, false)));
            }
            out.push((k("above"), esc(&format!("{uri}/more"), false)));
        }
        _ => {}
    }
    out
}
