//! Where btmirror keeps its state and finds its configuration (design.md, "Defaults").
//!
//! The resolution rules are pure functions of an [`Env`] snapshot so they can be tested without
//! touching the process environment; [`Env::from_process`] takes the real one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::UsageError;

/// State directory of a root daemon without systemd.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/btmirror";
/// System-wide configuration file.
pub const SYSTEM_CONFIG: &str = "/etc/btmirror/btmirror.toml";
/// Name of the daemon's control socket inside the state directory.
pub const CONTROL_SOCKET: &str = "control.sock";

/// The environment values the path rules depend on.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `$STATE_DIRECTORY`, set by systemd for units with `StateDirectory=` (may be a `:` list).
    pub state_directory: Option<OsString>,
    /// `$XDG_STATE_HOME`.
    pub xdg_state_home: Option<OsString>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<OsString>,
    /// `$HOME`.
    pub home: Option<OsString>,
    /// `$BTMIRROR_CONFIG`.
    pub btmirror_config: Option<OsString>,
    /// `$BTMIRROR_DHT_BOOTSTRAP` (a comma-separated `host:port` list; empty: no node).
    pub dht_bootstrap: Option<OsString>,
    /// Whether the effective user is root.
    pub is_root: bool,
}

impl Env {
    /// Reads the current process's environment and effective uid.
    pub fn from_process() -> Self {
        Self {
            state_directory: std::env::var_os("STATE_DIRECTORY"),
            xdg_state_home: std::env::var_os("XDG_STATE_HOME"),
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME"),
            home: std::env::var_os("HOME"),
            btmirror_config: std::env::var_os("BTMIRROR_CONFIG"),
            dht_bootstrap: std::env::var_os("BTMIRROR_DHT_BOOTSTRAP"),
            is_root: nix::unistd::geteuid().is_root(),
        }
    }
}

/// An absolute path from an environment value; empty and relative values count as unset (as
/// the XDG base directory spec asks).
fn absolute(v: Option<&OsString>) -> Option<PathBuf> {
    v.map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty() && p.is_absolute())
}

/// The default state directory: `$STATE_DIRECTORY` (first entry), else `/var/lib/btmirror` for
/// root, else `$XDG_STATE_HOME/btmirror`, else `$HOME/.local/state/btmirror`.
///
/// Root comes before the XDG variables so that `sudo btmirror status` finds the system daemon.
pub fn default_state_dir(env: &Env) -> Result<PathBuf, UsageError> {
    if let Some(sd) = env.state_directory.as_ref().and_then(|v| v.to_str()) {
        if let Some(first) = sd.split(':').find(|s| !s.is_empty()) {
            return Ok(PathBuf::from(first));
        }
    } else if let Some(sd) = absolute(env.state_directory.as_ref()) {
        return Ok(sd);
    }
    if env.is_root {
        return Ok(PathBuf::from(SYSTEM_STATE_DIR));
    }
    if let Some(x) = absolute(env.xdg_state_home.as_ref()) {
        return Ok(x.join("btmirror"));
    }
    if let Some(h) = absolute(env.home.as_ref()) {
        return Ok(h.join(".local/state/btmirror"));
    }
    Err(UsageError::new(
        "cannot pick a state directory: neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME is set; pass --state-dir DIR",
    ))
}

/// `--state-dir` when given, else [`default_state_dir`].
pub fn state_dir(explicit: Option<&Path>, env: &Env) -> Result<PathBuf, UsageError> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => default_state_dir(env),
    }
}

/// The daemon's control socket inside `state_dir`.
pub fn control_socket(state_dir: &Path) -> PathBuf {
    state_dir.join(CONTROL_SOCKET)
}

/// Where a configuration file came from (for messages such as "reading config from ...").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config FILE`.
    Flag,
    /// `$BTMIRROR_CONFIG`.
    EnvVar,
    /// `/etc/btmirror/btmirror.toml`.
    System,
    /// `$XDG_CONFIG_HOME/btmirror/btmirror.toml` or `~/.config/btmirror/btmirror.toml`.
    User,
}

impl std::fmt::Display for ConfigSource {
    /// Why this file was used, as the startup log line says it: `--config`,
    /// `$BTMIRROR_CONFIG`, `system default` or `user default`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flag => "--config",
            Self::EnvVar => "$BTMIRROR_CONFIG",
            Self::System => "system default",
            Self::User => "user default",
        })
    }
}

/// Finds the configuration file: `--config`, else `$BTMIRROR_CONFIG`, else the user's
/// `$XDG_CONFIG_HOME/btmirror/btmirror.toml` (default `~/.config/...`) when readable, else
/// `/etc/btmirror/btmirror.toml` when readable, else `None`. `readable` tells whether a
/// candidate file exists and can be read.
///
/// The user's file comes first so that a plain user's daemon on a machine with the package
/// installed does not take the system's watch dirs, ports and state; the system units pass
/// `--config /etc/btmirror/btmirror.toml` explicitly.
///
/// Explicit choices (`--config`, `$BTMIRROR_CONFIG`) are returned without checking, so that a
/// missing file is reported by whoever opens it instead of being silently skipped.
pub fn find_config(
    flag: Option<&Path>,
    env: &Env,
    readable: impl Fn(&Path) -> bool,
) -> Option<(PathBuf, ConfigSource)> {
    if let Some(p) = flag {
        return Some((p.to_path_buf(), ConfigSource::Flag));
    }
    if let Some(v) = env.btmirror_config.as_ref().filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(v), ConfigSource::EnvVar));
    }
    let user_dir = absolute(env.xdg_config_home.as_ref())
        .or_else(|| absolute(env.home.as_ref()).map(|h| h.join(".config")));
    if let Some(user) = user_dir.map(|d| d.join("btmirror/btmirror.toml"))
        && readable(&user)
    {
        return Some((user, ConfigSource::User));
    }
    let system = PathBuf::from(SYSTEM_CONFIG);
    readable(&system).then_some((system, ConfigSource::System))
}

