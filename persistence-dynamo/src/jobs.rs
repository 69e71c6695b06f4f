//! [`DynamoJobStore`]: bulk job state in a DynamoDB table of its own.
//!
//! # Table design
//! | attribute | type | role |
//! |---|---|---|
//! | `pk` | S | partition key: always `job` (jobs are few and short-lived: they expire) |
//! | `sk` | S | sort key: the job id |
//! | `version` | N | optimistic-locking version, 1 when created |
//! | `doc` | S | the whole [`Job`] as JSON |
//!
//! Jobs live in their own table (by convention `{HEARTH_DYNAMODB_TABLE}-jobs`), so their
//! writes never reach the resource table's stream and its indexer. All jobs share one
//! partition, so listing them is one strongly consistent `Query`, never a `Scan`.
//!
//! Creating is a `PutItem` with `attribute_not_exists(sk)`; updating is a `PutItem` with
//! `version = :expected`, so of two workers that read the same version exactly one
//! writes the next. When the condition fails, a consistent read tells a conflict (another
//! version) from a missing job.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use hearth_interface::instant::Instant;
use hearth_interface::jobs::{Job, JobId, JobStore};
use hearth_interface::{Error, Result};

use crate::db::internal_sdk_error;

/// The partition every job item lives in.
const PARTITION: &str = "job";
/// How long [`DynamoJobStore::create_table`] waits for a new table to become active.
const TABLE_WAIT: Duration = Duration::from_secs(120);

/// Bulk jobs in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand capacity) if it does not exist and waits until it is
    /// active (`hearth init-aws`).
    ///
    /// # Errors
    /// `Internal` when DynamoDB refuses or the table does not become active in time.
    pub async fn create_table(&self) -> Result<()> {
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let build = |e| Error::internal("cannot build a DynamoDB request", e);
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(build)?)
            .key_schema(key("sk", KeyType::Range).map_err(build)?)
            .attribute_definitions(attribute("pk").map_err(build)?)
            .attribute_definitions(attribute("sk").map_err(build)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => {
                return Err(internal_sdk_error(
                    format!("cannot create the DynamoDB table '{}'", self.table),
                    e,
                ));
            }
        }
        let deadline = std::time::Instant::now() + TABLE_WAIT;
        loop {
            if self.status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::internal(
                    format!("the DynamoDB table '{}' did not become active", self.table),
                    std::io::Error::other("timeout"),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Checks that the table exists, for a clear failure at start-up.
    ///
    /// # Errors
    /// `Internal` naming the table when it is missing or DynamoDB is not reachable.
    pub async fn check(&self) -> Result<()> {
        match self.status().await? {
            Some(_) => Ok(()),
            None => Err(Error::internal(
                format!(
                    "the DynamoDB table '{}' does not exist: create it with `hearth init-aws`",
                    self.table
                ),
                std::io::Error::other("table not found"),
            )),
        }
    }

    async fn status(&self) -> Result<Option<TableStatus>> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => Ok(out.table().and_then(|t| t.table_status()).cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => {
                let message = format!(
                    "the DynamoDB table '{}' is not reachable: {}",
                    self.table,
                    DisplayErrorContext(&e)
                );
                Err(Error::internal(message, e))
            }
        }
    }

    fn key(id: &JobId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(PARTITION.to_owned())),
            ("sk".to_owned(), AttributeValue::S(id.as_str().to_owned())),
        ])
    }

    fn item(job: &Job) -> Result<HashMap<String, AttributeValue>> {
        let doc = serde_json::to_string(job)
            .map_err(|e| Error::internal("cannot encode a bulk job", e))?;
        let mut item = Self::key(&job.id);
        item.insert("version".into(), AttributeValue::N(job.version.to_string()));
        item.insert("doc".into(), AttributeValue::S(doc));
        Ok(item)
    }
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<Job> {
    let doc = item.get("doc").and_then(|v| v.as_s().ok()).ok_or_else(|| {
        Error::internal("bulk job item without doc", std::io::Error::other("doc"))
    })?;
    serde_json::from_str(doc).map_err(|e| Error::internal("stored bulk job is not valid", e))
}

/// `job` as the store writes it: `version`, written now.
fn next(job: &Job, version: u64) -> Job {
    let mut stored = job.clone();
    stored.version = version;
    stored.updated_at = Instant::now().max(job.updated_at);
    stored
}

#[async_trait]
impl JobStore for DynamoJobStore {
    fn backend_name(&self) -> &'static str {
        "dynamodb"
    }

    async fn create(&self, job: &Job) -> Result<Job> {
        let stored = next(job, 1);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(&stored)?))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(stored),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::conflict(format!(
                    "a bulk job with the id {} exists",
                    stored.id
                )))
            }
            Err(e) => Err(internal_sdk_error("cannot create a bulk job", e)),
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| internal_sdk_error("cannot read a bulk job", e))?;
        out.item().map(decode).transpose()
    }

    async fn update(&self, job: &Job) -> Result<Job> {
        let stored = next(job, job.version + 1);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(&stored)?))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", AttributeValue::N(job.version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(stored),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(match self.get(&job.id).await? {
                    None => Error::not_found(format!("bulk job {} does not exist", job.id)),
                    Some(current) => Error::conflict(format!(
                        "bulk job {} is at version {}, not {}: another worker changed it",
                        job.id, current.version, job.version
                    )),
                })
            }
            Err(e) => Err(internal_sdk_error("cannot update a bulk job", e)),
        }
    }

    async fn delete(&self, id: &JobId) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| internal_sdk_error("cannot delete a bulk job", e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn list(&self) -> Result<Vec<Job>> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(PARTITION.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut jobs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| internal_sdk_error("cannot list bulk jobs", e))?;
            for item in page.items() {
                jobs.push(decode(item)?);
            }
        }
        jobs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(jobs)
    }
}
