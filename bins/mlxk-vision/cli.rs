//! Command line of mlxk-vision.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use mlxk_core::cli::{Generate, Sampling};
use mlxk_core::photo::decode::DEFAULT_MAX_PIXELS;

/// The prompt when none is given.
pub const DEFAULT_PROMPT: &str =
    "Describe what each image shows, and any clue to where and when it was taken.";

/// Describe photos with a local vision model, their EXIF passed along.
///
/// Images come from the arguments after the model or, when there are none,
/// from standard input: one path per line, or NDJSON `image` lines
/// (`{"type":"image","path":"beach.jpg"}`). Each chunk of --chunk images is a
/// fresh model session; before the prompt the model gets one line per image:
/// `[Image 1 | GPS: 32.7900°N, 16.9200°W | Date: 2023-12-06 | Camera: Apple iPhone SE]`.
/// With --metadata-only no model is loaded: one line per image with its
/// metadata, at once (for pipelines, cron jobs, and checking what a folder
/// would reveal before it is shared).
#[derive(Debug, Parser)]
#[command(
    name = "mlxk-vision",
    version,
    after_help = "Exit status: 0 ok; 1 some images failed (unreadable, not an image, too large); 2 usage or fatal error (unknown, unhealthy, text-only or unsupported model, too little memory); 130 interrupted.\n\nEnvironment: HF_HUB_CACHE or HF_HOME (the cache); MLXK_MEMORY_LIMIT (e.g. 2G: cap on the memory a model may use).\n\nExamples:\n  mlxk-vision --metadata-only photos/*.jpg\n  find photos -name '*.jpg' | mlxk-vision --metadata-only --json --no-location\n  mlxk-vision SmolVLM beach.jpg --prompt \"What is in this photo?\"\n  find photos -name '*.jpg' | mlxk-vision SmolVLM --chunk 4 --json | mlxk-run SmolLM2 --prompt \"Where were these taken?\""
)]
pub struct Args {
    /// Model: org/name, a unique part of it, name@hash, or a directory.
    /// Not given with --metadata-only or --check: every argument is then an image.
    pub model: Option<String>,

    /// Images (JPEG, PNG, WebP, GIF first frame, TIFF); none: read standard input.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<PathBuf>,

    /// Prompt for each chunk (the image lines come before it).
    #[arg(short, long, default_value = DEFAULT_PROMPT)]
    pub prompt: String,

    /// System prompt.
    #[arg(short, long)]
    pub system: Option<String>,

    /// Images per model session (numbered 1..N within it).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub chunk: u32,

    /// No model: print each image's metadata (one `image` line with --json,
    /// a table row otherwise).
    #[arg(long, conflicts_with = "check")]
    pub metadata_only: bool,

    /// No model: decode each image as the model would get it (orientation
    /// applied, reduced to --max-pixels) and report its size, to find the
    /// files a long run would stumble on.
    #[arg(long)]
    pub check: bool,

    /// Keep the GPS position out of the prompt and the output.
    #[arg(long)]
    pub no_location: bool,

    /// Keep GPS, date, camera and lens out of the output, and the image lines
    /// out of the prompt: the model sees the prompt and the images alone.
    #[arg(long)]
    pub no_metadata: bool,

    /// Largest decoded image in pixels; larger photos are reduced while
    /// decoding (JPEG by its DCT: memory stays bounded).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pixels: u64,

    /// Emit NDJSON: `image` lines (--metadata-only, --check) or `chunk` lines,
    /// errors, then a summary.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub sampling: Sampling,

    /// Load even when the memory gate says the model will not fit.
    #[arg(long)]
    pub force: bool,

    /// Print speed and peak memory on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Cache directory to read instead of the environment's.
    #[arg(long, value_name = "DIR", env = "HF_HUB_CACHE", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,

    /// Print the man page or a shell completion script.
    #[arg(long, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

impl Args {
    /// No model is needed.
    pub fn without_model(&self) -> bool {
        self.metadata_only || self.check
    }

    /// The model named on the command line: the first argument, unless no
    /// model is needed or it is a file (an image: the cache's one vision
    /// model is used).
    pub fn model_spec(&self) -> Option<String> {
        self.model
            .clone()
            .filter(|m| !self.without_model() && !Path::new(m).is_file())
    }

    /// The images named on the command line (the model slot is an image
    /// when it names no model).
    pub fn image_args(&self) -> Vec<PathBuf> {
        let first = self
            .model
            .clone()
            .filter(|_| self.model_spec().is_none())
            .map(PathBuf::from);
        first
            .into_iter()
            .chain(self.images.iter().cloned())
            .collect()
    }
}

pub fn command() -> clap::Command {
    Args::command()
}
