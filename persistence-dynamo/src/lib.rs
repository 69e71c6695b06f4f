//! Hearth's AWS backend: a [`ResourceStore`](hearth_interface::store::ResourceStore) on one
//! DynamoDB table ([`DynamoStore`]), the table's creation and start-up check, the change
//! feed the search indexer reads from the table's stream, bulk job state in the same table
//! ([`DynamoJobStore`]) and Binary contents in S3 ([`S3BinaryStore`]). The table design is
//! documented in `README.md` beside this crate.

mod db;
mod history;
mod item;
mod txn;

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;

pub mod binary;
pub mod feed;
pub mod jobs;
pub mod metrics;
pub mod store;
pub mod table;

pub use binary::S3BinaryStore;
pub use feed::{
    ChangeFeed, FeedPosition, lambda_event_resources, stream_arn, streams_client_from_env,
};
pub use jobs::DynamoJobStore;
pub use metrics::{Metrics, OperationStats};
pub use store::DynamoStore;
pub use table::{TABLE_ENV, check, client_from_env, create_tables, table_from_env};
