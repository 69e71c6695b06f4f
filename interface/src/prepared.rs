//! [`PreparedResource`]: a resource serialized once, ahead of the write, with a slot for the
//! server-managed `meta.versionId` and `meta.lastUpdated`.
//!
//! Serializing is the costliest part of a write; preparing lets callers do it on any thread
//! (import parses and prepares on every core) so that a store's serialized write section
//! only joins three strings. The prepared form also answers "is this the stored content?"
//! by comparing bytes, without parsing the stored version.

use serde_json::{Map, Value};

use crate::id::ResourceId;
use crate::instant::Instant;

/// A resource ready to be stored: `head` + `"versionId":…,"lastUpdated":…` + `tail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedResource {
    head: String,
    tail: String,
}

impl PreparedResource {
    /// Prepares `resource` for storage under `id`: `resourceType`, `id` and `meta` first,
    /// the client's `meta.versionId`/`meta.lastUpdated` dropped (the store sets them), every
    /// other element kept in its order.
    pub fn new(resource: Value, id: &ResourceId) -> Self {
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
        Self { head, tail }
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
    let object = Value::Object(members).to_string();
    out.push(',');
    out.push_str(&object[1..object.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;
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
