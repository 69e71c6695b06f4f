//! The stream indexer of the AWS backend: the versions DynamoDB's stream delivers, into
//! OpenSearch. Outside Lambda, `hearth serve --backend aws` polls the stream in-process
//! ([`StreamIndexer::spawn`]); in Lambda, `HEARTH_LAMBDA_ROLE=stream-indexer` serves the
//! stream's events ([`run_lambda`]). Both index idempotently: documents carry the resource
//! version as their external version, so replayed records change nothing.

use std::time::Duration;

use hearth_persistence_dynamo::{ChangeFeed, FeedPosition, lambda_event_resources, stream_arn};
use hearth_search_opensearch::OpenSearchIndexer;
use lambda_http::{LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::wiring::{AwsClients, describe};

/// How long the poller waits when the stream had nothing new.
const IDLE: Duration = Duration::from_millis(250);
/// How long the poller waits after a failure.
const BACKOFF: Duration = Duration::from_secs(5);

/// Polls a table's stream and indexes what it yields.
#[derive(Debug)]
pub struct StreamIndexer {
    feed: ChangeFeed,
    indexer: OpenSearchIndexer,
}

impl StreamIndexer {
    /// A poller of `table`'s stream from the oldest record the stream keeps (what was
    /// written while no indexer ran is indexed on start; what is indexed already is
    /// refused as stale).
    ///
    /// # Errors
    /// `Invalid` when the table has no stream; `Internal` when DynamoDB fails.
    pub async fn connect(
        clients: &AwsClients,
        table: &str,
        indexer: OpenSearchIndexer,
    ) -> hearth_interface::Result<Self> {
        let arn = stream_arn(&clients.dynamodb, table).await?;
        let streams = aws_sdk_dynamodbstreams::Client::new(&clients.sdk);
        Ok(Self {
            feed: ChangeFeed::new(streams, arn, FeedPosition::default()),
            indexer,
        })
    }

    /// Polls until the process ends, so that writes by other processes become searchable
    /// within about a second. Failures are logged and retried after a pause.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let pause = match self.step().await {
                    Ok(0) => IDLE,
                    Ok(_) => Duration::ZERO,
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), "stream indexer: retrying");
                        BACKOFF
                    }
                };
                tokio::time::sleep(pause).await;
            }
        })
    }

    /// One poll: the number of versions read.
    async fn step(&mut self) -> hearth_interface::Result<usize> {
        let versions = self.feed.poll().await?;
        if !versions.is_empty() {
            let report = self.indexer.apply(&versions).await?;
            tracing::debug!(
                indexed = report.indexed,
                deleted = report.deleted,
                stale = report.stale,
                "stream indexer"
            );
        }
        Ok(versions.len())
    }
}

/// Serves DynamoDB stream events (`{"Records": [...]}`) in Lambda until the runtime stops
/// the process. A failed batch is answered with an error, so Lambda delivers it again.
///
/// # Errors
/// When the Lambda runtime fails.
pub async fn run_lambda(indexer: OpenSearchIndexer) -> Result<(), String> {
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let indexer = indexer.clone();
        async move {
            let versions = lambda_event_resources(&event.payload).map_err(|e| describe(&e))?;
            let report = indexer.apply(&versions).await.map_err(|e| describe(&e))?;
            Ok::<Value, String>(json!({
                "indexed": report.indexed,
                "deleted": report.deleted,
                "stale": report.stale,
            }))
        }
    });
    lambda_http::lambda_runtime::run(handler)
        .await
        .map_err(|e| e.to_string())
}
