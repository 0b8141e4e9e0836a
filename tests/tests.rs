//! Integration tests: the real binaries on real inputs.

mod harness;

mod agreement;
mod docs;
mod list;
mod pull;
mod run;
mod vision;
