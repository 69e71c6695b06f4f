//! Resolving chained parameters (`subject:Patient.name=x`, several levels) and reverse
//! chains (`_has:Observation:patient:code=x`, nested) into plain criteria, by running the
//! inner searches first.
//!
//! This works over any [`SearchEngine`](hearth_interface::search::SearchEngine), including
//! those that cannot join (OpenSearch): a chain becomes a reference criterion listing the
//! matching targets, a `_has` becomes an `_id` criterion. The inner result sets are bounded
//! ([`MAX_INNER_MATCHES`]); a chain matching more asks the client to narrow it.

use std::collections::BTreeSet;

use hearth_interface::search::{Criterion, SearchQuery, SearchScope, SortKey, TotalMode};
use hearth_interface::search_params::{SearchParamRegistry, SearchParamType};
use hearth_interface::{Error, ResourceType, Result};

use crate::AppState;
use crate::include::{parsed_body, reference_targets};

/// The most resources an inner search of a chain or `_has` may match.
pub const MAX_INNER_MATCHES: usize = 1000;
/// How many levels a chain or `_has` may nest.
const MAX_DEPTH: usize = 4;

/// Criteria ready for the search engine.
#[derive(Debug)]
pub enum Planned {
    /// Plain criteria.
    Criteria(Vec<Criterion>),
    /// An inner search matched nothing, so the search matches nothing.
    NoMatch,
}

/// Checks that `key` (`name[:modifier]`, possibly chained) names a parameter of the types
/// `scope` searches. Parameters starting with `_` are left to the engine.
///
/// # Errors
/// `Invalid` naming the parameter.
pub fn check_known(scope: &SearchScope, key: &str) -> Result<()> {
    let name = key.split([':', '.']).next().unwrap_or(key);
    if name.starts_with('_') {
        return Ok(());
    }
    let registry = SearchParamRegistry::r4();
    let unknown = scope_types(scope)
        .into_iter()
        .find(|t| registry.get(t.as_str(), name).is_none());
    match unknown {
        None => Ok(()),
        Some(t) => Err(Error::invalid(format!(
            "unknown search parameter '{}' for {t}",
            hearth_interface::id::truncate_for_message(name)
        ))
        .at(name.to_owned())),
    }
}

/// Parses `_sort` (`a,-b`) into sort keys, checking that each names a parameter every
/// type of `scope` can be sorted on (`_id` and `_lastUpdated` always can).
///
/// # Errors
/// `Invalid` at `_sort`, naming the key.
pub fn parse_sort(scope: &SearchScope, value: &str) -> Result<Vec<SortKey>> {
    let registry = SearchParamRegistry::r4();
    let mut keys = Vec::new();
    for item in value.split(',') {
        let key = SortKey::parse(item).ok_or_else(|| {
            Error::invalid(format!(
                "_sort has an empty parameter name in '{}'",
                hearth_interface::id::truncate_for_message(value)
            ))
            .at("_sort")
        })?;
        let name = key.param.as_str();
        if !matches!(name, "_id" | "_lastUpdated") {
            for t in scope_types(scope) {
                let shown = hearth_interface::id::truncate_for_message(name);
                let def = registry.get(t.as_str(), name).ok_or_else(|| {
                    Error::invalid(format!("unknown sort parameter '{shown}' for {t}")).at("_sort")
                })?;
                let sortable = def.expression.is_some()
                    && !matches!(
                        def.kind,
                        SearchParamType::Composite | SearchParamType::Special
                    );
                if !sortable {
                    return Err(Error::invalid(format!(
                        "cannot sort on '{shown}': a {} parameter without sortable values",
                        def.kind.as_str()
                    ))
                    .at("_sort"));
                }
            }
        }
        keys.push(key);
    }
    Ok(keys)
}

fn scope_types(scope: &SearchScope) -> Vec<ResourceType> {
    match scope {
        SearchScope::Type(t)
        | SearchScope::Compartment {
            target: Some(t), ..
        } => vec![*t],
        SearchScope::System(types) if !types.is_empty() => types.clone(),
        _ => hearth_interface::id::all_resource_types()
            .iter()
            .filter_map(|n| ResourceType::parse(n))
            .collect(),
    }
}

