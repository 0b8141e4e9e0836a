//! What can go wrong reading an audio file.

use std::path::PathBuf;

/// A file that could not be turned into samples, with the reason in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read.
    #[error("cannot read the file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path is a directory.
    #[error("a directory, not an audio file")]
    Directory { path: PathBuf },
    /// The file has no bytes at all.
    #[error("the file is empty")]
    EmptyFile,
    /// No container or codec we know recognises the bytes.
    #[error("not a recognised audio file (WAV, MP3, FLAC, Ogg/Vorbis, M4A/AAC)")]
    NotAudio,
    /// A known container holding a codec we cannot decode (e.g. Opus, ADPCM).
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The stream decodes but ends before its header says it should, or breaks off.
    #[error("truncated audio: {0}")]
    Truncated(String),
    /// The stream is damaged beyond what the decoder can skip.
    #[error("corrupt audio: {0}")]
    Corrupt(String),
    /// The file is well formed but holds no samples (a 0-second recording).
    #[error("the audio has no samples (0 seconds)")]
    NoSamples,
}

/// Result with [`AudioError`].
pub type Result<T, E = AudioError> = std::result::Result<T, E>;
