//! The NDJSON wire language that every mlxk tool speaks.
//!
//! One JSON object per line, each with a `type` field. Model objects keep
//! mlx-knife's field names so that jq scripts carry over. Consumers ignore
//! fields and message types they do not know; producers may add both.
//! `docs/ndjson.md` is the reference for people; keep the two in step.

use serde::{Deserialize, Serialize};

/// Health verdict of a model's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Unhealthy,
}

/// Framework a cached model is stored for (mlx-knife's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Framework {
    #[serde(rename = "MLX")]
    Mlx,
    #[serde(rename = "GGUF")]
    Gguf,
    PyTorch,
    Unknown,
}

/// What a model is for (mlx-knife's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    Chat,
    Base,
    Embedding,
    Audio,
}

/// A file of a snapshot, as `--show --files` and `--json --files` report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size_bytes: u64,
    /// The blob the snapshot entry points at (an etag: sha256 or git sha1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// `{"type":"model"}`: one cached model, as mlxk-list prints it and as
/// mlxk-run accepts it to choose a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// `org/name` as on the Hub.
    pub name: String,
    /// The snapshot's commit hash (40 hex), or null when no snapshot could be chosen.
    pub hash: Option<String>,
    /// Bytes on disk for the chosen snapshot, each blob counted once.
    pub size_bytes: u64,
    /// Newest modification of the snapshot, UTC, RFC 3339.
    pub last_modified: Option<String>,
    pub framework: Framework,
    pub model_type: ModelType,
    pub capabilities: Vec<String>,
    pub health: Health,
    /// Why the model is unhealthy; absent when healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub runtime_compatible: bool,
    /// Why the model cannot run under mlxk's MLX runner; absent when it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_reason: Option<String>,
    /// e.g. `"4bit"`, `"8bit"`, `"bf16"`; absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    /// `config.json`'s `model_type` (e.g. `llama`), or the GGUF architecture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Ref the snapshot was chosen through (`main`), absent when chosen by hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The snapshot directory (or workspace directory).
    pub path: String,
    pub cached: bool,
    /// Files of the snapshot; only with `--files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
    /// Parsed `config.json`; only with `--config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// `{"type":"error"}`: something went wrong with one item (or the whole run,
/// when it is the last line before exit status 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// Stable machine-readable code, e.g. `model_not_found`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// 1-based line of standard input the error belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The request `id` the error belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The input file the error belongs to (an image, an audio file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For `ambiguous_match`: the names that matched.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub candidates: Vec<String>,
}

/// `{"type":"summary"}`: last line of every tool's NDJSON output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub tool: String,
    /// Items seen (models listed, requests answered, repos pulled, …).
    pub total: u64,
    /// Items that went well (healthy, answered, pulled).
    pub ok: u64,
    /// Items that did not (unhealthy, errors).
    pub failed: u64,
    /// Exit status the tool is about to return.
    pub exit_code: i32,
    pub elapsed_ms: u64,
}

/// Every message mlxk-list writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ListMessage {
    Model(Model),
    Error(ErrorMessage),
    Summary(Summary),
}

/// One chat message of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// `{"type":"request"}`: one generation request for mlxk-run. Either
/// `prompt` or `messages`; every other field overrides the command line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed on the deltas, result and errors that answer this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ChatMessage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Render the prompt without the model's chat template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
}

/// `{"type":"delta"}`: a piece of generated text, streamed as it comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub text: String,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end-of-sequence token of the model or its template.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The context window is full.
    Context,
    /// Ctrl-C.
    Interrupted,
}

/// `{"type":"result"}` from mlxk-run: the answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub model: String,
    pub text: String,
    /// A reasoning model's thinking, kept out of `text` (gpt-oss's analysis channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    /// Prompt processing speed, tokens per second.
    pub prompt_tps: f64,
    /// Generation speed, tokens per second.
    pub generation_tps: f64,
    /// Peak memory of the process, bytes.
    pub peak_memory_bytes: u64,
}

/// Every message mlxk-run writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RunMessage {
    Delta(Delta),
    Result(RunResult),
    Error(ErrorMessage),
    Summary(Summary),
}

/// `{"type":"progress"}`: bytes moved so far for one file of a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub repo: String,
    pub file: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

/// Outcome of one pull, mlx-knife's `download_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadStatus {
    Success,
    AlreadyExists,
    AccessDenied,
    NotFound,
    Offline,
    Failed,
}

/// `{"type":"result"}` from mlxk-pull: what happened to one repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub download_status: DownloadStatus,
    /// Files fetched over the network in this run.
    pub files: u64,
    /// Bytes fetched over the network in this run (resumed bytes excluded).
    pub bytes: u64,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What a person can do about a failed pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Every message mlxk-pull writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PullMessage {
    Progress(Progress),
    Result(PullResult),
    Error(ErrorMessage),
    Summary(Summary),
}

/// What a push does (or, in a dry run, would do) with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// Not on the remote yet.
    Added,
    /// On the remote with other content (sha256 or git blob sha1 differ).
    Changed,
    /// On the remote, not in the folder (`--delete` only).
    Deleted,
    /// The same content on both sides: not sent.
    Unchanged,
}

