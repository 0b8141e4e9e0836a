//! Any bytes as a `weights.npz` (zip of .npy) through the reader mlxk-audio loads older
//! Whisper conversions with: it must never panic, loop or blow up memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mlxk_core::npz::read(data);
});
