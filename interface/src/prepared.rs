//! [`PreparedResource`]: a resource serialized once, ahead of the write, with a slot for the
//! server-managed `meta.versionId` and `meta.lastUpdated`.
//!
//! Serializing is the costliest part of a write; preparing lets callers do it on any thread
//! (import parses and prepares on every core) so that a store's serialized write section
//! only joins three strings. The prepared form also answers "is this the stored content?"
//! by comparing bytes, without parsing the stored version. A resource prepared with
//! [`PreparedResource::new_indexed`] also carries its search index values, extracted from
//! the parsed value the caller already holds, so a store that indexes need not parse the
//! serialized form again.

use serde_json::{Map, Value};

use crate::id::ResourceId;
use crate::index::{IndexValues, extract_all};
use crate::instant::Instant;

/// A resource ready to be stored: `head` + `"versionId":…,"lastUpdated":…` + `tail`.
/// Equality compares the content only, not the optional index values.
#[derive(Debug, Clone)]
pub struct PreparedResource {
    head: String,
    tail: String,
    index: Option<IndexValues>,
}

impl PartialEq for PreparedResource {
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head && self.tail == other.tail
    }
}

impl Eq for PreparedResource {}

impl PreparedResource {
    /// Prepares `resource` for storage under `id`: `resourceType`, `id` and `meta` first,
    /// the client's `meta.versionId`/`meta.lastUpdated` dropped (the store sets them), every
    /// other element kept in its order.
    pub fn new(resource: Value, id: &ResourceId) -> Self {
        Self::prepare(resource, id, None)
    }

    /// Prepares like [`PreparedResource::new`] and extracts the index values of every R4
    /// search parameter of `resource_type` from the resource as it will be stored, except
    /// `_lastUpdated`, which depends on the time of the write (see
    /// [`crate::index::extract_all`]). Extraction runs on the calling thread: import
    /// parses, validates and indexes on every core this way.
    pub fn new_indexed(mut resource: Value, resource_type: &str, id: &ResourceId) -> Self {
        if let Value::Object(map) = &mut resource {
            map.insert("id".to_owned(), Value::String(id.to_string()));
            if let Some(Value::Object(meta)) = map.get_mut("meta") {
                meta.remove("versionId");
                meta.remove("lastUpdated");
            }
        }
        let mut index = extract_all(resource_type, &resource);
        index.retain(|(def, _)| def.code != "_lastUpdated");
        Self::prepare(resource, id, Some(index))
    }

    /// Whether it carries index values extracted by [`PreparedResource::new_indexed`].
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// Takes the index values extracted by [`PreparedResource::new_indexed`], if any.
    pub fn take_index(&mut self) -> Option<IndexValues> {
        self.index.take()
    }

