//! The [`SearchEngine`] trait and the parsed search query model.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::Result;
use crate::id::{ResourceId, ResourceType};
use crate::store::StoredResource;

/// Where a search looks.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchScope {
    /// One resource type (`GET /Patient?...`).
    Type(ResourceType),
    /// Several types, or all when empty (`GET /?_type=...`).
    System(Vec<ResourceType>),
    /// A compartment (`GET /Patient/1/Observation?...`); `target` `None` means every type
    /// in the compartment.
    Compartment {
        /// The compartment type (`Patient`).
        compartment: ResourceType,
        /// The compartment owner's id.
        id: ResourceId,
        /// The type searched within the compartment.
        target: Option<ResourceType>,
    },
}

/// One search criterion: `name[:modifier]=value1,value2` (the values are ORed; repeated
/// parameters are ANDed by appearing as separate criteria).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    /// The parameter code (`identifier`, `subject:Patient.name` keeps its chain here).
    pub name: String,
    /// The modifier after `:`, if any (`exact`, `missing`, `not`, ...).
    pub modifier: Option<String>,
    /// The values, already split on unescaped commas, with `\,` unescaped.
    pub values: Vec<String>,
}

impl Criterion {
    /// Parses `name[:modifier]` and a raw value into a criterion.
    pub fn parse(key: &str, value: &str) -> Self {
        let (name, modifier) = match key.split_once(':') {
            Some((n, m)) => (n.to_owned(), Some(m.to_owned())),
            None => (key.to_owned(), None),
        };
        Self {
            name,
            modifier,
            values: split_or_values(value),
        }
    }
}

/// Splits a search value on commas not escaped by `\`, and unescapes `\,` and `\\`.
/// Other escapes (`\|`, `\$`) are kept for the type-specific value parsers.
pub fn split_or_values(raw: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ (',' | '\\')) => current.push(next),
                Some(next) => {
                    current.push('\\');
                    current.push(next);
                }
                None => current.push('\\'),
            },
            ',' => values.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    values.push(current);
    values
}

/// How `Bundle.total` is computed (`_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotalMode {
    /// No total.
    None,
    /// An estimate is fine.
    Estimate,
    /// The exact count.
    #[default]
    Accurate,
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    /// The criteria, all of which must match.
    pub criteria: Vec<Criterion>,
    /// Page size.
    pub count: usize,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
    /// How to compute the total.
    pub total: TotalMode,
    /// The order of the matches (`_sort`), most significant key first; empty for the
    /// engine's default order. See [`SortKey`] for the semantics every engine follows.
    pub sort: Vec<SortKey>,
}

/// One key of `_sort` (FHIR R4 search.html#_sort): `param` ascending, or descending when
/// written `-param`.
///
/// # Semantics (the same on every engine)
/// - The sort value of a resource for a parameter is taken from its index values
///   ([`IndexValue`](crate::index::IndexValue)) of that parameter: a resource with several
///   values sorts by its lowest value when ascending and by its highest when descending.
/// - Per parameter type: string by the normalized text; token by the code; reference by
///   the reference text (`Type/id` for relative references); uri by the uri; date by the
///   start of the range ascending and the end descending; number and quantity by the
///   value (a Range by its low bound ascending, its high bound descending; units are not
///   compared). `_id` sorts by the logical id, `_lastUpdated` by the version's time.
/// - Resources without a value sort last, in both directions.
/// - Ties (on every key) are broken by resource type, then id, ascending, so the order
///   is total and stable while resources change: paging cursors are positions in it.
/// - Composite and special parameters cannot be sorted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The parameter code (`birthdate`, `_lastUpdated`).
    pub param: String,
    /// Whether the order is descending (`-param`).
    pub descending: bool,
}

impl SortKey {
    /// Parses one comma-separated item of `_sort` (`date` or `-date`); `None` when the
    /// name is empty.
    pub fn parse(item: &str) -> Option<Self> {
        let (param, descending) = match item.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (item, false),
        };
        (!param.is_empty()).then(|| Self {
            param: param.to_owned(),
            descending,
        })
    }
}

