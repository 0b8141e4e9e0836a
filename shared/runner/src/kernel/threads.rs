//! The runner's CPU parallelism: one setting (`MLXK_THREADS`, default every core)
//! shared by every product.
//!
//! A product splits its output rows into one contiguous block per thread; the calling
//! thread computes the last block while a rayon pool of `threads - 1` workers computes
//! the others, so `threads` cores work and none waits idle.

use std::sync::Arc;

/// Environment variable that sets the number of threads.
pub const THREADS_ENV: &str = "MLXK_THREADS";

/// Products smaller than this many multiply-adds run on the calling thread alone:
/// waking a worker costs more than it saves.
const MIN_WORK_PER_THREAD: usize = 32 * 1024;

/// Threads for CPU products.
#[derive(Clone)]
pub struct Threads {
    count: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads")
            .field("count", &self.count)
            .finish()
    }
}

impl Default for Threads {
    fn default() -> Self {
        Threads::new(1)
    }
}

impl Threads {
    /// `count` threads (at least 1): the caller plus `count - 1` workers.
    pub fn new(count: usize) -> Self {
        let count = count.max(1);
        let pool = (count > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(count - 1)
                    .thread_name(|i| format!("mlxk-cpu-{i}"))
                    .build()
                    .ok()
                    .map(Arc::new)
            })
            .flatten();
        let count = if pool.is_some() { count } else { 1 };
        Threads { count, pool }
    }

    /// `MLXK_THREADS` when set to a positive number, else every available core.
    pub fn default_count() -> usize {
        std::env::var(THREADS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
    }

    /// Threads products use.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Calls `work(first_row, block)` over contiguous blocks of `out`, whose rows hold
    /// `per_row` values each, in parallel when `work_size` (multiply-adds) is large.
    pub fn split_rows<F>(&self, out: &mut [f32], work_size: usize, per_row: usize, work: F)
    where
        F: Fn(usize, &mut [f32]) + Sync,
    {
        let rows = out.len() / per_row;
        let parts = self
            .count
            .min(work_size / MIN_WORK_PER_THREAD)
            .min(rows)
            .max(1);
        let Some(pool) = self.pool.as_ref().filter(|_| parts > 1) else {
            work(0, out);
            return;
        };
        // Blocks of whole rows, a multiple of 4 rows where possible (the SIMD loops
        // take rows four at a time).
        let block = rows.div_ceil(parts).next_multiple_of(4).min(rows);
        let mut blocks: Vec<(usize, &mut [f32])> = out
            .chunks_mut(block * per_row)
            .enumerate()
            .map(|(i, b)| (i * block, b))
            .collect();
        let (first, mine) = blocks.pop().expect("at least one block");
        let work = &work;
        pool.in_place_scope(|scope| {
            for (start, b) in blocks {
                scope.spawn(move |_| work(start, b));
            }
            work(first, mine);
        });
    }
}
