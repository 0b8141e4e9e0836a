//! Integration tests: the real binaries on real inputs.

mod harness;

mod docs;
mod list;
