//! What a scenario prints, kept so that `--record` can append it to `BENCHMARKS.md` with
//! the date, the machine and the commit it was measured on.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// Every line printed with [`out!`] during this run.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Prints a line of the scenario's report and keeps it for `--record`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::report::line(format!($($arg)*))
    };
}
pub(crate) use out;

/// Prints `text` and keeps it.
pub fn line(text: String) {
    println!("{text}");
    if let Ok(mut lines) = LINES.lock() {
        lines.push(text);
    }
}

/// Appends the kept lines to `BENCHMARKS.md` at the repository root under a heading that
/// names the scenario, the command line, the date (UTC), the machine and the commit.
pub fn record(scenario: &str) -> Result<(), String> {
    let lines = LINES.lock().map_err(|_| "report lock poisoned")?.clone();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let command: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--record")
        .collect();
    let mut text = format!(
        "\n### Recorded run: {scenario}, {}\n\n`hearth-bench {}` on {}, commit {}.\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        command.join(" "),
        machine(),
        commit(&root),
    );
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let path = root.join("BENCHMARKS.md");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("recorded in {}", path.display());
    Ok(())
}

/// The CPU model, the cores this process may use, and the load at the time of recording
/// (the machine is shared, so the load says how noisy the figures are).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!("{model}, {cores} cores, load average {load}")
}

/// The short commit hash of the repository, marked `-dirty` when files are modified.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(hash) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{hash}-dirty") } else { hash }
}
