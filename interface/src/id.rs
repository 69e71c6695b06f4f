//! Validated identifiers: resource types from the R4 list and logical ids by the FHIR id rule.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

const RESOURCE_TYPES_JSON: &str = include_str!("../data/resource-types.json");

/// Every concrete R4 resource type name, sorted.
pub fn all_resource_types() -> &'static [&'static str] {
    static TYPES: OnceLock<Vec<&'static str>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let names: Vec<String> = serde_json::from_str(RESOURCE_TYPES_JSON).unwrap_or_default();
        names
            .into_iter()
            .map(|n| &*Box::leak(n.into_boxed_str()))
            .collect()
    })
}

fn type_set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| all_resource_types().iter().copied().collect())
}

/// A FHIR R4 resource type name known to this server (`Patient`, `Observation`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType(&'static str);

impl ResourceType {
    /// Looks `name` up among the R4 resource types; `None` if it is not one.
    pub fn parse(name: &str) -> Option<Self> {
        type_set().get(name).map(|n| Self(n))
    }

    /// The type's name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Whether `id` follows the FHIR `id` datatype: 1 to 64 characters of `[A-Za-z0-9-.]`.
pub fn is_fhir_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A logical resource id: 1 to 64 characters of `[A-Za-z0-9-.]` (FHIR `id` datatype).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    /// Validates `id` against the FHIR id rule.
    ///
    /// # Errors
    /// [`crate::IssueKind::Invalid`] when the id is empty, longer than 64 characters or
    /// contains other characters than letters, digits, `-` and `.`.
    pub fn parse(id: &str) -> Result<Self> {
        if is_fhir_id(id) {
            Ok(Self(id.to_owned()))
        } else {
            Err(Error::invalid(format!(
                "invalid resource id '{}': ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
                truncate_for_message(id)
            )))
        }
    }

    /// A new random (UUID v4 shaped) id for server-assigned creates.
    pub fn from_uuid(uuid: impl fmt::Display) -> Self {
        Self(uuid.to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shortens user input quoted in error messages so they stay readable and bounded.
pub fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_all_r4_types() {
        assert_eq!(all_resource_types().len(), 146);
        assert!(ResourceType::parse("Patient").is_some());
        assert!(ResourceType::parse("patient").is_none());
        assert!(ResourceType::parse("Resource").is_none());
    }

    #[test]
    fn validates_ids() {
        assert!(ResourceId::parse("abc-1.2").is_ok());
        assert!(ResourceId::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a/b", "..%2f", &"a".repeat(65), "é"] {
            assert!(ResourceId::parse(bad).is_err(), "{bad}");
        }
    }
}
