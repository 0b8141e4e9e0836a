//! Exit codes shared by every mlxk tool (documented in docs/ndjson.md).

/// Process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything went well. Also: the reader closed the pipe.
    Ok = 0,
    /// Some items failed or are unhealthy; the rest were processed.
    Partial = 1,
    /// Usage error or a fatal error: nothing (more) could be done.
    Fatal = 2,
    /// Interrupted by Ctrl-C (128 + SIGINT).
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// `Partial` when any item failed, else `Ok`.
    pub fn from_failures(failed: u64) -> Self {
        if failed > 0 {
            Exit::Partial
        } else {
            Exit::Ok
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}
