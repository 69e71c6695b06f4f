//! Import throughput: `hearth import` (parse, validate, upsert with versions and history,
//! with the search index, or deferring it to a rebuild) against the ceiling of the same
//! machine: parse every line with serde_json and insert the raw bytes into one SQLite table
//! in one transaction.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hearth::import::{ImportOptions, collect_files, import_files};
use hearth_sqlite::SqliteStore;

use crate::report::out;
use crate::{median, test_data};

/// Options of the import scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON files or directories (default: the Synthea sample).
    paths: Vec<PathBuf>,
    /// Runs of each side; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub async fn run(args: Args) -> Result<(), String> {
    let paths = if args.paths.is_empty() {
        vec![test_data().join("sample-synthea")]
    } else {
        args.paths
    };
    let files = collect_files(&paths)?;
    let mut ceiling = Vec::new();
    let mut hearth = Vec::new();
    let mut hearth_no_validate = Vec::new();
    let mut deferred = Vec::new();
    let mut rebuild = Vec::new();
    let mut deferred_then_rebuilt = Vec::new();
    let mut count = 0;
    for _ in 0..args.runs.max(1) {
        let (n, secs) = raw_ceiling(&files)?;
        count = n;
        ceiling.push(n as f64 / secs);
        hearth.push(n as f64 / hearth_import(&files, Mode::Indexed).await?.0);
        hearth_no_validate.push(n as f64 / hearth_import(&files, Mode::NoValidate).await?.0);
        let (load, rebuilt) = hearth_import(&files, Mode::DeferIndex).await?;
        deferred.push(n as f64 / load);
        rebuild.push(n as f64 / rebuilt);
        deferred_then_rebuilt.push(n as f64 / (load + rebuilt));
    }
    let (c, h, hn) = (median(ceiling), median(hearth), median(hearth_no_validate));
    let (d, r, dr) = (
        median(deferred),
        median(rebuild),
        median(deferred_then_rebuilt),
    );
    out!(
        "import of {count} resources from {} file(s), median of {} run(s)",
        files.len(),
        args.runs
    );
    out!("| side | resources/s | ratio to ceiling |");
    out!("|---|---|---|");
    out!("| ceiling: serde_json parse + raw SQLite insert, one transaction | {c:.0} | 1.00 |");
    out!(
        "| hearth import (schema validation on) | {h:.0} | {:.2} |",
        h / c
    );
    out!("| hearth import --no-validate | {hn:.0} | {:.2} |", hn / c);
    out!(
        "| hearth import --defer-index (schema validation on, no search index) | {d:.0} | {:.2} |",
        d / c
    );
    out!(
        "| search index rebuild after it (`hearth reindex`) | {r:.0} | {:.2} |",
        r / c
    );
    out!(
        "| --defer-index then rebuild, end to end | {dr:.0} | {:.2} |",
        dr / c
    );
    Ok(())
}

/// How the scenario runs `hearth import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Validated, search index written with each version.
    Indexed,
    /// Not validated, search index written with each version.
    NoValidate,
    /// Validated, search index left to a rebuild afterwards.
    DeferIndex,
}

/// Seconds of the import and of the search index rebuild after it (0 unless deferred).
async fn hearth_import(files: &[PathBuf], mode: Mode) -> Result<(f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = SqliteStore::open(dir.path()).map_err(|e| e.to_string())?;
    let options = ImportOptions {
        batch_size: 1000,
        validate: mode != Mode::NoValidate,
        max_line_bytes: 16 << 20,
        progress: false,
        defer_index: mode == Mode::DeferIndex,
    };
    let started = Instant::now();
    let report = import_files(Arc::new(store.clone()), files, &options).await?;
    let secs = started.elapsed().as_secs_f64();
    if !report.errors.is_empty() {
        return Err(format!(
            "{} import errors, first: {:?}",
            report.errors.len(),
            report.errors[0]
        ));
    }
    let rebuilt = if mode == Mode::DeferIndex {
        let started = Instant::now();
        tokio::task::spawn_blocking(move || store.rebuild_search_index(&mut |_, _| {}))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        started.elapsed().as_secs_f64()
    } else {
        0.0
    };
    Ok((secs, rebuilt))
}

fn raw_ceiling(files: &[PathBuf]) -> Result<(usize, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut conn =
        rusqlite::Connection::open(dir.path().join("ceiling.sqlite")).map_err(|e| e.to_string())?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| e.to_string())?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| e.to_string())?;
    conn.execute("CREATE TABLE raw (body BLOB)", [])
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut n = 0;
    {
        let mut insert = tx
            .prepare("INSERT INTO raw (body) VALUES (?1)")
            .map_err(|e| e.to_string())?;
        for path in files {
            let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
            let reader: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "gz") {
                Box::new(flate2::read::MultiGzDecoder::new(file))
            } else {
                Box::new(file)
            };
            for line in BufReader::with_capacity(1 << 20, reader).lines() {
                let line = line.map_err(|e| e.to_string())?;
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| e.to_string())?;
                std::hint::black_box(&value);
                insert
                    .execute([line.as_bytes()])
                    .map_err(|e| e.to_string())?;
                n += 1;
            }
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok((n, started.elapsed().as_secs_f64()))
}
