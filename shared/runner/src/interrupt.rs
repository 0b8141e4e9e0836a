//! SIGINT, SIGTERM and SIGHUP for the binaries that run models: the first
//! raises a flag that stops what is in progress — reading input, loading,
//! prefill, decoding, the audio window — so the run ends with its output whole
//! (streamed text ends with a newline, NDJSON with its `summary`) and status
//! 130; a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Waker = Box<dyn Fn() + Send>;

/// The flag generation checks between tokens, and a way to wake a thread
/// that waits for input.
#[derive(Clone)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Interrupt {
    /// Installs the handler. Failing to install (another handler exists)
    /// only loses the clean stop.
    pub fn install() -> Self {
        let interrupt = Interrupt {
            flag: Arc::new(AtomicBool::new(false)),
            waker: Arc::new(Mutex::new(None)),
        };
        let seen = interrupt.clone();
        let _ = ctrlc::set_handler(move || {
            if seen.flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            if let Some(wake) = seen
                .waker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                wake();
            }
        });
        interrupt
    }

    /// The flag the runner polls.
    pub fn flag(&self) -> &Arc<AtomicBool> {
        &self.flag
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Raises the flag without a signal (stdout went away).
    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Calls `wake` on the first interrupt (at once if it already came).
    pub fn on_interrupt(&self, wake: impl Fn() + Send + 'static) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_set() {
            wake();
        }
        *slot = Some(Box::new(wake));
    }
}
