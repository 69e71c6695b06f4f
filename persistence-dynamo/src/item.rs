//! The table's item shapes: key formats, attribute names, and decoding of items from any of
//! the three forms they arrive in (the DynamoDB API, the DynamoDB Streams API, and the JSON
//! of Lambda stream events).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use hearth_interface::instant::Instant;
use hearth_interface::store::{ChangeKind, StoredResource};
use hearth_interface::{Error, ResourceId, ResourceType, Result};

/// Partition key attribute.
pub(crate) const PK: &str = "pk";
/// Sort key attribute.
pub(crate) const SK: &str = "sk";
/// Resource type.
pub(crate) const TYPE: &str = "t";
/// Logical id.
pub(crate) const ID: &str = "i";
/// Version number (on a pointer: the current committed version).
pub(crate) const VERSION: &str = "v";
/// `meta.lastUpdated` in microseconds.
pub(crate) const TS: &str = "ts";
/// Change kind: `C`, `U` or `D`.
pub(crate) const CHANGE: &str = "ch";
/// The stored JSON (absent on deletions).
pub(crate) const BODY: &str = "b";
/// On a version item: the id of the large transaction that staged it, until roll-forward.
pub(crate) const STAGED: &str = "stg";
/// History GSI partition key by type.
pub(crate) const HIST_TYPE: &str = "ht";
/// History GSI partition key for the whole system (sharded).
pub(crate) const HIST_SHARD: &str = "hs";
/// History GSI sort key (see [`history_key`]).
pub(crate) const HIST_KEY: &str = "hk";
/// Current-resources GSI partition key: the type, only while the resource is live.
pub(crate) const CUR_TYPE: &str = "ct";
/// Current-resources GSI sort key (see [`current_key`]).
pub(crate) const CUR_KEY: &str = "ck";
/// On a pointer: the large transaction holding its lock.
pub(crate) const LOCK: &str = "lk";

/// The sort key of a resource's pointer item; sorts after every version key.
pub(crate) const POINTER_SK: &str = "~CURRENT";
/// The partition holding one status item per open large transaction.
pub(crate) const TX_STATUS_PK: &str = "TXS";

/// GSI: every version by type, newest first.
pub(crate) const GSI_HISTORY_TYPE: &str = "history-type";
/// GSI: every version, spread over [`SYSTEM_SHARDS`] partitions.
pub(crate) const GSI_HISTORY_SYSTEM: &str = "history-system";
/// GSI: current, live resources by type in order of last change (sparse).
pub(crate) const GSI_CURRENT: &str = "current-by-type";

/// How many partitions system history is spread over (queried in parallel and merged).
pub(crate) const SYSTEM_SHARDS: u32 = 4;

/// The partition key of a resource's items.
pub(crate) fn resource_pk(resource_type: ResourceType, id: &ResourceId) -> String {
    format!("R#{resource_type}#{id}")
}

/// The sort key of a version item.
pub(crate) fn version_sk(version: u64) -> String {
    format!("V#{version:020}")
}

/// The history sort key: unique per version, ordered by time.
pub(crate) fn history_key(ts: i64, resource_type: ResourceType, id: &ResourceId, v: u64) -> String {
    format!("{}#{resource_type}#{id}#{v:020}", time_key(ts))
}

/// The current-resources sort key: ordered by time, unique per resource.
pub(crate) fn current_key(ts: i64, id: &ResourceId) -> String {
    format!("{}#{id}", time_key(ts))
}

/// A fixed-width, lexically ordered form of a timestamp (negative ones clamp to zero).
pub(crate) fn time_key(ts: i64) -> String {
    format!("{:020}", ts.max(0))
}

/// The system-history shard of a resource: a stable hash of its key (FNV-1a).
pub(crate) fn system_shard(pk: &str) -> String {
    let hash = pk.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("H#{}", hash % u64::from(SYSTEM_SHARDS))
}

/// Parses the version out of a history key.
pub(crate) fn history_key_version(key: &str) -> Option<u64> {
    key.rsplit('#').next()?.parse().ok()
}

/// The single-letter code of a change kind.
pub(crate) fn change_code(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Create => "C",
        ChangeKind::Update => "U",
        ChangeKind::Delete => "D",
    }
}

fn change_from_code(code: &str) -> Option<ChangeKind> {
    match code {
        "C" => Some(ChangeKind::Create),
        "U" => Some(ChangeKind::Update),
        "D" => Some(ChangeKind::Delete),
        _ => None,
    }
}

/// A string attribute value.
pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// An attribute value reduced to what Hearth stores: strings and numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attr {
    /// `S`.
    S(String),
    /// `N`, as its decimal text.
    N(String),
    /// Anything else (Hearth writes no other kind).
    Other,
}