/// Replaces every chain, `_has` and `_list` in `criteria` by plain criteria.
///
/// # Errors
/// `Invalid` for malformed chains, non-reference chain parameters, chains in system
/// searches, too deep nesting and inner searches matching too much.
pub async fn resolve(
    state: &AppState,
    scope: &SearchScope,
    criteria: Vec<Criterion>,
) -> Result<Planned> {
    let mut plain = Vec::with_capacity(criteria.len());
    for criterion in criteria {
        if criterion.name == crate::list_param::LIST {
            match crate::list_param::resolve(state, scope, &criterion).await? {
                Some(members) => plain.push(members),
                None => return Ok(Planned::NoMatch),
            }
            continue;
        }
        if !is_chained(&criterion) {
            plain.push(criterion);
            continue;
        }
        let ty = match scope {
            SearchScope::Type(t)
            | SearchScope::Compartment {
                target: Some(t), ..
            } => *t,
            _ => {
                return Err(Error::invalid(
                    "chained parameters and _has need a single resource type to search",
                ));
            }
        };
        match Box::pin(resolve_one(state, ty, &criterion, 0)).await? {
            Some(resolved) => plain.push(resolved),
            None => return Ok(Planned::NoMatch),
        }
    }
    Ok(Planned::Criteria(plain))
}

fn is_chained(c: &Criterion) -> bool {
    c.name == "_has"
        || c.name.contains('.')
        || c.modifier.as_deref().is_some_and(|m| m.contains('.'))
}

/// Resolves one chained criterion on `ty`; `None` when it can match nothing.
async fn resolve_one(
    state: &AppState,
    ty: ResourceType,
    criterion: &Criterion,
    depth: usize,
) -> Result<Option<Criterion>> {
    if depth >= MAX_DEPTH {
        return Err(Error::invalid(format!(
            "chains and _has may nest at most {MAX_DEPTH} levels"
        )));
    }
    if criterion.name == "_has" {
        resolve_has(state, ty, criterion, depth).await
    } else {
        resolve_chain(state, ty, criterion, depth).await
    }
}

/// The criterion `key=values` on `ty`, itself resolved when chained.
async fn inner_criterion(
    state: &AppState,
    ty: ResourceType,
    key: &str,
    values: &[String],
    depth: usize,
) -> Result<Option<Criterion>> {
    let (name, modifier) = match key.strip_prefix("_has:") {
        Some(rest) => ("_has".to_owned(), Some(rest.to_owned())),
        None => match key.split_once(':') {
            Some((n, m)) if !n.contains('.') => (n.to_owned(), Some(m.to_owned())),
            _ => (key.to_owned(), None),
        },
    };
    let criterion = Criterion {
        name,
        modifier,
        values: values.to_vec(),
    };
    if is_chained(&criterion) {
        Box::pin(resolve_one(state, ty, &criterion, depth + 1)).await
    } else {
        check_known(&SearchScope::Type(ty), &criterion.name)?;
        Ok(Some(criterion))
    }
}

