//! Downloads from the Hugging Face Hub into the hub cache (mlxk-pull), and
//! uploads a workspace folder to it (mlxk-push).
//!
//! One concern per module:
//! - [`config`]: endpoint, token, offline mode and timeouts from the environment;
//! - [`client`]: the Hub's HTTP protocol (repo info, tree, HEAD/GET resolve)
//!   and how its errors map to `access_denied` / `not_found`;
//! - [`retry`]: exponential backoff and the read-stall timeout;
//! - [`download`]: one blob: `blobs/<etag>.incomplete`, `Range` resume,
//!   size and hash verification, rename into place;
//! - [`lock`]: the per-blob file locks huggingface_hub also takes
//!   (`$HF_HUB_CACHE/.locks/models--org--name/<etag>.lock`);
//! - [`layout`]: snapshot symlinks, `trees/<commit>.json`, `refs/<branch>`;
//! - [`filter`]: `--include` / `--exclude` globs and the MLX default set;
//! - [`pull`]: one repository from preflight to health check;
//! - [`import`]: a local folder written into the cache the way a pull writes it;
//! - [`progress`]: the reporter trait the binary draws bars or NDJSON with;
//! - [`nofollow`]: writing into a cache others may write, never through a
//!   link we did not make;
//! - [`trust`]: which blob already in the cache is used without reading it.
//!
//! Pushing (the LFS protocol huggingface_hub speaks with Xet off):
//! - [`folder`]: the regular files of a folder, links and FIFOs skipped;
//! - [`workspace`]: which files of a folder go, `.hfignore`, its health;
//! - [`hash_cache`]: sha256 / git sha1 kept beside the workspace;
//! - [`plan`]: added, changed, deleted, unchanged against the remote tree;
//! - [`commit`]: create repo and branch, preupload, the NDJSON commit;
//! - [`lfs`]: the LFS batch, basic and multipart transfers, verify;
//! - [`upload`]: one push from the health check to the commit.
//!
//! ```no_run
//! use mlxk_core::cache::Cache;
//! use mlxk_core::hub::{client::HubClient, config::HubConfig, filter::Filter, pull};
//! # async fn demo() {
//! let client = HubClient::new(HubConfig::from_env()).unwrap();
//! let request = pull::Request::parse("mlx-community/Qwen3-0.6B-4bit", None).unwrap();
//! let options = pull::Options { filter: Filter::mlx_default(), jobs: 4 };
//! let result = pull::pull(&client, &Cache::from_env(), &request, &options, &mlxk_core::hub::progress::Silent).await;
//! println!("{:?}", result.download_status);
//! # }
//! ```

pub mod client;
pub mod commit;
pub mod config;
pub mod download;
pub mod error;
pub mod filter;
pub mod folder;
pub mod hash_cache;
pub mod import;
pub mod layout;
pub mod lfs;
pub mod lock;
pub mod nofollow;
pub mod plan;
pub mod progress;
pub mod pull;
pub mod retry;
pub mod trust;
pub mod upload;
pub mod workspace;

pub use error::HubError;
