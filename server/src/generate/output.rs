//! The output directory: one buffered `<Type>.ndjson` file per kind, appended block by block.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::kind::{Kind, Sink};

/// The open output files, in [`Kind::ALL`] order.
#[derive(Debug)]
pub struct Output {
    files: Vec<(PathBuf, BufWriter<File>)>,
}

impl Output {
    /// Creates `dir` if needed and truncates or creates its `<Type>.ndjson` files.
    ///
    /// # Errors
    /// When the directory or a file cannot be created.
    pub fn create(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut files = Vec::with_capacity(Kind::COUNT);
        for kind in Kind::ALL {
            let path = dir.join(format!("{}.ndjson", kind.name()));
            let file = File::create(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            files.push((path, BufWriter::with_capacity(1 << 20, file)));
        }
        Ok(Self { files })
    }

    /// Appends every buffer of `sink` to its file.
    ///
    /// # Errors
    /// When a write fails.
    pub fn write(&mut self, sink: &Sink) -> Result<(), String> {
        for (kind, (path, writer)) in Kind::ALL.iter().zip(self.files.iter_mut()) {
            writer
                .write_all(sink.bytes(*kind))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Flushes and closes every file.
    ///
    /// # Errors
    /// When a flush fails.
    pub fn finish(self) -> Result<(), String> {
        for (path, mut writer) in self.files {
            writer
                .flush()
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}
