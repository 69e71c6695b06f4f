//! Process-wide memory settings the binaries apply at start.

/// Turns transparent huge pages off for this process. mimalloc gives freed memory back to
/// the system after a short delay; where huge pages are always on, reusing that memory
/// faults in and clears 2 MiB at a time: half of an indexed import's system time (the
/// kernel's `clear_page`). Best effort: elsewhere there is nothing to do.
pub fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("hearth: transparent huge pages stay on: {e}");
    }
}
