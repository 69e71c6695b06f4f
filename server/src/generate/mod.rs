//! `hearth generate`: deterministic synthetic patient records as NDJSON, one file per
//! resource type (`<dir>/Patient.ndjson`, ...).
//!
//! Every patient draws from its own ChaCha8 stream of the seed (stream = patient number), so
//! a record depends only on the seed, the patient number and the number of patients (which
//! sizes the shared practitioner and organization pools), never on threads or timing.
//! Worker threads generate fixed blocks of patients into per-type NDJSON buffers; the calling
//! thread writes the blocks in order. Cohort `Group`s come last. Dates are relative to the
//! fixed reference date 2026-01-01, never to the clock.

mod billing;
mod codes;
mod cohort;
mod kind;
mod names;
mod output;
mod person;
mod pool;
mod random;
mod record;
mod time;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub use kind::Kind;

use crate::cli::GenerateArgs;
use kind::Sink;
use output::Output;
use pool::World;

/// Patients per block: the unit of work of one thread and of one write.
const BLOCK: u64 = 64;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// Number of patients.
    pub patients: u32,
    /// The seed: the same patients and seed give the same bytes.
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// Resources written per type, in [`Kind::ALL`] order.
    pub counts: Vec<(Kind, u64)>,
}

impl GenerateReport {
    /// Resources written in all.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// Runs `hearth generate` and prints the summary.
///
/// # Errors
/// When the output directory or a file cannot be created or written.
pub fn run(args: GenerateArgs) -> Result<ExitCode, String> {
    let options = GenerateOptions {
        patients: args.patients,
        seed: args.seed,
        progress: !args.quiet,
    };
    let started = Instant::now();
    let report = generate(&args.out, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    let total = report.total();
    let mut summary = format!(
        "generated {total} resources for {} patients in {seconds:.2} s ({:.0} resources/s)\n",
        options.patients,
        total as f64 / seconds.max(1e-9)
    );
    for (kind, count) in &report.counts {
        summary.push_str(&format!("  {:<21} {count:>9}\n", kind.name()));
    }
    std::io::stdout()
        .lock()
        .write_all(summary.as_bytes())
        .map_err(|e| format!("cannot print the summary: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the records of `options.patients` patients into `dir`.
///
/// # Errors
/// When the directory or a file cannot be created or written.
pub fn generate(dir: &Path, options: &GenerateOptions) -> Result<GenerateReport, String> {
    let world = World::new(options.seed, options.patients);
    let mut output = Output::create(dir)?;
    let mut counts = [0u64; Kind::COUNT];
    let mut pools = Sink::default();
    pool::write(&world, &mut pools);
    write_sink(&mut output, &pools, &mut counts)?;

    let mut members: Vec<Vec<u32>> = vec![Vec::new(); cohort::COUNT];
    let patients = u64::from(options.patients);
    let blocks = patients.div_ceil(BLOCK);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16)
        .min(usize::try_from(blocks).unwrap_or(usize::MAX))
        .max(1);
    let bar = progress_bar(patients, options.progress);
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| -> Result<(), String> {
        let (tx, rx) = sync_channel::<(u64, Sink)>(workers * 2);
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            let world = &world;
            scope.spawn(move || {
                loop {
                    let block = next.fetch_add(1, Ordering::Relaxed);
                    if block >= blocks {
                        return;
                    }
                    let sink = generate_block(world, block);
                    if tx.send((block, sink)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<u64, Sink> = BTreeMap::new();
        let mut expected = 0;
        for (block, sink) in rx {
            pending.insert(block, sink);
            while let Some(sink) = pending.remove(&expected) {
                expected += 1;
                write_sink(&mut output, &sink, &mut counts)?;
                for &(cohort, patient) in sink.members() {
                    if let Some(list) = members.get_mut(cohort) {
                        list.push(patient);
                    }
                }
                bar.set_position((expected * BLOCK).min(patients));
            }
        }
        if expected == blocks {
            Ok(())
        } else {
            Err("a generator thread stopped early".to_owned())
        }
    })?;
    bar.finish_and_clear();

    let mut groups = Sink::default();
    cohort::write(&members, &mut groups);
    write_sink(&mut output, &groups, &mut counts)?;
    output.finish()?;
    Ok(GenerateReport {
        counts: Kind::ALL.iter().copied().zip(counts).collect(),
    })
}

/// The records of the patients of block `block`.
fn generate_block(world: &World, block: u64) -> Sink {
    let mut sink = Sink::default();
    let first = block * BLOCK;
    let last = (first + BLOCK).min(u64::from(world.patients));
    for index in first..last {
        if let Ok(index) = u32::try_from(index) {
            record::write(world, index, &mut sink);
        }
    }
    sink
}

fn write_sink(
    output: &mut Output,
    sink: &Sink,
    counts: &mut [u64; Kind::COUNT],
) -> Result<(), String> {
    if let Some(error) = sink.error() {
        return Err(error.to_owned());
    }
    output.write(sink)?;
    for (total, n) in counts.iter_mut().zip(sink.counts()) {
        *total += n;
    }
    Ok(())
}

fn progress_bar(total: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} patients ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
