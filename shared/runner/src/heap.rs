//! Large buffers reused instead of mapped afresh.
//!
//! glibc's malloc serves every allocation above its mmap threshold (at most 32 MB) with
//! its own `mmap` and returns it with `munmap` when freed, so each one is faulted in and
//! zeroed by the kernel page by page, again on every use. MLX's CPU backend allocates a
//! fresh buffer for every intermediate array: in Whisper's encoder each layer's
//! attention scores (`heads · 1500²` floats, 54 MB in tiny) and everything handed to
//! Rust and back. Measured on Whisper tiny.en, 2 threads: a 30-second window's encoder
//! 1.08 s with per-allocation maps, 0.84 s with the heap reused; a quarter of the time
//! went to page faults.
//!
//! [`reuse_freed_buffers`] asks malloc to serve large allocations from its heap and to
//! keep what is freed there for the next one. Resident memory then stays near its peak
//! until exit instead of falling between windows; the peak is what the memory gate
//! checks and what a batch job pays for either way.

/// Large allocations from malloc's heap, freed memory kept (up to 512 MB at its top)
/// for reuse. Once, at the start of a binary that runs models, before any thread is
/// started; a no-op where the C library is not glibc.
pub fn reuse_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only sets malloc's tunables; it is called before the process
    // starts threads, and both values are within the documented ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
