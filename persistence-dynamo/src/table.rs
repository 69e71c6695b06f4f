//! Creating the table (`hearth init-aws`) and checking it at start-up.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use hearth_interface::{Error, Result};

use crate::item::{
    CUR_KEY, CUR_TYPE, GSI_CURRENT, GSI_HISTORY_SYSTEM, GSI_HISTORY_TYPE, HIST_KEY, HIST_SHARD,
    HIST_TYPE, PK, SK, VERSION,
};

/// The environment variable naming the resource table.
pub const TABLE_ENV: &str = "HEARTH_DYNAMODB_TABLE";

/// How long [`create_tables`] waits for a new table to become active.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// The table name from `HEARTH_DYNAMODB_TABLE`.
///
/// # Errors
/// `Invalid` when the variable is unset or empty.
pub fn table_from_env() -> Result<String> {
    match std::env::var(TABLE_ENV) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => Err(Error::invalid(format!(
            "{TABLE_ENV} is not set: name the DynamoDB table for resources (created by `hearth init-aws`)"
        ))),
    }
}

/// A client from the standard AWS SDK environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials).
pub async fn client_from_env() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| Error::internal("building key schema", e))
}

fn string_attr(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| Error::internal("building attribute definition", e))
}

fn index(
    name: &str,
    hash: &str,
    range: &str,
    projection: Projection,
) -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(range, KeyType::Range)?)
        .projection(projection)
        .build()
        .map_err(|e| Error::internal("building index definition", e))
}

/// Creates the resource table `name` with its indexes and stream (new images), unless it
/// exists; waits until it is active. Idempotent.
///
/// # Errors
/// `Internal` when DynamoDB refuses or the table does not become active in time.
pub async fn create_tables(client: &Client, name: &str) -> Result<()> {
    let keys_only = Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build();
    let with_version = Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes(VERSION)
        .build();
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(index(
            GSI_HISTORY_TYPE,
            HIST_TYPE,
            HIST_KEY,
            keys_only.clone(),
        )?)
        .global_secondary_indexes(index(GSI_HISTORY_SYSTEM, HIST_SHARD, HIST_KEY, keys_only)?)
        .global_secondary_indexes(index(GSI_CURRENT, CUR_TYPE, CUR_KEY, with_version)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .map_err(|e| Error::internal("building stream specification", e))?,
        );
    for attr in [PK, SK, HIST_TYPE, HIST_SHARD, HIST_KEY, CUR_TYPE, CUR_KEY] {
        request = request.attribute_definitions(string_attr(attr)?);
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => {
            return Err(Error::internal(
                format!("cannot create DynamoDB table {name}"),
                aws_sdk_dynamodb::Error::from(e),
            ));
        }
    }
    let started = std::time::Instant::now();
    loop {
        if check(client, name).await.is_ok() {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            return Err(Error::internal(
                format!("DynamoDB table {name} did not become active"),
                std::io::Error::other("timeout"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that table `name` exists, is active, and has the indexes and stream Hearth needs:
/// call at start-up so a misconfiguration fails there, with a clear message.
///
/// # Errors
/// `Invalid` naming what is wrong (missing table, index or stream); `Internal` when
/// DynamoDB cannot be reached.
pub async fn check(client: &Client, name: &str) -> Result<()> {
    let described = match client.describe_table().table_name(name).send().await {
        Ok(d) => d,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Err(Error::invalid(format!(
                "DynamoDB table '{name}' does not exist: create it with `hearth init-aws` or set {TABLE_ENV}"
            )));
        }
        Err(e) => {
            return Err(Error::internal(
                format!("cannot describe DynamoDB table '{name}'"),
                aws_sdk_dynamodb::Error::from(e),
            ));
        }
    };
    let table = described
        .table()
        .ok_or_else(|| Error::invalid(format!("DynamoDB table '{name}' was not described")))?;
    if table.table_status() != Some(&TableStatus::Active) {
        return Err(Error::invalid(format!(
            "DynamoDB table '{name}' is not active yet"
        )));
    }
    let indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    for needed in [GSI_HISTORY_TYPE, GSI_HISTORY_SYSTEM, GSI_CURRENT] {
        if !indexes.contains(&needed) {
            return Err(Error::invalid(format!(
                "DynamoDB table '{name}' lacks the index '{needed}': it was not created by `hearth init-aws`"
            )));
        }
    }
    if table.latest_stream_arn().is_none() {
        return Err(Error::invalid(format!(
            "DynamoDB table '{name}' has no stream: the search indexer needs one"
        )));
    }
    Ok(())
}
