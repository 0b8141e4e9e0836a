//! Integration tests against real weights. Models come from `scripts/fixtures.sh`
//! (cached under `$MLXK_FIXTURES` or `~/.cache/mlxk-fixtures`); a test whose fixture is
//! absent prints why and passes. MLX is not thread safe: tests take a global lock.

mod common;
mod families;
mod reference;
mod smollm2;
mod tiny_qwen;
mod vlm;
mod whisper;
mod whisper_cpu_step;
