//! `hearth reindex`: rebuilds the search index from the store, with a progress bar. On the
//! embedded backend it rebuilds the SQLite search tables (after `hearth import
//! --defer-index`, or to repair them); on AWS it rebuilds the OpenSearch indexes from
//! DynamoDB and prints the drift report (per type, the resources in the store and in the
//! index before and after).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hearth_persistence_dynamo::DynamoStore;
use hearth_search_opensearch::{DriftReport, OpenSearchIndexer, ReindexProgress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{AwsArgs, Backend, ReindexArgs};
use crate::wiring::{AwsClients, describe};

/// Reindexes every resource of the configured backend and prints what it did.
///
/// # Errors
/// When the store or OpenSearch cannot be opened or fails, as text for the command line.
pub async fn run(args: ReindexArgs) -> Result<ExitCode, String> {
    match args.store.backend {
        Backend::Sqlite => reindex_sqlite(&args.store.data_dir, args.quiet).await,
        Backend::Aws => reindex_aws(&args.store.aws, args.quiet).await,
    }
}

/// Rebuilds the SQLite search tables in one transaction (the server may keep running:
/// its writes wait for the rebuild).
async fn reindex_sqlite(data_dir: &std::path::Path, quiet: bool) -> Result<ExitCode, String> {
    let store = hearth_sqlite::SqliteStore::open(data_dir)
        .map_err(|e| format!("cannot open the store: {}", describe(&e)))?;
    let bar = progress_bar(!quiet);
    let started = Instant::now();
    let progress = bar.clone();
    let indexed = tokio::task::spawn_blocking(move || {
        store.rebuild_search_index(&mut |done, total| {
            progress.set_length(total);
            progress.set_position(done);
        })
    })
    .await
    .map_err(|e| format!("reindex failed: {e}"))?
    .map_err(|e| format!("reindex failed: {}", describe(&e)))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "reindexed {indexed} resources in {seconds:.2} s ({:.0} resources/s)",
        indexed as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// Rebuilds the OpenSearch indexes from DynamoDB and prints the drift report.
async fn reindex_aws(aws: &AwsArgs, quiet: bool) -> Result<ExitCode, String> {
    let clients = AwsClients::from_env(aws).await.map_err(|e| describe(&e))?;
    let (store, ()) = tokio::try_join!(
        DynamoStore::connect(clients.dynamodb.clone(), aws.dynamodb_table.clone()),
        clients.opensearch.check(),
    )
    .map_err(|e| format!("cannot open the store: {}", describe(&e)))?;
    let indexer = OpenSearchIndexer::new(clients.opensearch);
    let bar = progress_bar(!quiet);
    let mut progress = |p: ReindexProgress| {
        bar.set_message(format!(
            "{} ({}/{})",
            p.resource_type.as_str(),
            p.type_index + 1,
            p.type_count
        ));
        bar.set_position(p.total);
    };
    let report = indexer
        .reindex(&store, &[], &mut progress)
        .await
        .map_err(|e| format!("reindex failed: {}", describe(&e)))?;
    bar.finish_and_clear();
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {pos} resources ({per_sec}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_report(report: &DriftReport) {
    println!(
        "reindexed {} resources of {} types",
        report.in_store(),
        report.types.len()
    );
    let drifted: Vec<_> = report.drifted().collect();
    if drifted.is_empty() {
        println!("no drift: the index matched the store");
        return;
    }
    println!(
        "{:<32} {:>10} {:>14} {:>13} {:>8}",
        "type", "in store", "index before", "index after", "pruned"
    );
    for t in drifted {
        println!(
            "{:<32} {:>10} {:>14} {:>13} {:>8}",
            t.resource_type.as_str(),
            t.in_store,
            t.in_index_before,
            t.in_index_after,
            t.pruned
        );
    }
}
