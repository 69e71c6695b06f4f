//! `hearth import`: NDJSON files into the store, upserting by id.
//!
//! A reader thread streams lines from each file (gunzipping `.ndjson.gz`) in chunks;
//! parser threads turn each line into a write (JSON parse, structure checks, schema
//! validation); the async writer applies chunks in file order as one transaction each.
//! Re-importing the same files writes nothing new, because a write whose content equals the
//! current version is a no-op; after a crash, a rerun completes what is missing.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth_interface::store::{BulkLoad, Precondition, ResourceStore, Write, WriteOutcome};
use hearth_interface::validate::{JsonSchemaValidator, Validator};
use hearth_interface::{ResourceId, ResourceType};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::cli::ImportArgs;
use crate::config::StoreConfig;
use crate::wiring;

/// One problem with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The file.
    pub file: Arc<str>,
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read (blank lines excluded).
    pub lines: u64,
    /// Resources created.
    pub created: u64,
    /// Resources updated.
    pub updated: u64,
    /// Resources whose content was already stored.
    pub unchanged: u64,
    /// Lines rejected.
    pub errors: Vec<LineError>,
}

/// Import options.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Lines per chunk (one transaction each).
    pub batch_size: usize,
    /// Validate each resource against the R4 JSON schema.
    pub validate: bool,
    /// Longest accepted line.
    pub max_line_bytes: usize,
    /// Show a progress bar.
    pub progress: bool,
    /// Leave the search index to a later rebuild ([`BulkLoad::StartDeferringIndex`]).
    pub defer_index: bool,
}

/// Runs `hearth import` and prints the summary.
///
/// # Errors
/// When the store cannot be opened, a path cannot be read, or the store fails.
pub async fn run(args: ImportArgs) -> Result<ExitCode, String> {
    let components = wiring::open(&StoreConfig::from(&args.store))
        .await
        .map_err(|e| format!("cannot open the store: {}", wiring::describe(&e)))?;
    let files = collect_files(&args.paths)?;
    let options = ImportOptions {
        batch_size: args.batch_size.max(1),
        validate: !args.no_validate,
        max_line_bytes: args.max_line_bytes,
        progress: !args.quiet,
        defer_index: args.defer_index,
    };
    let started = Instant::now();
    let report = import_files(components.store, &files, &options).await?;
    let seconds = started.elapsed().as_secs_f64();
    let written = report.lines - report.errors.len() as u64;
    println!(
        "imported {written} resources from {} file(s) in {seconds:.2} s ({:.0} resources/s): {} created, {} updated, {} unchanged, {} error(s)",
        files.len(),
        written as f64 / seconds.max(1e-9),
        report.created,
        report.updated,
        report.unchanged,
        report.errors.len()
    );
    for e in report.errors.iter().take(50) {
        eprintln!("{}:{}: {}", e.file, e.line, e.message);
    }
    if report.errors.len() > 50 {
        eprintln!("... and {} more error(s)", report.errors.len() - 50);
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Expands directories into their `.ndjson`/`.ndjson.gz` files (sorted), keeps files as given.
///
/// # Errors
/// When a path does not exist or a directory cannot be listed.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("cannot list {}: {e}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| is_ndjson(p))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{} does not exist", path.display()));
        }
    }
    Ok(files)
}

fn is_ndjson(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".ndjson") || name.ends_with(".ndjson.gz")
}

/// A chunk of raw lines from one file.
struct RawChunk {
    seq: u64,
    file: Arc<str>,
    first_line: usize,
    lines: Vec<Result<String, String>>,
}

/// A chunk turned into writes.
struct ParsedChunk {
    seq: u64,
    lines: u64,
    writes: Vec<(usize, Write)>,
    file: Arc<str>,
    errors: Vec<LineError>,
}