/// An item as attribute name -> value, whatever form it arrived in.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Item(pub(crate) HashMap<String, Attr>);

impl Item {
    /// From the DynamoDB API's form.
    pub(crate) fn from_dynamo(item: &HashMap<String, AttributeValue>) -> Self {
        Self(
            item.iter()
                .map(|(k, v)| {
                    let a = match v {
                        AttributeValue::S(s) => Attr::S(s.clone()),
                        AttributeValue::N(n) => Attr::N(n.clone()),
                        _ => Attr::Other,
                    };
                    (k.clone(), a)
                })
                .collect(),
        )
    }

    /// From the DynamoDB Streams API's form.
    pub(crate) fn from_stream(
        item: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    ) -> Self {
        use aws_sdk_dynamodbstreams::types::AttributeValue as V;
        Self(
            item.iter()
                .map(|(k, v)| {
                    let a = match v {
                        V::S(s) => Attr::S(s.clone()),
                        V::N(n) => Attr::N(n.clone()),
                        _ => Attr::Other,
                    };
                    (k.clone(), a)
                })
                .collect(),
        )
    }

    /// From DynamoDB JSON (`{"pk": {"S": "…"}, "v": {"N": "3"}}`), as Lambda stream events
    /// carry it; `None` when `value` is not an object.
    pub(crate) fn from_json(value: &serde_json::Value) -> Option<Self> {
        let object = value.as_object()?;
        Some(Self(
            object
                .iter()
                .map(|(k, v)| {
                    let a = if let Some(s) = v.get("S").and_then(|s| s.as_str()) {
                        Attr::S(s.to_owned())
                    } else if let Some(n) = v.get("N").and_then(|n| n.as_str()) {
                        Attr::N(n.to_owned())
                    } else {
                        Attr::Other
                    };
                    (k.clone(), a)
                })
                .collect(),
        ))
    }

    /// A string attribute.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Attr::S(s)) => Some(s),
            _ => None,
        }
    }

    /// A numeric attribute that fits `T`.
    pub(crate) fn num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        match self.0.get(name) {
            Some(Attr::N(n)) => n.parse().ok(),
            _ => None,
        }
    }

    /// Whether the attribute is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Whether this is a version item (rather than a pointer or transaction item).
    pub(crate) fn is_version(&self) -> bool {
        self.str(PK).is_some_and(|p| p.starts_with("R#"))
            && self.str(SK).is_some_and(|s| s.starts_with("V#"))
    }

    /// Decodes a version item.
    ///
    /// # Errors
    /// `Internal` when an attribute is missing or malformed.
    pub(crate) fn to_stored(&self) -> Result<StoredResource> {
        let corrupt = |what: &str| {
            Error::internal(
                format!("stored version item has an invalid {what}"),
                std::io::Error::other(format!("{:?}", self.str(PK))),
            )
        };
        let resource_type = self
            .str(TYPE)
            .and_then(ResourceType::parse)
            .ok_or_else(|| corrupt("type"))?;
        let id = self
            .str(ID)
            .and_then(|i| ResourceId::parse(i).ok())
            .ok_or_else(|| corrupt("id"))?;
        Ok(StoredResource {
            resource_type,
            id,
            version: self.num(VERSION).ok_or_else(|| corrupt("version"))?,
            last_updated: Instant(self.num(TS).ok_or_else(|| corrupt("timestamp"))?),
            change: self
                .str(CHANGE)
                .and_then(change_from_code)
                .ok_or_else(|| corrupt("change"))?,
            body: self.str(BODY).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_as_the_store_needs() {
        assert!(version_sk(9) < version_sk(10));
        assert!(version_sk(u64::MAX).as_str() < POINTER_SK);
        let id = ResourceId::parse("a").unwrap();
        let ty = ResourceType::parse("Patient").unwrap();
        assert!(history_key(99, ty, &id, 1) < history_key(100, ty, &id, 2));
        assert!(time_key(100) <= history_key(100, ty, &id, 2));
        assert_eq!(history_key_version(&history_key(5, ty, &id, 7)), Some(7));
    }

    #[test]
    fn decodes_lambda_json_items() {
        let item = Item::from_json(&json!({
            "pk": {"S": "R#Patient#p"}, "sk": {"S": "V#00000000000000000002"},
            "t": {"S": "Patient"}, "i": {"S": "p"}, "v": {"N": "2"}, "ts": {"N": "17"},
            "ch": {"S": "U"}, "b": {"S": "{}"}
        }))
        .unwrap();
        assert!(item.is_version());
        let stored = item.to_stored().unwrap();
        assert_eq!(
            (stored.version, stored.last_updated, stored.change),
            (2, Instant(17), ChangeKind::Update)
        );
    }
}