/// The most criteria one search may have.
pub const MAX_CRITERIA: usize = 64;
/// The most OR values one criterion may have.
pub const MAX_OR_VALUES: usize = 1000;
/// The longest value of one criterion, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

impl SearchQuery {
    /// Rejects queries too large to be a reasonable request (a bound on the work one
    /// request can cause).
    ///
    /// # Errors
    /// `Invalid` naming the limit that was passed.
    pub fn check_limits(&self) -> Result<()> {
        if self.criteria.len() > MAX_CRITERIA {
            return Err(crate::Error::invalid(format!(
                "too many search parameters ({}): at most {MAX_CRITERIA}",
                self.criteria.len()
            )));
        }
        for c in &self.criteria {
            if c.values.len() > MAX_OR_VALUES {
                return Err(crate::Error::invalid(format!(
                    "too many values for '{}' ({}): at most {MAX_OR_VALUES}",
                    crate::id::truncate_for_message(&c.name),
                    c.values.len()
                ))
                .at(c.name.clone()));
            }
            if c.values.iter().any(|v| v.len() > MAX_VALUE_BYTES) {
                return Err(crate::Error::invalid(format!(
                    "a value of '{}' is longer than {MAX_VALUE_BYTES} bytes",
                    crate::id::truncate_for_message(&c.name)
                ))
                .at(c.name.clone()));
            }
        }
        Ok(())
    }
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage {
    /// The matches on this page (`search.mode = match`).
    pub matches: Vec<StoredResource>,
    /// Cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Cursor for the previous page; `None` on the first page. Like `next_cursor`, it is a
    /// position in the order (before this page's first match), so it stays valid while
    /// data changes.
    pub previous_cursor: Option<String>,
    /// Total number of matches, when asked for and known.
    pub total: Option<u64>,
}

/// Description of one parameter a search engine supports, for the CapabilityStatement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedParam {
    /// The parameter code.
    pub code: String,
    /// The FHIR search parameter type (`token`, `string`, ...).
    pub kind: &'static str,
    /// The canonical URL of its SearchParameter definition.
    pub definition: String,
}

/// Finds resources by search criteria.
///
/// # Contract
/// - Results reflect every write acknowledged before the search started, unless the
///   backend documents otherwise (read-after-write on the embedded backend).
/// - An unknown parameter or an unsupported modifier is an `Invalid` error naming it.
/// - Cursors are opaque and stable while data changes.
///
/// # Errors
/// `Invalid` for bad criteria or cursors, `Internal` for backend failures.
#[async_trait]
pub trait SearchEngine: Send + Sync + Debug + 'static {
    /// Runs a search and returns one page.
    async fn search(&self, scope: &SearchScope, query: &SearchQuery) -> Result<SearchPage>;

    /// The parameters searchable on `resource_type`.
    fn supported_params(&self, resource_type: ResourceType) -> Vec<SupportedParam>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_or_values_with_escapes() {
        assert_eq!(split_or_values("a,b"), vec!["a", "b"]);
        assert_eq!(split_or_values(r"a\,b,c"), vec!["a,b", "c"]);
        assert_eq!(split_or_values(r"x\|y"), vec![r"x\|y"]);
        assert_eq!(split_or_values(""), vec![""]);
    }

    #[test]
    fn parses_sort_keys() {
        let key = SortKey::parse("-date").expect("key");
        assert_eq!((key.param.as_str(), key.descending), ("date", true));
        let key = SortKey::parse("_id").expect("key");
        assert_eq!((key.param.as_str(), key.descending), ("_id", false));
        assert_eq!(SortKey::parse("-"), None);
        assert_eq!(SortKey::parse(""), None);
    }

    #[test]
    fn parses_modifiers() {
        let c = Criterion::parse("name:exact", "Smith");
        assert_eq!(c.name, "name");
        assert_eq!(c.modifier.as_deref(), Some("exact"));
    }
}
