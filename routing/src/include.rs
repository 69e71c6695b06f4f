//! `_include` and `_revinclude` (with `:iterate`): the resources a page of matches refers
//! to, or that refer to it, added to the searchset with `search.mode = include`.
//!
//! Like chains, includes work over any search engine: references are read from the matches
//! with the shared index extraction, targets fetched from the store, and reverse includes
//! found by a reference search. Work is bounded: at most [`MAX_INCLUDED`] resources and
//! [`MAX_ITERATIONS`] rounds of `:iterate`.

use std::collections::HashSet;

use hearth_interface::index::{IndexValue, extract};
use hearth_interface::search::{Criterion, MAX_OR_VALUES, SearchQuery, SearchScope, TotalMode};
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, ResourceId, ResourceType, Result};
use serde_json::Value;

use crate::AppState;

/// The most resources includes may add to one page.
pub const MAX_INCLUDED: usize = 1000;
/// How many rounds `:iterate` follows.
pub const MAX_ITERATIONS: usize = 3;
/// The most `_include`/`_revinclude` parameters one search may have.
const MAX_SPECS: usize = 16;

/// One `_include`/`_revinclude` value: `Source:param[:Target]` or `*`.
#[derive(Debug, Clone)]
struct Spec {
    source: Option<ResourceType>,
    param: Option<&'static SearchParamDef>,
    target: Option<ResourceType>,
    iterate: bool,
}

/// The includes a search asks for.
#[derive(Debug, Default)]
pub struct IncludeRequest {
    includes: Vec<Spec>,
    revincludes: Vec<Spec>,
}

impl IncludeRequest {
    /// Adds `key=value` (`_include`, `_include:iterate`, `_revinclude`, ...).
    ///
    /// # Errors
    /// `Invalid` for unknown modifiers, types or parameters, non-reference parameters and
    /// too many include parameters.
    pub fn add(&mut self, key: &str, value: &str) -> Result<()> {
        let (kind, modifier) = key
            .split_once(':')
            .map_or((key, None), |(k, m)| (k, Some(m)));
        let iterate = match modifier {
            None => false,
            Some("iterate" | "recurse") => true,
            Some(other) => {
                return Err(
                    Error::invalid(format!("unknown modifier '{other}' on {kind}"))
                        .at(kind.to_owned()),
                );
            }
        };
        let reverse = match kind {
            "_include" => false,
            "_revinclude" => true,
            other => return Err(Error::invalid(format!("unknown parameter '{other}'"))),
        };
        if self.includes.len() + self.revincludes.len() >= MAX_SPECS {
            return Err(Error::invalid(format!(
                "at most {MAX_SPECS} _include/_revinclude parameters"
            ))
            .at(kind.to_owned()));
        }
        let spec = parse_spec(kind, value, iterate)?;
        if reverse && spec.param.is_none() {
            return Err(Error::invalid("_revinclude needs [type]:[parameter]").at(kind.to_owned()));
        }
        if reverse {
            self.revincludes.push(spec)
        } else {
            self.includes.push(spec)
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.includes.is_empty() && self.revincludes.is_empty()
    }
}

fn parse_spec(kind: &str, value: &str, iterate: bool) -> Result<Spec> {
    if value == "*" {
        return Ok(Spec {
            source: None,
            param: None,
            target: None,
            iterate,
        });
    }
    let bad = || {
        Error::invalid(format!(
            "{kind} must be [type]:[parameter][:targettype] or *, not '{}'",
            hearth_interface::id::truncate_for_message(value)
        ))
        .at(kind.to_owned())
    };
    let mut parts = value.split(':');
    let source = parts.next().and_then(ResourceType::parse).ok_or_else(bad)?;
    let param_name = parts.next().ok_or_else(bad)?;
    let param = SearchParamRegistry::r4()
        .get(source.as_str(), param_name)
        .filter(|d| d.kind == SearchParamType::Reference)
        .ok_or_else(|| {
            Error::invalid(format!(
                "'{param_name}' is not a reference parameter of {source}"
            ))
            .at(kind.to_owned())
        })?;
    let target = parts
        .next()
        .map(|t| ResourceType::parse(t).ok_or_else(bad))
        .transpose()?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Spec {
        source: Some(source),
        param: Some(param),
        target,
        iterate,
    })
}

