//! The DynamoDB requests the store sends, each counted in [`Metrics`], with the retry of
//! unprocessed batch items (exponential backoff with jitter) that the SDK leaves to callers.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnConsumedCapacity, Select, TransactWriteItem,
    WriteRequest,
};
use hearth_interface::{Error, Result};

use crate::item::{Item, PK, SK};
use crate::metrics::Metrics;

/// Items per `BatchGetItem` request (the DynamoDB limit).
const BATCH_GET_MAX: usize = 100;
/// Requests per `BatchWriteItem` request (the DynamoDB limit).
pub(crate) const BATCH_WRITE_MAX: usize = 25;
/// Items per `TransactWriteItems` request (the DynamoDB limit).
pub(crate) const TRANSACT_MAX: usize = 100;
/// How often unprocessed batch items are sent again before giving up.
const UNPROCESSED_RETRIES: u32 = 10;

/// A raw item as the SDK carries it.
pub(crate) type Raw = HashMap<String, AttributeValue>;

/// Why a `TransactWriteItems` request did not apply.
#[derive(Debug)]
pub(crate) enum TransactError {
    /// A condition failed or another transaction touched an item: the state moved.
    Condition,
    /// Anything else.
    Failed(Error),
}

/// The table and the client, with request accounting.
#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) metrics: Metrics,
}

/// An SDK failure as an internal error naming `context`, with the SDK's full error context
/// in the debug log: for the S3 binary store and the job store, which report no throttling.
pub(crate) fn internal_sdk_error<E, R>(context: impl Into<String>, e: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let context = context.into();
    tracing::debug!(
        error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e),
        "{context}"
    );
    Error::internal(context, e)
}

pub(crate) fn sdk_error<E>(what: &str, e: SdkError<E>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let debug = format!("{e:?}");
    let throttled = [
        "Throttl",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    ]
    .iter()
    .any(|marker| debug.contains(marker));
    let source = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
    if throttled {
        return Error::new(
            hearth_interface::IssueKind::TooManyRequests,
            format!("DynamoDB throttled {what}: retry later"),
        );
    }
    Error::internal(
        format!("DynamoDB {what} failed"),
        std::io::Error::other(source),
    )
}

/// Sleeps before retry `attempt` (0-based): 10 ms doubling up to ~1.3 s, with full jitter.
pub(crate) async fn backoff(attempt: u32) {
    let cap = 10u64 << attempt.min(7);
    let jitter = u64::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(cap)).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(cap / 2 + jitter / 2)).await;
}

/// The key attributes of an item.
pub(crate) fn key(pk: &str, sk: &str) -> Raw {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

impl Db {
    /// A strongly consistent `GetItem`.
    pub(crate) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        self.metrics.record("GetItem", out.consumed_capacity());
        Ok(out.item().map(Item::from_dynamo))
    }

    /// Runs a query page by page until `want` items are collected or the range ends.
    pub(crate) async fn query(&self, query: QueryFluentBuilder, want: usize) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query
                .clone()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            self.metrics.record("Query", out.consumed_capacity());
            items.extend(out.items().iter().map(Item::from_dynamo));
            start = out.last_evaluated_key().cloned();
            if start.is_none() || items.len() >= want {
                return Ok(items);
            }
        }
    }

    /// Counts what a query matches (`Select = COUNT`), over all its pages; `None` once the
    /// count passes `cap` (counting reads every key in the range).
    pub(crate) async fn count(&self, query: QueryFluentBuilder, cap: u64) -> Result<Option<u64>> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = query
                .clone()
                .table_name(&self.table)
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            self.metrics.record("Query", out.consumed_capacity());
            total += u64::try_from(out.count()).unwrap_or(0);
            if total > cap {
                return Ok(None);
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(Some(total));
            }
        }
    }

    /// Strongly consistent `BatchGetItem` of `keys` (duplicates allowed), 100 per request,
    /// unprocessed keys retried with backoff; found items by `(pk, sk)`.
    pub(crate) async fn batch_get(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), Item>> {
        let mut unique: Vec<&(String, String)> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<Raw> = chunk.iter().map(|(p, s)| key(p, s)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| Error::internal("building BatchGetItem", e))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchGetItem", e))?;
                self.metrics.record("BatchGetItem", out.consumed_capacity());
                for raw in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let item = Item::from_dynamo(raw);
                    if let (Some(p), Some(s)) = (item.str(PK), item.str(SK)) {
                        found.insert((p.to_owned(), s.to_owned()), item);
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt == UNPROCESSED_RETRIES {
                        return Err(Error::new(
                            hearth_interface::IssueKind::TooManyRequests,
                            "DynamoDB left reads unprocessed: retry later",
                        ));
                    }
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(found)
    }

    /// `BatchWriteItem` of `requests`, 25 per request, unprocessed items retried with
    /// backoff. Unconditional: only for items nobody else writes (staged versions, cleanup).
    pub(crate) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                self.metrics
                    .record("BatchWriteItem", out.consumed_capacity());
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt == UNPROCESSED_RETRIES {
                        return Err(Error::new(
                            hearth_interface::IssueKind::TooManyRequests,
                            "DynamoDB left writes unprocessed: retry later",
                        ));
                    }
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(())
    }

    /// One `TransactWriteItems` request (at most 100 items).
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TransactError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.metrics
                    .record("TransactWriteItems", out.consumed_capacity());
                Ok(())
            }
            Err(e) => {
                self.metrics.record("TransactWriteItems", []);
                if let Some(service) = e.as_service_error()
                    && transaction_lost(service)
                {
                    return Err(TransactError::Condition);
                }
                Err(TransactError::Failed(sdk_error("TransactWriteItems", e)))
            }
        }
    }

    /// A conditional `UpdateItem`; `Ok(false)` when its condition failed.
    pub(crate) async fn update(
        &self,
        pk: &str,
        sk: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(update)
            .condition_expression(condition)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(out) => {
                self.metrics.record("UpdateItem", out.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.metrics.record("UpdateItem", []);
                Ok(false)
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// A conditional `DeleteItem`; `Ok(false)` when its condition failed.
    pub(crate) async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression(condition)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(out) => {
                self.metrics.record("DeleteItem", out.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.metrics.record("DeleteItem", []);
                Ok(false)
            }
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }

    /// A conditional `PutItem`; `Ok(false)` when its condition failed.
    pub(crate) async fn put(&self, item: Raw, condition: &str) -> Result<bool> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
        {
            Ok(out) => {
                self.metrics.record("PutItem", out.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.metrics.record("PutItem", []);
                Ok(false)
            }
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }
}

/// Whether a transaction was cancelled because the state it assumed moved (a condition
/// failed, or a concurrent transaction held an item), rather than for a fault.
fn transaction_lost(e: &TransactWriteItemsError) -> bool {
    match e {
        TransactWriteItemsError::TransactionCanceledException(c) => {
            let reasons = c.cancellation_reasons();
            reasons.is_empty()
                || reasons.iter().all(|r| {
                    matches!(
                        r.code(),
                        None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict")
                    )
                })
        }
        TransactWriteItemsError::TransactionInProgressException(_) => true,
        _ => false,
    }
}
