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

/// Entry points for the `cargo fuzz` targets (`fuzz/`): parsers of outside bytes that are not
/// public otherwise. Not an API for anything else.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses `text` as a config file; `true` when it is valid.
    pub fn parse_config(text: &str) -> bool {
        crate::run::config::Config::parse(text, std::path::Path::new("fuzz.toml")).is_ok()
    }

    /// The control server's encoded answer to one request line (a client's bytes).
    pub fn control_answer(line: &[u8]) -> Vec<u8> {
        crate::control::fuzz_answer(line)
    }

    /// Whether a control answer line (the daemon's bytes, as `status` reads them) parses.
    pub fn control_parse_answer(line: &[u8]) -> bool {
        crate::control::fuzz_parse_answer(line)
    }
}

pub use error::UsageError;
pub use run::config::{
    DEFAULT_BIND, DEFAULT_DHT_BOOTSTRAP, DEFAULT_PORT, RunOptions, dht_bootstrap, find_state_dir,
};
pub use run::dht_nodes;
pub use run::{LogOutput, log_file, run};