/// The resources the request's includes add to `matches`, without repeats.
///
/// # Errors
/// Store and search failures.
pub async fn collect(
    state: &AppState,
    matches: &[StoredResource],
    request: &IncludeRequest,
) -> Result<Vec<StoredResource>> {
    if request.is_empty() || matches.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: HashSet<(ResourceType, ResourceId)> = matches
        .iter()
        .map(|m| (m.resource_type, m.id.clone()))
        .collect();
    let mut included = Vec::new();
    let mut frontier: Vec<StoredResource> = matches.to_vec();
    for round in 0..=MAX_ITERATIONS {
        let mut added = Vec::new();
        for spec in request.includes.iter().filter(|s| round == 0 || s.iterate) {
            for reference in references(&frontier, spec) {
                if included.len() + added.len() >= MAX_INCLUDED {
                    break;
                }
                if !seen.insert(reference.clone()) {
                    continue;
                }
                let stored = state.store.read(reference.0, &reference.1).await?;
                added.extend(stored.filter(|s| !s.is_deleted()));
            }
        }
        for spec in request
            .revincludes
            .iter()
            .filter(|s| round == 0 || s.iterate)
        {
            for stored in referrers(state, &frontier, spec).await? {
                if included.len() + added.len() >= MAX_INCLUDED {
                    break;
                }
                if seen.insert((stored.resource_type, stored.id.clone())) {
                    added.push(stored);
                }
            }
        }
        if added.is_empty() {
            break;
        }
        frontier = added.clone();
        included.extend(added);
    }
    Ok(included)
}

/// The `(type, id)` targets of `spec`'s reference parameter(s) in `resources`.
fn references(resources: &[StoredResource], spec: &Spec) -> Vec<(ResourceType, ResourceId)> {
    let mut out = Vec::new();
    for stored in resources {
        if spec.source.is_some_and(|s| s != stored.resource_type) {
            continue;
        }
        let Some(resource) = parsed_body(stored) else {
            continue;
        };
        let params: Vec<&SearchParamDef> = match spec.param {
            Some(p) => vec![p],
            None => SearchParamRegistry::r4()
                .for_type(stored.resource_type.as_str())
                .filter(|d| d.kind == SearchParamType::Reference)
                .collect(),
        };
        for def in params {
            out.extend(
                reference_targets(def, &resource)
                    .filter(|(t, _)| spec.target.is_none_or(|target| target == *t)),
            );
        }
    }
    out
}

/// The stored resource as JSON; `None` for deletions.
pub(crate) fn parsed_body(stored: &StoredResource) -> Option<Value> {
    stored
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
}

/// The literal `Type/id` targets of the reference parameter `def` in `resource`.
pub(crate) fn reference_targets(
    def: &SearchParamDef,
    resource: &Value,
) -> impl Iterator<Item = (ResourceType, ResourceId)> {
    extract(def, resource)
        .into_iter()
        .filter_map(|value| match value {
            IndexValue::Reference {
                resource_type: Some(t),
                id: Some(id),
                ..
            } => Some((ResourceType::parse(&t)?, ResourceId::parse(&id).ok()?)),
            _ => None,
        })
}

/// The resources of `spec`'s source type whose reference parameter points at `resources`.
async fn referrers(
    state: &AppState,
    resources: &[StoredResource],
    spec: &Spec,
) -> Result<Vec<StoredResource>> {
    let (Some(source), Some(param)) = (spec.source, spec.param) else {
        return Ok(Vec::new());
    };
    let targets: Vec<String> = resources
        .iter()
        .filter(|r| spec.target.is_none_or(|t| t == r.resource_type))
        .map(|r| format!("{}/{}", r.resource_type, r.id))
        .collect();
    let mut found = Vec::new();
    for chunk in targets.chunks(MAX_OR_VALUES) {
        let criterion = Criterion {
            name: param.code.clone(),
            modifier: None,
            values: chunk.to_vec(),
        };
        let query = SearchQuery {
            criteria: vec![criterion],
            count: MAX_INCLUDED,
            cursor: None,
            total: TotalMode::None,
            sort: Vec::new(),
        };
        found.extend(
            state
                .search
                .search(&SearchScope::Type(source), &query)
                .await?
                .matches,
        );
        if found.len() >= MAX_INCLUDED {
            break;
        }
    }
    Ok(found)
}
