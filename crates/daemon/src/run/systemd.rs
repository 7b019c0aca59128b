//! systemd's notification protocol (sd_notify(3)) for `Type=notify` units: `READY=1`,
//! `STATUS=`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1`, `ERRNO=`. Without `NOTIFY_SOCKET`
//! every call is a no-op; a failure to notify is logged at debug level and otherwise ignored.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::UsageError;

/// Sends `states`, ignoring failures (logged at debug level).
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// Whether a service manager listens (so building a status line is worth it).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=` line.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC` (as `Type=notify-reload` requires).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// `WATCHDOG=1`.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when the watchdog is on for us.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .map(|d| d / 2)
        .filter(|d| !d.is_zero())
}

/// `ERRNO=` for a start-up failure: the OS error in its chain, `EINVAL` for bad usage or
/// configuration, else `EIO`.
pub fn errno(err: &anyhow::Error) {
    send(&[NotifyState::Errno(errno_of(err))]);
}

fn errno_of(err: &anyhow::Error) -> u32 {
    let os = err.chain().find_map(|e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
    });
    let code = match os {
        Some(code) => code,
        None if err.chain().any(|e| e.is::<UsageError>()) => libc::EINVAL,
        None => libc::EIO,
    };
    u32::try_from(code).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn errno_from_the_chain() {
        let io = std::io::Error::from_raw_os_error(libc::EADDRINUSE);
        let e = Err::<(), _>(io).context("listening").unwrap_err();
        assert_eq!(errno_of(&e), libc::EADDRINUSE as u32);
        let e = anyhow::Error::new(UsageError::new("bad key"));
        assert_eq!(errno_of(&e), libc::EINVAL as u32);
        assert_eq!(errno_of(&anyhow::anyhow!("x")), libc::EIO as u32);
    }
}