/// Imports `files` into `store`.
///
/// # Errors
/// When a file cannot be opened or the store fails (line errors are reported, not raised).
pub async fn import_files(
    store: Arc<dyn ResourceStore>,
    files: &[PathBuf],
    options: &ImportOptions,
) -> Result<ImportReport, String> {
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(total_bytes, options.progress);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let (raw_tx, raw_rx) = sync_channel::<RawChunk>(workers * 2);
    let (parsed_tx, mut parsed_rx) = tokio::sync::mpsc::channel::<ParsedChunk>(2);

    let reader = {
        let files = files.to_vec();
        let options = options.clone();
        let bytes_read = bytes_read.clone();
        std::thread::spawn(move || read_files(&files, &options, &raw_tx, &bytes_read))
    };
    let raw_rx = Arc::new(Mutex::new(raw_rx));
    let validator = options
        .validate
        .then(|| Arc::new(JsonSchemaValidator::r4()));
    let index = !options.defer_index;
    let parsers: Vec<_> = (0..workers)
        .map(|_| {
            let raw_rx = raw_rx.clone();
            let parsed_tx = parsed_tx.clone();
            let validator = validator.clone();
            std::thread::spawn(move || {
                parse_chunks(&raw_rx, &parsed_tx, validator.as_deref(), index)
            })
        })
        .collect();
    drop(parsed_tx);

    let mut report = ImportReport::default();
    let mut pending: BTreeMap<u64, ParsedChunk> = BTreeMap::new();
    let mut next_seq = 0;
    let store_error = |e: hearth_interface::Error| format!("the store failed: {e}");
    store
        .bulk_load(if options.defer_index {
            BulkLoad::StartDeferringIndex
        } else {
            BulkLoad::Start
        })
        .await
        .map_err(store_error)?;
    let mut applied = Ok(());
    'chunks: while let Some(chunk) = parsed_rx.recv().await {
        pending.insert(chunk.seq, chunk);
        while let Some(chunk) = pending.remove(&next_seq) {
            next_seq += 1;
            applied = apply_chunk(store.as_ref(), chunk, &mut report).await;
            if applied.is_err() {
                break 'chunks;
            }
            bar.set_position(bytes_read.load(Ordering::Relaxed));
        }
    }
    drop(parsed_rx);
    let ended = store.bulk_load(BulkLoad::End).await.map_err(store_error);
    applied?;
    ended?;
    bar.finish_and_clear();
    reader
        .join()
        .map_err(|_| "the reader thread panicked".to_owned())??;
    for p in parsers {
        p.join()
            .map_err(|_| "a parser thread panicked".to_owned())?;
    }
    report
        .errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(report)
}