/// `ref[:Type].rest=values` on `ty` -> `ref=Type/id1,Type/id2,...`.
async fn resolve_chain(
    state: &AppState,
    ty: ResourceType,
    criterion: &Criterion,
    depth: usize,
) -> Result<Option<Criterion>> {
    let key = match &criterion.modifier {
        Some(m) => format!("{}:{m}", criterion.name),
        None => criterion.name.clone(),
    };
    let (head, rest) = key
        .split_once('.')
        .ok_or_else(|| Error::invalid("malformed chain"))?;
    let (reference, target) = match head.split_once(':') {
        Some((r, t)) => (r, Some(t)),
        None => (head, None),
    };
    let def = SearchParamRegistry::r4()
        .get(ty.as_str(), reference)
        .ok_or_else(|| {
            Error::invalid(format!("unknown search parameter '{reference}' for {ty}"))
                .at(reference.to_owned())
        })?;
    if def.kind != SearchParamType::Reference {
        return Err(Error::invalid(format!(
            "'{reference}' is not a reference parameter: it cannot be chained"
        ))
        .at(reference.to_owned()));
    }
    let rest_name = rest.split([':', '.']).next().unwrap_or(rest);
    let targets: Vec<ResourceType> = match target {
        Some(t) => vec![
            ResourceType::parse(t)
                .ok_or_else(|| Error::invalid(format!("unknown resource type '{t}' in a chain")))?,
        ],
        None => def
            .targets
            .iter()
            .filter_map(|t| ResourceType::parse(t))
            .filter(|t| {
                rest_name.starts_with('_')
                    || SearchParamRegistry::r4()
                        .get(t.as_str(), rest_name)
                        .is_some()
            })
            .collect(),
    };
    if targets.is_empty() {
        return Err(Error::invalid(format!(
            "no target of '{reference}' has a search parameter '{rest_name}'"
        )));
    }
    let mut found = BTreeSet::new();
    for target in targets {
        let Some(inner) = inner_criterion(state, target, rest, &criterion.values, depth).await?
        else {
            continue;
        };
        for m in inner_matches(state, target, inner).await? {
            found.insert(format!("{}/{}", m.resource_type, m.id));
        }
        check_size(found.len(), &key)?;
    }
    Ok((!found.is_empty()).then(|| Criterion {
        name: reference.to_owned(),
        modifier: None,
        values: found.into_iter().collect(),
    }))
}

/// `_has:Type:ref:rest=values` on `ty` -> `_id=` the `ty` resources that `Type` resources
/// matching `rest` point to through `ref`.
async fn resolve_has(
    state: &AppState,
    ty: ResourceType,
    criterion: &Criterion,
    depth: usize,
) -> Result<Option<Criterion>> {
    let spec = criterion.modifier.as_deref().unwrap_or("");
    let mut parts = spec.splitn(3, ':');
    let (Some(source), Some(reference), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::invalid(
            "_has needs _has:[type]:[reference parameter]:[parameter]=value",
        )
        .at("_has"));
    };
    let source = ResourceType::parse(source).ok_or_else(|| {
        Error::invalid(format!("unknown resource type '{source}' in _has")).at("_has")
    })?;
    let def = SearchParamRegistry::r4()
        .get(source.as_str(), reference)
        .filter(|d| d.kind == SearchParamType::Reference)
        .ok_or_else(|| {
            Error::invalid(format!(
                "'{reference}' is not a reference parameter of {source}"
            ))
            .at("_has")
        })?;
    let Some(inner) = inner_criterion(state, source, rest, &criterion.values, depth).await? else {
        return Ok(None);
    };
    let mut ids = BTreeSet::new();
    for m in inner_matches(state, source, inner).await? {
        let Some(resource) = parsed_body(&m) else {
            continue;
        };
        ids.extend(
            reference_targets(def, &resource)
                .filter(|(t, _)| *t == ty)
                .map(|(_, id)| id.to_string()),
        );
    }
    check_size(ids.len(), "_has")?;
    Ok((!ids.is_empty()).then(|| Criterion {
        name: "_id".into(),
        modifier: None,
        values: ids.into_iter().collect(),
    }))
}

async fn inner_matches(
    state: &AppState,
    ty: ResourceType,
    criterion: Criterion,
) -> Result<Vec<hearth_interface::store::StoredResource>> {
    let query = SearchQuery {
        criteria: vec![criterion],
        count: MAX_INNER_MATCHES + 1,
        cursor: None,
        total: TotalMode::None,
        sort: Vec::new(),
    };
    query.check_limits()?;
    let page = state.search.search(&SearchScope::Type(ty), &query).await?;
    check_size(page.matches.len(), &ty.to_string())?;
    Ok(page.matches)
}

fn check_size(n: usize, what: &str) -> Result<()> {
    if n > MAX_INNER_MATCHES {
        return Err(Error::invalid(format!(
            "'{}' matches more than {MAX_INNER_MATCHES} resources: add criteria to narrow it",
            hearth_interface::id::truncate_for_message(what)
        )));
    }
    Ok(())
}
