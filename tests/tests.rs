//! Integration tests: the real binaries on real inputs.

mod harness;

mod agreement;
mod audio;
mod audio_layouts;
mod audio_telephone;
mod audio_words;
mod docs;
mod list;
mod list_families;
mod photo_pixels;
mod pull;
mod push;
mod readme;
mod run;
mod run_contract;
mod run_signals;
mod vision;
mod vision_model;