fn progress_bar(total: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

async fn apply_chunk(
    store: &dyn ResourceStore,
    chunk: ParsedChunk,
    report: &mut ImportReport,
) -> Result<(), String> {
    report.lines += chunk.lines;
    report.errors.extend(chunk.errors);
    if chunk.writes.is_empty() {
        return Ok(());
    }
    let (lines, writes): (Vec<usize>, Vec<Write>) = chunk.writes.into_iter().unzip();
    let results = store
        .write_batch(writes)
        .await
        .map_err(|e| format!("the store failed: {e}"))?;
    for (line, result) in lines.into_iter().zip(results) {
        match result {
            Ok(r) => match r.outcome {
                WriteOutcome::Created => report.created += 1,
                WriteOutcome::Updated => report.updated += 1,
                _ => report.unchanged += 1,
            },
            Err(e) => report.errors.push(LineError {
                file: chunk.file.clone(),
                line,
                message: e.to_string(),
            }),
        }
    }
    Ok(())
}

/// Wraps a reader to count the bytes taken from the file (before decompression).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn read_files(
    files: &[PathBuf],
    options: &ImportOptions,
    out: &SyncSender<RawChunk>,
    bytes_read: &Arc<AtomicU64>,
) -> Result<(), String> {
    let mut seq = 0;
    for path in files {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let counting = Counting {
            inner: file,
            count: bytes_read.clone(),
        };
        let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(counting))
        } else {
            Box::new(counting)
        };
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let name: Arc<str> = Arc::from(path.display().to_string());
        let mut line_no = 0;
        let mut chunk = RawChunk {
            seq,
            file: name.clone(),
            first_line: 1,
            lines: Vec::new(),
        };
        loop {
            let line = match read_bounded_line(&mut reader, options.max_line_bytes) {
                Ok(None) => break,
                Ok(Some(line)) => line,
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            };
            line_no += 1;
            chunk.lines.push(line);
            if chunk.lines.len() >= options.batch_size {
                seq += 1;
                let full = std::mem::replace(
                    &mut chunk,
                    RawChunk {
                        seq,
                        file: name.clone(),
                        first_line: line_no + 1,
                        lines: Vec::new(),
                    },
                );
                if out.send(full).is_err() {
                    return Ok(());
                }
            }
        }
        if !chunk.lines.is_empty() {
            seq += 1;
            if out.send(chunk).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Reads one line of at most `limit` bytes; a longer line is skipped and reported as
/// `Err` (the stream stays positioned at the next line).
fn read_bounded_line(
    reader: &mut impl BufRead,
    limit: usize,
) -> std::io::Result<Option<Result<String, String>>> {
    let mut buf = Vec::new();
    let n = reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > limit && buf.last() != Some(&b'\n') {
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = reader.by_ref().take(1 << 20).read_until(b'\n', &mut rest)?;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Some(Err(format!("line longer than {limit} bytes"))));
    }
    Ok(Some(
        String::from_utf8(buf).map_err(|_| "line is not valid UTF-8".to_owned()),
    ))
}

fn parse_chunks(
    input: &Mutex<Receiver<RawChunk>>,
    output: &tokio::sync::mpsc::Sender<ParsedChunk>,
    validator: Option<&JsonSchemaValidator>,
    index: bool,
) {
    loop {
        let chunk = match input.lock() {
            Ok(rx) => match rx.recv() {
                Ok(c) => c,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let mut parsed = ParsedChunk {
            seq: chunk.seq,
            lines: 0,
            writes: Vec::new(),
            file: chunk.file.clone(),
            errors: Vec::new(),
        };
        for (offset, line) in chunk.lines.into_iter().enumerate() {
            let line_no = chunk.first_line + offset;
            let result = line.and_then(|text| {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    parse_line(&text, validator, index).map(Some)
                }
            });
            match result {
                Ok(None) => {}
                Ok(Some(write)) => {
                    parsed.lines += 1;
                    parsed.writes.push((line_no, write));
                }
                Err(message) => {
                    parsed.lines += 1;
                    parsed.errors.push(LineError {
                        file: chunk.file.clone(),
                        line: line_no,
                        message,
                    });
                }
            }
        }
        if output.blocking_send(parsed).is_err() {
            return;
        }
    }
}

/// Turns one NDJSON line into an upsert, with the resource's index values extracted here
/// (on a parser thread) when `index` is set.
///
/// # Errors
/// A message for malformed JSON, unknown types, missing or invalid ids and schema issues.
pub fn parse_line(
    text: &str,
    validator: Option<&JsonSchemaValidator>,
    index: bool,
) -> Result<Write, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let type_name = value
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or("no resourceType")?;
    let resource_type = ResourceType::parse(type_name).ok_or_else(|| {
        format!(
            "unknown resource type '{}'",
            hearth_interface::id::truncate_for_message(type_name)
        )
    })?;
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .ok_or("no id: import upserts by id")?;
    let id = ResourceId::parse(id).map_err(|e| e.to_string())?;
    if let Some(validator) = validator {
        let issues = validator.validate(resource_type, &value);
        if let Some(first) = issues.first() {
            return Err(format!(
                "invalid {resource_type}/{id}: {} ({} issue(s))",
                first.diagnostics,
                issues.len()
            ));
        }
    }
    Ok(if index {
        Write::upsert_indexed(resource_type, id, value, Precondition::None)
    } else {
        Write::upsert(resource_type, id, value, Precondition::None)
    })
}
