//! Building `history` and `searchset` Bundles from stored versions, with paging links.

use hearth_interface::outcome::{Issue, operation_outcome};
use hearth_interface::store::{ChangeKind, StoredResource};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::negotiate::Presentation;
use crate::summary;

/// How an entry got into a search result.
#[derive(Debug, Clone, Copy)]
pub enum SearchMode {
    /// It matched the criteria.
    Match,
    /// An `_include` or `_revinclude` added it.
    Include,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle<'a> {
    resource_type: &'static str,
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    link: Vec<Link<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entry: Vec<Entry>,
}

#[derive(Serialize)]
struct Link<'a> {
    relation: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    full_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<EntrySearch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<EntryRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<EntryResponse>,
}

#[derive(Serialize)]
struct EntrySearch {
    mode: &'static str,
}

#[derive(Serialize)]
struct EntryRequest {
    method: &'static str,
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryResponse {
    status: &'static str,
    etag: String,
    last_modified: String,
}

/// The paging links of a Bundle: `self`, and `first`/`previous`/`next` when there are
/// other pages.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The URL of this page.
    pub self_url: String,
    /// The URL of the first page, when this is not it.
    pub first: Option<String>,
    /// The URL of the previous page, if any.
    pub previous: Option<String>,
    /// The URL of the next page, if any.
    pub next: Option<String>,
}

impl Links {
    fn to_vec(&self) -> Vec<Link<'_>> {
        let mut links = vec![Link {
            relation: "self",
            url: &self.self_url,
        }];
        if let Some(first) = &self.first {
            links.push(Link {
                relation: "first",
                url: first,
            });
        }
        if let Some(previous) = &self.previous {
            links.push(Link {
                relation: "previous",
                url: previous,
            });
        }
        if let Some(next) = &self.next {
            links.push(Link {
                relation: "next",
                url: next,
            });
        }
        links
    }
}

fn resource_json(stored: &StoredResource, p: &Presentation) -> Option<Box<RawValue>> {
    let body = stored.body.as_deref()?;
    if p.summary == crate::negotiate::SummaryMode::False && p.elements.is_none() {
        return RawValue::from_string(body.to_owned()).ok();
    }
    let value: Value = serde_json::from_str(body).ok()?;
    RawValue::from_string(summary::apply(value, p).to_string()).ok()
}

fn full_url(base: &str, stored: &StoredResource) -> String {
    format!("{base}/{}/{}", stored.resource_type, stored.id)
}

/// A `history` Bundle, newest version first; deletions carry no resource.
pub fn history(
    base: &str,
    entries: &[StoredResource],
    total: Option<u64>,
    links: &Links,
    p: &Presentation,
) -> String {
    let entry = entries
        .iter()
        .map(|stored| {
            let (url, status) = match stored.change {
                ChangeKind::Create => (stored.resource_type.to_string(), "201 Created"),
                ChangeKind::Update => (format!("{}/{}", stored.resource_type, stored.id), "200 OK"),
                ChangeKind::Delete => (
                    format!("{}/{}", stored.resource_type, stored.id),
                    "204 No Content",
                ),
            };
            Entry {
                full_url: full_url(base, stored),
                resource: resource_json(stored, p),
                search: None,
                request: Some(EntryRequest {
                    method: stored.change.method(),
                    url,
                }),
                response: Some(EntryResponse {
                    status,
                    etag: stored.etag(),
                    last_modified: stored.last_updated.to_fhir(),
                }),
            }
        })
        .collect();
    render(
        Bundle {
            resource_type: "Bundle",
            r#type: "history",
            total,
            link: links.to_vec(),
            entry,
        },
        p,
    )
}

/// A `searchset` Bundle; `warnings` (ignored parameters under `handling=lenient`) become an
/// `OperationOutcome` entry with `search.mode = outcome`.
pub fn searchset(
    base: &str,
    matches: &[(StoredResource, SearchMode)],
    total: Option<u64>,
    links: &Links,
    warnings: &[Issue],
    p: &Presentation,
) -> String {
    let mut entry: Vec<Entry> = matches
        .iter()
        .map(|(stored, mode)| Entry {
            full_url: full_url(base, stored),
            resource: resource_json(stored, p),
            search: Some(EntrySearch {
                mode: match mode {
                    SearchMode::Match => "match",
                    SearchMode::Include => "include",
                },
            }),
            request: None,
            response: None,
        })
        .collect();
    if !warnings.is_empty() {
        let outcome = operation_outcome(warnings).to_string();
        entry.push(Entry {
            full_url: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            resource: RawValue::from_string(outcome).ok(),
            search: Some(EntrySearch { mode: "outcome" }),
            request: None,
            response: None,
        });
    }
    render(
        Bundle {
            resource_type: "Bundle",
            r#type: "searchset",
            total,
            link: links.to_vec(),
            entry,
        },
        p,
    )
}

fn render(bundle: Bundle<'_>, p: &Presentation) -> String {
    let compact = serde_json::to_string(&bundle).unwrap_or_default();
    if !p.pretty {
        return compact;
    }
    serde_json::from_str::<Value>(&compact)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(compact)
}

/// Builds a page URL from a path and query pairs.
pub fn page_url(base: &str, path: &str, params: &[(String, String)]) -> String {
    let mut url = format!("{base}/{path}");
    if !params.is_empty() {
        url.push('?');
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        url.push_str(&ser.finish());
    }
    url
}
