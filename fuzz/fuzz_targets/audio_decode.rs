//! The audio decoders' entry point on arbitrary bytes: WAV (hound), MP3, FLAC,
//! Ogg/Vorbis, M4A/AAC (symphonia), downmixing and resampling. Any input must end in
//! samples or an error: no panic, no hang, no unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(samples) = mlxk_audio_io::decode_bytes(data) {
        assert!(samples.iter().all(|s| s.is_finite() || s.is_nan()));
    }
});