    fn prepare(resource: Value, id: &ResourceId, index: Option<IndexValues>) -> Self {
        let mut fields = match resource {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let resource_type = fields.remove("resourceType").unwrap_or(Value::Null);
        fields.remove("id");
        let mut meta = match fields.remove("meta") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        meta.remove("versionId");
        meta.remove("lastUpdated");
        let head = format!(
            "{{\"resourceType\":{resource_type},\"id\":{},\"meta\":{{",
            Value::String(id.to_string())
        );
        let mut tail = String::new();
        push_members(&mut tail, meta);
        tail.push('}');
        push_members(&mut tail, fields);
        tail.push('}');
        Self { head, tail, index }
    }

    /// The stored JSON of version `version` written at `last_updated`.
    pub fn finish(&self, version: u64, last_updated: Instant) -> String {
        let middle = server_meta(version, last_updated);
        let mut out = String::with_capacity(self.head.len() + middle.len() + self.tail.len());
        out.push_str(&self.head);
        out.push_str(&middle);
        out.push_str(&self.tail);
        out
    }

    /// Whether `stored`, the body of `version` written at `last_updated`, says the same as
    /// this resource.
    pub fn same_as(&self, stored: &str, version: u64, last_updated: Instant) -> bool {
        let middle = server_meta(version, last_updated);
        stored.len() == self.head.len() + middle.len() + self.tail.len()
            && stored.starts_with(&self.head)
            && stored.ends_with(&self.tail)
            && stored[self.head.len()..stored.len() - self.tail.len()] == middle
    }
}

fn server_meta(version: u64, last_updated: Instant) -> String {
    format!(
        "\"versionId\":\"{version}\",\"lastUpdated\":\"{}\"",
        last_updated.to_fhir()
    )
}

/// Appends `,"k":v` for each member (the members of a JSON object without its braces).
fn push_members(out: &mut String, members: Map<String, Value>) {
    if members.is_empty() {
        return;
    }
    // `serde_json::to_string` writes into a byte buffer, faster than `Value`'s `Display`
    // through a formatter; a `Value` always serializes.
    let object = serde_json::to_string(&Value::Object(members)).unwrap_or_default();
    if let Some(inner) = object.get(1..object.len().saturating_sub(1)) {
        out.push(',');
        out.push_str(inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexValue;
    use serde_json::json;

    fn id(s: &str) -> ResourceId {
        ResourceId::parse(s).unwrap()
    }

    #[test]
    fn finishes_with_meta_first_and_other_elements_kept() {
        let p = PreparedResource::new(
            json!({"name": [{"family": "A"}], "id": "old", "meta": {"versionId": "9", "tag": [{"code": "t"}]}, "resourceType": "Patient"}),
            &id("p1"),
        );
        let body = p.finish(2, Instant(0));
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            value,
            json!({"resourceType": "Patient", "id": "p1",
                "meta": {"versionId": "2", "lastUpdated": "1970-01-01T00:00:00.000000Z", "tag": [{"code": "t"}]},
                "name": [{"family": "A"}]})
        );
        assert!(
            body.starts_with("{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\"")
        );
    }

    #[test]
    fn indexed_preparation_extracts_what_the_stored_body_holds() {
        let resource = json!({"resourceType": "Patient", "id": "old",
            "meta": {"versionId": "4", "lastUpdated": "2001-01-01T00:00:00Z", "tag": [{"code": "t"}]},
            "name": [{"family": "Doe"}], "birthDate": "1970"});
        let mut p = PreparedResource::new_indexed(resource.clone(), "Patient", &id("p1"));
        assert_eq!(p, PreparedResource::new(resource, &id("p1")));
        let stored: Value = serde_json::from_str(&p.finish(2, Instant(5))).unwrap();
        let mut expected = extract_all("Patient", &stored);
        expected.retain(|(def, _)| def.code != "_lastUpdated");
        let index = p.take_index().expect("index values");
        let codes = |v: &IndexValues| v.iter().map(|(d, _)| d.code.clone()).collect::<Vec<_>>();
        assert_eq!(codes(&index), codes(&expected));
        assert!(codes(&index).contains(&"_id".to_owned()));
        let values = |v: &IndexValues| -> Vec<Vec<IndexValue>> {
            v.iter().map(|(_, values)| values.clone()).collect()
        };
        assert_eq!(values(&index), values(&expected));
        assert!(p.take_index().is_none());
    }

    #[test]
    fn compares_with_stored_versions_by_bytes() {
        let p = PreparedResource::new(json!({"resourceType": "Basic"}), &id("b"));
        let stored = p.finish(3, Instant(5));
        assert_eq!(
            serde_json::from_str::<Value>(&stored).unwrap()["meta"]["versionId"],
            "3"
        );
        assert!(p.same_as(&stored, 3, Instant(5)));
        assert!(!p.same_as(&stored, 4, Instant(5)));
        let other = PreparedResource::new(json!({"resourceType": "Basic", "code": {}}), &id("b"));
        assert!(!other.same_as(&stored, 3, Instant(5)));
    }
}