/// Whether `path` is a file this process can open for reading.
pub fn is_readable_file(path: &Path) -> bool {
    path.is_file() && std::fs::File::open(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)], is_root: bool) -> Env {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        };
        Env {
            state_directory: get("STATE_DIRECTORY"),
            xdg_state_home: get("XDG_STATE_HOME"),
            xdg_config_home: get("XDG_CONFIG_HOME"),
            home: get("HOME"),
            btmirror_config: get("BTMIRROR_CONFIG"),
            dht_bootstrap: get("BTMIRROR_DHT_BOOTSTRAP"),
            is_root,
        }
    }

    #[test]
    fn systemd_state_directory_wins() {
        let e = env(
            &[
                ("STATE_DIRECTORY", "/var/lib/btmirror-x"),
                ("HOME", "/home/u"),
            ],
            true,
        );
        assert_eq!(
            default_state_dir(&e).unwrap(),
            Path::new("/var/lib/btmirror-x")
        );
        let e = env(&[("STATE_DIRECTORY", "/a:/b")], false);
        assert_eq!(default_state_dir(&e).unwrap(), Path::new("/a"));
    }

    #[test]
    fn root_without_systemd_uses_var_lib() {
        let e = env(&[("HOME", "/root"), ("XDG_STATE_HOME", "/root/.st")], true);
        assert_eq!(default_state_dir(&e).unwrap(), Path::new(SYSTEM_STATE_DIR));
    }

    #[test]
    fn user_uses_xdg_then_home() {
        let e = env(
            &[("HOME", "/home/u"), ("XDG_STATE_HOME", "/x/state")],
            false,
        );
        assert_eq!(
            default_state_dir(&e).unwrap(),
            Path::new("/x/state/btmirror")
        );
        let e = env(
            &[("HOME", "/home/u"), ("XDG_STATE_HOME", "relative")],
            false,
        );
        assert_eq!(
            default_state_dir(&e).unwrap(),
            Path::new("/home/u/.local/state/btmirror")
        );
        let e = env(&[("HOME", "/home/u"), ("XDG_STATE_HOME", "")], false);
        assert_eq!(
            default_state_dir(&e).unwrap(),
            Path::new("/home/u/.local/state/btmirror")
        );
    }

    #[test]
    fn nothing_set_is_a_usage_error() {
        let err = default_state_dir(&env(&[], false)).unwrap_err();
        assert!(err.to_string().contains("--state-dir"), "{err}");
        let explicit = state_dir(Some(Path::new("/s")), &env(&[], false)).unwrap();
        assert_eq!(explicit, Path::new("/s"));
        assert_eq!(control_socket(&explicit), Path::new("/s/control.sock"));
    }

    #[test]
    fn config_flag_then_env_unchecked() {
        let e = env(&[("BTMIRROR_CONFIG", "/env.toml")], false);
        let none = |_: &Path| false;
        assert_eq!(
            find_config(Some(Path::new("/flag.toml")), &e, none),
            Some((PathBuf::from("/flag.toml"), ConfigSource::Flag))
        );
        assert_eq!(
            find_config(None, &e, none),
            Some((PathBuf::from("/env.toml"), ConfigSource::EnvVar))
        );
    }

    #[test]
    fn config_user_before_system() {
        // Both readable: the user's file wins (issue 15, point 1).
        let e = env(&[("HOME", "/home/u")], false);
        let user = Path::new("/home/u/.config/btmirror/btmirror.toml");
        assert_eq!(
            find_config(None, &e, |p| p == user || p == Path::new(SYSTEM_CONFIG)),
            Some((user.to_path_buf(), ConfigSource::User))
        );
        // No HOME at all: the system file is still found.
        assert_eq!(
            find_config(None, &env(&[], true), |p| p == Path::new(SYSTEM_CONFIG)),
            Some((PathBuf::from(SYSTEM_CONFIG), ConfigSource::System))
        );
    }

    #[test]
    fn config_system_then_user_when_readable() {
        let e = env(&[("HOME", "/home/u")], false);
        assert_eq!(find_config(None, &e, |_| false), None);
        assert_eq!(
            find_config(None, &e, |p| p == Path::new(SYSTEM_CONFIG)),
            Some((PathBuf::from(SYSTEM_CONFIG), ConfigSource::System))
        );
        let user = Path::new("/home/u/.config/btmirror/btmirror.toml");
        assert_eq!(
            find_config(None, &e, |p| p == user),
            Some((user.to_path_buf(), ConfigSource::User))
        );
        let e = env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/cfg")], false);
        let user = Path::new("/cfg/btmirror/btmirror.toml");
        assert_eq!(
            find_config(None, &e, |p| p == user),
            Some((user.to_path_buf(), ConfigSource::User))
        );
    }

    #[test]
    fn config_sources_say_why() {
        assert_eq!(ConfigSource::System.to_string(), "system default");
        assert_eq!(ConfigSource::User.to_string(), "user default");
        assert_eq!(ConfigSource::Flag.to_string(), "--config");
        assert_eq!(ConfigSource::EnvVar.to_string(), "$BTMIRROR_CONFIG");
    }
}
