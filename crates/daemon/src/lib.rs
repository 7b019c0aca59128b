//! The headless mirroring daemon behind `btmirror run` (design.md, "The daemon"): it watches the
//! configured directories of `.torrent` files, reconciles them with one engine [`Session`]
//! (seeding what is there, downloading what is missing), keeps resume data, and answers the
//! control socket and the metrics endpoint.
//!
//! Dependencies: `engine`, `metainfo` and `storage` below it, plus the host (file system, unix
//! sockets, signals, inotify, systemd notify, HTTP for metrics). It knows no terminal and no
//! command line: the binary parses arguments into [`RunOptions`], sets up logging behind
//! [`LogOutput`], and turns a [`UsageError`] into exit code 2. Nothing here depends on the
//! binary crate.
//!
//! [`Session`]: engine::Session

pub mod control;
mod error;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod metrics;
pub mod paths;
mod run;
pub mod units;

pub use error::UsageError;
pub use run::config::{DEFAULT_BIND, DEFAULT_PORT, RunOptions, find_state_dir};
pub use run::{LogOutput, log_file, run};
