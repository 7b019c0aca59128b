//! Exit codes and the one error line (design.md): 0 done, 1 a runtime failure, 2 bad usage or
//! bad configuration.
//!
//! Handlers return `anyhow::Error`; a [`UsageError`] anywhere in the chain turns the exit code
//! into 2, everything else is 1. Clap's own usage errors already exit 2 before we get here.

use std::io::Write as _;
use std::process::ExitCode;

/// Exit code of a runtime failure.
pub const RUNTIME_FAILURE: u8 = 1;
/// Exit code of bad usage or bad configuration.
pub const USAGE: u8 = 2;

/// Bad usage or bad configuration: maps to exit code 2 (the daemon's configuration errors are
/// of this type too).
pub use daemon::UsageError;

/// The exit code for a failed command: 2 when a [`UsageError`] is in the chain, else 1.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) {
        USAGE
    } else {
        RUNTIME_FAILURE
    }
}

/// Prints `btmirror: error: {err:#}` as one line on stderr, control characters escaped (a
/// closed stderr is ignored), and returns the matching exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let line = format!("btmirror: error: {err:#}").replace('\n', " ") + "\n";
    // A torrent's name or a tracker's text in the error cannot drive the terminal.
    let _ = std::io::stderr()
        .lock()
        .write_all(&crate::logging::escape_controls(line.as_bytes()));
    ExitCode::from(code_for(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn usage_error_anywhere_in_chain_is_2() {
        let e = anyhow::Error::new(UsageError::new("bad --port"));
        assert_eq!(code_for(&e), USAGE);
        let wrapped = Err::<(), _>(e).context("parsing options").unwrap_err();
        assert_eq!(code_for(&wrapped), USAGE);
    }

    #[test]
    fn other_errors_are_1() {
        let e = anyhow::anyhow!("disk on fire");
        assert_eq!(code_for(&e), RUNTIME_FAILURE);
        let io = std::io::Error::other("x");
        let e = Err::<(), _>(io).context("reading a.torrent").unwrap_err();
        assert_eq!(code_for(&e), RUNTIME_FAILURE);
    }
}
