//! The change feed for the search indexer: the table's DynamoDB Stream turned into
//! [`StoredResource`]s, each a version that became visible (a new version, or a deletion).
//!
//! A version becomes visible when its item is written with history keys: by a single write
//! or small transaction (an `INSERT`, or a `MODIFY` replacing a rolled-back staged item), or
//! by the roll-forward of a large transaction (a `MODIFY` removing `stg`). Staged versions,
//! pointers and transaction items are skipped, so the indexer never sees uncommitted data.
//! Records come in order per shard; a resource's versions are in one shard (same partition
//! key), and the indexer keeps only the highest version per resource (external versioning),
//! so replays are harmless.
//!
//! Two sources: [`ChangeFeed`] polls the stream (`hearth serve --backend aws` outside Lambda)
//! and [`lambda_event_resources`] reads a Lambda stream event (the stream-indexer role).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
use aws_sdk_dynamodbstreams::types::{OperationType, Shard, ShardIteratorType};
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, Result};
use serde_json::{Value, json};

use crate::item::{Item, STAGED};

/// Records read per `GetRecords` request (the API's maximum).
const RECORDS_PER_REQUEST: i32 = 1000;

/// The resource a stream record announces, if any: `event` is `INSERT`/`MODIFY`/`REMOVE`,
/// `image` the item's new image.
fn announced(event: &str, image: Option<&Item>) -> Result<Option<StoredResource>> {
    match (event, image) {
        ("INSERT" | "MODIFY", Some(item)) if item.is_version() && !item.has(STAGED) => {
            item.to_stored().map(Some)
        }
        _ => Ok(None),
    }
}

/// The versions a Lambda DynamoDB stream event (`{"Records": [...]}`) announces, in record
/// order. Records of other items (pointers, transactions, staged versions, removals) are
/// skipped.
///
/// # Errors
/// `Invalid` when the event has no `Records` array; `Internal` when a version item in it
/// is malformed.
pub fn lambda_event_resources(event: &Value) -> Result<Vec<StoredResource>> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid("not a DynamoDB stream event: no Records array"))?;
    let mut out = Vec::new();
    for record in records {
        let name = record
            .get("eventName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let image = record
            .get("dynamodb")
            .and_then(|d| d.get("NewImage"))
            .and_then(Item::from_json);
        out.extend(announced(name, image.as_ref())?);
    }
    Ok(out)
}

/// Where a [`ChangeFeed`] is in the stream: the last sequence number read per shard, and
/// the closed shards read to their end. Save it ([`FeedPosition::to_json`]) to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPosition {
    last: BTreeMap<String, String>,
    finished: BTreeSet<String>,
}

impl FeedPosition {
    /// The position as JSON, for storage.
    pub fn to_json(&self) -> Value {
        json!({"last": self.last, "finished": self.finished})
    }

    /// A position saved by [`FeedPosition::to_json`].
    ///
    /// # Errors
    /// `Invalid` when `value` is not such a position.
    pub fn from_json(value: &Value) -> Result<Self> {
        let invalid = || Error::invalid("not a change feed position");
        let last = value
            .get("last")
            .and_then(Value::as_object)
            .ok_or_else(invalid)?
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or_else(invalid)
            })
            .collect::<Result<_>>()?;
        let finished = value
            .get("finished")
            .and_then(Value::as_array)
            .ok_or_else(invalid)?
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect::<Result<_>>()?;
        Ok(Self { last, finished })
    }
}

/// Reads a table's stream from a position, shard by shard (parents before children).
#[derive(Debug)]
pub struct ChangeFeed {
    client: StreamsClient,
    stream_arn: String,
    position: FeedPosition,
    /// Open shard iterators from the previous poll, to continue without asking again.
    iterators: HashMap<String, String>,
}

/// A DynamoDB Streams client from the standard AWS SDK environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, credentials).
pub async fn streams_client_from_env() -> StreamsClient {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    StreamsClient::new(&config)
}

/// The ARN of the stream of table `table`.
///
/// # Errors
/// `Invalid` when the table has no stream; `Internal` when DynamoDB fails.
pub async fn stream_arn(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| crate::db::sdk_error("DescribeTable", e))?;
    described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(format!("DynamoDB table '{table}' has no stream")))
}

fn streams_error<E>(what: &str, e: aws_sdk_dynamodbstreams::error::SdkError<E>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    Error::internal(
        format!("DynamoDB Streams {what} failed"),
        std::io::Error::other(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string()),
    )
}

impl ChangeFeed {
    /// A feed of stream `stream_arn` from `position` (the default position starts at the
    /// oldest record the stream keeps).
    pub fn new(
        client: StreamsClient,
        stream_arn: impl Into<String>,
        position: FeedPosition,
    ) -> Self {
        Self {
            client,
            stream_arn: stream_arn.into(),
            position,
            iterators: HashMap::new(),
        }
    }

    /// The position after the records returned so far.
    pub fn position(&self) -> &FeedPosition {
        &self.position
    }