/// One file of a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushFile {
    pub path: String,
    pub action: FileAction,
    /// Bytes of the local file (of the remote file for deletions).
    pub size: u64,
    /// sha256 of the local content; absent for deletions and `--check-only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `lfs` or `regular`, as the server decided (absent in a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Outcome of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// A commit was made.
    Success,
    /// Nothing differs from the remote: no commit.
    NoChanges,
    /// `--dry-run`: the plan, nothing written.
    DryRun,
    /// `--check-only`: the workspace was judged, no network.
    Checked,
    /// The workspace is not healthy: nothing sent (see `reason`; `--force` overrides).
    Unhealthy,
    AccessDenied,
    NotFound,
    Failed,
}

/// `{"type":"result"}` from mlxk-push: what happened to one folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResult {
    /// `org/name` on the Hub.
    pub repo: String,
    /// The workspace folder.
    pub path: String,
    pub branch: String,
    pub status: PushStatus,
    /// The new commit (`success`), else the remote head when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_url: Option<String>,
    /// The repository was created by this push (or would be, in a dry run).
    pub created: bool,
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Files whose content went over the network in this run (LFS objects
    /// the server already had are not counted).
    pub uploaded_files: u64,
    /// Content bytes sent in this run (LFS transfers and inline regular files).
    pub uploaded_bytes: u64,
    pub seconds: f64,
    /// Every file of the plan, sorted by path.
    pub files: Vec<PushFile>,
    /// Entries of the folder that were not taken: symbolic links (unless
    /// `--follow-links`, and never one leading outside), FIFOs, devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedEntry>,
}

/// An entry of a folder that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    pub path: String,
    pub reason: String,
}

/// Every message mlxk-push writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PushMessage {
    Progress(Progress),
    Result(PushResult),
    Error(ErrorMessage),
    Summary(Summary),
}

/// `{"type":"audio"}`: an audio file to transcribe (mlxk-audio reads; a plain line
/// holding a path means the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioInput {
    pub path: String,
}

/// `{"type":"segment"}`: a stretch of a transcript with its times, written as soon as
/// its 30-second window is decoded (mlxk-audio).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The file as it was named on input (`-` for standard input).
    pub file: String,
    /// 0-based, in order, per file.
    pub id: u64,
    /// Seconds from the start of the audio.
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// Whisper's token ids of the segment, timestamps included.
    pub tokens: Vec<u32>,
    /// Sampling temperature the window was decoded at (above 0: the fallback was used).
    pub temperature: f64,
    /// Average log-probability of the window's tokens.
    pub avg_logprob: f64,
    /// Probability the window holds no speech.
    pub no_speech_prob: f64,
    /// The segment's words with their times (`--word-timestamps` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<Word>>,
}

/// One word of a `segment` (mlx-whisper's word timestamps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// As Whisper wrote it: with its leading space and joined punctuation.
    pub word: String,
    /// Seconds from the start of the audio.
    pub start: f64,
    pub end: f64,
    /// Mean probability of the word's tokens.
    pub probability: f64,
}

/// `{"type":"transcript"}`: the whole text of one file (mlxk-audio); mlxk-run takes
/// its `text` as context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub file: String,
    pub model: String,
    /// Language code (`en`, `de`, …): given, or detected.
    pub language: String,
    /// Probability of the detected language, when it was detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_probability: Option<f64>,
    /// `transcribe` or `translate`.
    pub task: String,
    pub text: String,
    /// Length of the audio, seconds.
    pub seconds: f64,
    /// Segments with text.
    pub segments: u64,
    /// 30-second windows the voice-activity gate skipped as silent.
    pub skipped_windows: u64,
    /// Processing time over audio length (below 1: faster than real time).
    pub real_time_factor: f64,
    /// Peak memory of the process, bytes.
    pub peak_memory_bytes: u64,
}

/// An error that belongs to one input file (mlxk-audio): the error fields plus `file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileError {
    #[serde(flatten)]
    pub error: ErrorMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Every message mlxk-audio writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AudioMessage {
    Segment(Segment),
    Transcript(Transcript),
    Error(FileError),
    Summary(Summary),
}
/// A GPS position: signed decimal degrees (north and east positive),
/// altitude in metres above sea level (negative below).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<f64>,
}

/// `{"type":"image"}`: an image and what its header and EXIF say.
/// mlxk-vision reads it (only `path` is needed) and writes it with
/// `--metadata-only`; a chunk lists its images in this shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Number of the image within its chunk (1-based), in a chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    pub path: String,
    /// The file name (last part of the path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `jpeg`, `png`, `webp`, `gif`, `tiff` (from the content, not the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Stored size in pixels (before orientation is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
    /// When the photo was taken, ISO 8601: GPS time in UTC (`…Z`), else the
    /// camera's time with its offset (`…+01:00`) or without (zone unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Make and model, e.g. `Apple iPhone SE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lens: Option<String>,
    /// EXIF orientation 1..=8 (1 upright); applied to the pixels a model gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<u16>,
    /// Size of the pixels the model gets (orientation applied, reduced to
    /// the pixel budget); with `--check` and in chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_height: Option<u32>,
    /// What could not be read (malformed EXIF); the image still goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `{"type":"chunk"}`: a model's description of a group of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// 1-based number of the chunk in the run.
    pub index: u64,
    pub images: Vec<ImageInfo>,
    pub model: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_tokens: Option<u64>,
}

/// Every message mlxk-vision writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum VisionMessage {
    Image(ImageInfo),
    Delta(Delta),
    Chunk(Chunk),
    Error(ErrorMessage),
    Summary(Summary),
}
