//! What can go wrong in mlxk-audio, as NDJSON error objects with a hint.

use mlxk_audio_io::AudioError;
use mlxk_core::ndjson::ErrorMessage;
use mlxk_runner::RunnerError;

pub enum Failure {
    NoModel,
    /// Several Whisper models and none named.
    ManyModels(Vec<String>),
    NoInput,
    Malformed(String),
    Resolve(mlxk_core::Error),
    Unhealthy {
        name: String,
        reason: String,
    },
    NotWhisper {
        name: String,
        what: String,
    },
    Usage(String),
    Audio(AudioError),
    Runner(RunnerError),
    Output(String),
}

impl Failure {
    pub fn message(&self, line: Option<u64>) -> ErrorMessage {
        let (code, message, hint): (&str, String, Option<String>) = match self {
            Failure::NoModel => (
                "model_not_found",
                "no Whisper model in the cache".into(),
                Some(
                    "mlxk-pull mlx-community/whisper-tiny (or name a directory with --model)"
                        .into(),
                ),
            ),
            Failure::ManyModels(names) => (
                "ambiguous_match",
                format!(
                    "{} Whisper models in the cache: choose one with --model",
                    names.len()
                ),
                Some(names.join(", ")),
            ),
            Failure::NoInput => (
                "validation_error",
                "no audio: name files, or pipe paths on standard input".into(),
                Some("mlxk-audio memo.m4a, or find . -name '*.mp3' | mlxk-audio".into()),
            ),
            Failure::Malformed(why) => (
                "invalid_input",
                format!("input line is not a valid message: {why}"),
                Some("a path per line, or {\"type\":\"audio\",\"path\":\"a.mp3\"}".into()),
            ),
            Failure::Resolve(e) => {
                let mut m = e.to_message();
                m.line = line;
                return m;
            }
            Failure::Unhealthy { name, reason } => (
                "unhealthy_model",
                format!("{name} is unhealthy: {reason}"),
                Some(format!(
                    "mlxk-list --show {name} --files; mlxk-pull {name} repairs a download"
                )),
            ),
            Failure::NotWhisper { name, what } => (
                "unsupported_architecture",
                format!("{name} is not a Whisper model ({what})"),
                Some("mlxk-list shows models of type audio; text models run with mlxk-run".into()),
            ),
            Failure::Usage(why) => ("validation_error", why.clone(), None),
            Failure::Audio(e) => audio_error(e),
            Failure::Runner(e) => runner_error(e),
            Failure::Output(why) => (
                "io_error",
                why.clone(),
                Some("choose another --output-dir, or --overwrite".into()),
            ),
        };
        ErrorMessage {
            code: code.into(),
            message,
            hint,
            line,
            id: None,
            path: None,
            candidates: match self {
                Failure::ManyModels(names) => names.clone(),
                _ => Vec::new(),
            },
        }
    }
}

fn audio_error(e: &AudioError) -> (&'static str, String, Option<String>) {
    let (code, hint) = match e {
        AudioError::Io { .. } | AudioError::Directory { .. } => ("io_error", None),
        AudioError::UnsupportedCodec(_) => (
            "unsupported_codec",
            Some("convert it first, e.g. ffmpeg -i IN -ar 16000 OUT.wav".into()),
        ),
        AudioError::NotAudio | AudioError::EmptyFile | AudioError::NoSamples => (
            "invalid_audio",
            Some("mlxk-audio reads WAV, MP3, FLAC, Ogg/Vorbis and M4A/AAC".into()),
        ),
        AudioError::Truncated(_) | AudioError::Corrupt(_) => (
            "invalid_audio",
            Some("the file is damaged or incomplete; fetch or export it again".into()),
        ),
    };
    (code, e.to_string(), hint)
}

fn runner_error(e: &RunnerError) -> (&'static str, String, Option<String>) {
    (e.code(), e.to_string(), e.hint().map(String::from))
}
