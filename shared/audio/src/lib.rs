//! Audio input for mlxk-audio, without MLX: a file (or bytes) decoded in a stream to
//! 16 kHz mono `f32` samples, the form Whisper takes.
//!
//! ```no_run
//! use mlxk_audio_io::AudioStream;
//!
//! # fn main() -> Result<(), mlxk_audio_io::AudioError> {
//! let mut stream = AudioStream::open("meeting.mp3".as_ref())?;
//! println!("{:?}", stream.info());
//! while let Some(samples) = stream.next_chunk()? {
//!     // 16 kHz mono, in order
//!     let _ = samples.len();
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Formats: WAV (PCM 8–32 bit, 32-bit float: hound; A-law, µ-law, IMA and Microsoft ADPCM: symphonia), MP3, FLAC, Ogg/Vorbis, M4A/AAC
//! (symphonia). Any rate and channel count: channels are averaged, the rate converted
//! by a windowed-sinc filter ([`resample`]).

#![deny(unsafe_code)]

pub mod error;
pub mod resample;
pub mod stream;

pub use error::{AudioError, Result};
pub use stream::{AudioInfo, AudioStream, SAMPLE_RATE};

/// Decodes a whole file to 16 kHz mono.
pub fn decode_file(path: &std::path::Path) -> Result<Vec<f32>> {
    AudioStream::open(path)?.read_to_end()
}

/// Decodes audio held in memory to 16 kHz mono: the decoders' one entry point for
/// bytes, which the fuzz target drives.
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<f32>> {
    AudioStream::from_bytes(bytes.to_vec())?.read_to_end()
}