    /// The versions written since the previous poll, in order per shard.
    ///
    /// # Errors
    /// `Internal` when the stream cannot be read.
    pub async fn poll(&mut self) -> Result<Vec<StoredResource>> {
        let shards = self.shards().await?;
        let listed: BTreeSet<&str> = shards.iter().filter_map(Shard::shard_id).collect();
        let mut out = Vec::new();
        for shard in &shards {
            let Some(id) = shard.shard_id() else { continue };
            if self.position.finished.contains(id) {
                continue;
            }
            // A child shard is read once its parent (if the stream still lists it) is done.
            if let Some(parent) = shard.parent_shard_id()
                && listed.contains(parent)
                && !self.position.finished.contains(parent)
            {
                continue;
            }
            self.read_shard(id, &mut out).await?;
        }
        Ok(out)
    }

    async fn shards(&self) -> Result<Vec<Shard>> {
        let mut shards = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| streams_error("DescribeStream", e))?;
            let Some(description) = out.stream_description() else {
                return Ok(shards);
            };
            shards.extend(description.shards().iter().cloned());
            start = description.last_evaluated_shard_id().map(str::to_owned);
            if start.is_none() {
                // Parents first: a shard's parent was created before it.
                return Ok(order_parents_first(shards));
            }
        }
    }

    async fn iterator(&self, shard: &str) -> Result<Option<String>> {
        let mut request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard);
        request = match self.position.last.get(shard) {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = request
            .send()
            .await
            .map_err(|e| streams_error("GetShardIterator", e))?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    /// Reads `shard` until it has no more records now, appending what they announce.
    async fn read_shard(&mut self, shard: &str, out: &mut Vec<StoredResource>) -> Result<()> {
        let mut iterator = match self.iterators.remove(shard) {
            Some(i) => Some(i),
            None => self.iterator(shard).await?,
        };
        while let Some(current) = iterator.take() {
            let result = self
                .client
                .get_records()
                .shard_iterator(&current)
                .limit(RECORDS_PER_REQUEST)
                .send()
                .await;
            let page = match result {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(GetRecordsError::is_expired_iterator_exception) =>
                {
                    iterator = self.iterator(shard).await?;
                    continue;
                }
                Err(e) => return Err(streams_error("GetRecords", e)),
            };
            for record in page.records() {
                let event = match record.event_name() {
                    Some(OperationType::Insert) => "INSERT",
                    Some(OperationType::Modify) => "MODIFY",
                    _ => "REMOVE",
                };
                let Some(change) = record.dynamodb() else {
                    continue;
                };
                let image = change.new_image().map(Item::from_stream);
                out.extend(announced(event, image.as_ref())?);
                if let Some(sequence) = change.sequence_number() {
                    self.position
                        .last
                        .insert(shard.to_owned(), sequence.to_owned());
                }
            }
            match page.next_shard_iterator() {
                None => {
                    self.position.finished.insert(shard.to_owned());
                }
                Some(next) if page.records().is_empty() => {
                    self.iterators.insert(shard.to_owned(), next.to_owned());
                }
                Some(next) => iterator = Some(next.to_owned()),
            }
        }
        Ok(())
    }
}

fn order_parents_first(shards: Vec<Shard>) -> Vec<Shard> {
    let mut ordered: Vec<Shard> = Vec::with_capacity(shards.len());
    let mut rest = shards;
    while !rest.is_empty() {
        let placed: BTreeSet<String> = ordered
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_owned))
            .collect();
        let all: BTreeSet<String> = rest
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_owned))
            .collect();
        let (ready, waiting): (Vec<Shard>, Vec<Shard>) = rest.into_iter().partition(|s| {
            s.parent_shard_id()
                .is_none_or(|p| placed.contains(p) || !all.contains(p))
        });
        if ready.is_empty() {
            ordered.extend(waiting);
            break;
        }
        ordered.extend(ready);
        rest = waiting;
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_events_announce_visible_versions_only() {
        let version = |stg: bool, event: &str| {
            let mut image = json!({
                "pk": {"S": "R#Patient#p"}, "sk": {"S": "V#00000000000000000001"},
                "t": {"S": "Patient"}, "i": {"S": "p"}, "v": {"N": "1"}, "ts": {"N": "5"},
                "ch": {"S": "C"}, "b": {"S": "{\"resourceType\":\"Patient\"}"}
            });
            if stg {
                image["stg"] = json!({"S": "tx"});
            }
            json!({"eventName": event, "dynamodb": {"NewImage": image}})
        };
        let pointer = json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {
            "pk": {"S": "R#Patient#p"}, "sk": {"S": "~CURRENT"}, "v": {"N": "1"}}}});
        let event = json!({"Records": [
            version(false, "INSERT"), version(true, "INSERT"), pointer,
            version(false, "MODIFY"), {"eventName": "REMOVE", "dynamodb": {}}
        ]});
        let found = lambda_event_resources(&event).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].id.as_str(), "p");
        assert!(lambda_event_resources(&json!({})).is_err());
    }

    #[test]
    fn positions_round_trip() {
        let mut position = FeedPosition::default();
        position.last.insert("shard-1".into(), "42".into());
        position.finished.insert("shard-0".into());
        assert_eq!(
            FeedPosition::from_json(&position.to_json()).unwrap(),
            position
        );
        assert!(FeedPosition::from_json(&json!([])).is_err());
    }
}
