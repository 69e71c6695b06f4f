//! `hearth init-aws`: creates the AWS backend's DynamoDB tables (resources with their
//! indexes and stream; bulk jobs), S3 bucket and OpenSearch indexes; what exists is left
//! as it is.

use std::process::ExitCode;

use crate::cli::InitAwsArgs;
use hearth_persistence_dynamo::DynamoJobStore;

use crate::wiring::{AwsClients, describe, jobs_table};

/// Creates what is missing and prints what was ensured (unless `--quiet`).
///
/// # Errors
/// The first AWS or OpenSearch failure, as text for the command line.
pub async fn run(args: InitAwsArgs) -> Result<ExitCode, String> {
    let aws = &args.aws;
    let clients = AwsClients::from_env(aws).await.map_err(|e| describe(&e))?;
    hearth_persistence_dynamo::create_tables(&clients.dynamodb, &aws.dynamodb_table)
        .await
        .map_err(|e| describe(&e))?;
    let jobs = DynamoJobStore::new(clients.dynamodb.clone(), jobs_table(&aws.dynamodb_table));
    jobs.create_table().await.map_err(|e| describe(&e))?;
    clients
        .binaries
        .create_bucket()
        .await
        .map_err(|e| describe(&e))?;
    clients
        .opensearch
        .create_indexes()
        .await
        .map_err(|e| describe(&e))?;
    if !args.quiet {
        println!(
            "ready: DynamoDB tables '{}' (with stream) and '{}', S3 bucket '{}', OpenSearch indexes '{}-*' at {}",
            aws.dynamodb_table,
            jobs.table(),
            aws.s3_bucket,
            aws.opensearch_prefix,
            aws.opensearch_url
        );
    }
    Ok(ExitCode::SUCCESS)
}
