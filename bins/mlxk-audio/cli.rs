//! Command line of mlxk-audio.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, ValueEnum};
use mlxk_core::cli::Generate;

/// Transcribe speech with a local Whisper model (MLX).
///
/// Audio files come from the arguments, or from standard input: one path per
/// line, or NDJSON `audio` lines ({"type":"audio","path":"a.mp3"}); `-` reads
/// the audio itself from standard input. WAV (PCM, float, A-law, µ-law, ADPCM),
/// MP3, FLAC, Ogg/Vorbis and M4A/AAC are decoded in-process (no ffmpeg), at any
/// rate and channel count. Models: Whisper tiny to large-v3-turbo, float or
/// quantized, as mlx-whisper's or mlx-audio's converter writes them.
/// Silent stretches are skipped by an energy gate before Whisper sees them.
#[derive(Debug, Parser)]
#[command(
    name = "mlxk-audio",
    version,
    after_help = "Exit status: 0 ok; 1 some files failed; 2 usage or fatal error (no or unknown model, not a Whisper model, too little memory); 130 interrupted.\n\nEnvironment: HF_HUB_CACHE or HF_HOME (the cache); MLXK_MEMORY_LIMIT (e.g. 2G: cap on the memory a model may use).\n\nExamples:\n  mlxk-audio memo.m4a\n  mlxk-audio --model whisper-base --language de --task translate interview.mp3\n  mlxk-audio talk.flac --format srt --output-dir subs/\n  find . -name '*.mp3' | mlxk-audio --json > transcripts.ndjson\n  mlxk-audio meeting.mp3 --json | mlxk-run SmolLM2 --prompt \"Summarise this meeting\""
)]
pub struct Args {
    /// Audio files (`-`: the audio on standard input). Without any, paths are read
    /// from standard input.
    pub files: Vec<String>,

    /// Whisper model: org/name, a unique part of it, name@hash, or a directory.
    /// Default: the only Whisper model in the cache.
    #[arg(short, long)]
    pub model: Option<String>,

    /// Emit NDJSON: `segment` lines as they are decoded, a `transcript` per file,
    /// then a summary.
    #[arg(long)]
    pub json: bool,

    /// Write each transcript as FORMAT into --output-dir (`-o -`: to stdout).
    #[arg(short, long, value_enum)]
    pub format: Option<Format>,

    /// Where --format writes `<name>.<format>` (default: the current directory).
    #[arg(short, long, value_name = "DIR", requires = "format")]
    pub output_dir: Option<PathBuf>,

    /// Replace output files that already exist.
    #[arg(long)]
    pub overwrite: bool,

    /// Language of the speech (code or name: de, German); detected when not given.
    #[arg(short, long)]
    pub language: Option<String>,

    /// `transcribe` (same language) or `translate` (into English; multilingual models).
    #[arg(long, value_enum, default_value_t = TaskArg::Transcribe)]
    pub task: TaskArg,

    /// Sampling temperature(s), comma separated: a single value turns the fallback
    /// off (default: 0,0.2,0.4,0.6,0.8,1.0, tried in order).
    #[arg(short, long, value_delimiter = ',', value_name = "T")]
    pub temperature: Vec<f32>,

    /// Text to condition the first window on (names, vocabulary, style).
    #[arg(long, value_name = "TEXT")]
    pub initial_prompt: Option<String>,

    /// Do not feed each window's text to the next (less consistent, less prone to loops).
    #[arg(long)]
    pub no_condition: bool,

    /// Fall back to a higher temperature above this gzip compression ratio.
    #[arg(long, default_value_t = 2.4, value_name = "X")]
    pub compression_ratio_threshold: f64,

    /// Fall back to a higher temperature below this average log-probability.
    #[arg(long, default_value_t = -1.0, value_name = "X", allow_hyphen_values = true)]
    pub logprob_threshold: f64,

    /// Treat a window as silent above this no-speech probability (with a low log-probability).
    #[arg(long, default_value_t = 0.6, value_name = "P")]
    pub no_speech_threshold: f64,

    /// Sound level (dBFS) a 20 ms frame needs to count for the voice-activity gate.
    #[arg(long, default_value_t = -50.0, value_name = "DB", allow_hyphen_values = true)]
    pub vad_threshold: f32,

    /// Decode every window, silent or not (no voice-activity gate).
    #[arg(long)]
    pub no_vad: bool,

    /// Time every word (cross-attention alignment, as mlx-whisper): `words` on each
    /// --json segment, word-level cues in srt and vtt; segment times follow the words.
    #[arg(long)]
    pub word_timestamps: bool,

    /// With --word-timestamps: punctuation joined to the word after it.
    #[arg(
        long,
        value_name = "CHARS",
        default_value = "\"'“¿([{-",
        requires = "word_timestamps"
    )]
    pub prepend_punctuations: String,

    /// With --word-timestamps: punctuation joined to the word before it.
    #[arg(
        long,
        value_name = "CHARS",
        default_value = "\"'.。,，!！?？:：”)]}、",
        requires = "word_timestamps"
    )]
    pub append_punctuations: String,

    /// srt/vtt with --word-timestamps: most characters in a line before it breaks.
    #[arg(long, value_name = "N", requires = "word_timestamps")]
    pub max_line_width: Option<usize>,

    /// srt/vtt with --word-timestamps and --max-line-width: most lines in a cue.
    #[arg(long, value_name = "N", requires = "max_line_width")]
    pub max_line_count: Option<usize>,

    /// srt/vtt with --word-timestamps: most words in a cue (no effect with --max-line-width).
    #[arg(long, value_name = "N", requires = "word_timestamps")]
    pub max_words_per_line: Option<usize>,

    /// srt/vtt with --word-timestamps: underline each word as it is spoken.
    #[arg(long, requires = "word_timestamps")]
    pub highlight_words: bool,

    /// Random seed for sampling at temperatures above 0.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Load even when the memory gate says the model will not fit.
    #[arg(long)]
    pub force: bool,

    /// Print segments with times, the real-time factor and peak memory on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Cache directory to read instead of the environment's.
    #[arg(long, value_name = "DIR", env = "HF_HUB_CACHE", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,

    /// Print the man page or a shell completion script.
    #[arg(long, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

/// Output file formats (mlx-whisper's writers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Txt,
    Srt,
    Vtt,
    Tsv,
    Json,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Tsv => "tsv",
            Format::Json => "json",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Transcribe,
    Translate,
}

pub fn command() -> clap::Command {
    Args::command()
}
