//! `btmirror-gen-docs OUTDIR`: writes the man pages and shell completions of `btmirror`,
//! generated from the very CLI definition the binary is built from
//! (`crates/btmirror/src/cli.rs` and `crates/daemon/src/units.rs`, included here by path).
//!
//! Output: `OUTDIR/man/btmirror.1` plus one page per subcommand (`btmirror-run.1`, ...), and
//! `OUTDIR/completions/{btmirror.bash,_btmirror,btmirror.fish}`.
//!
//! `cli.rs` fills `--version` and the description from the compiling crate's `CARGO_PKG_*`,
//! which here would be this tool's; so both are read from btmirror's own Cargo.toml files
//! (embedded at compile time) and set on the command before rendering.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

#[allow(dead_code, missing_docs)]
#[path = "../../../crates/daemon/src/units.rs"]
mod units;

#[allow(dead_code, missing_docs)]
#[path = "../../../crates/btmirror/src/cli.rs"]
mod cli;

/// The workspace manifest (holds `[workspace.package] version`).
const WORKSPACE_TOML: &str = include_str!("../../../Cargo.toml");
/// btmirror's manifest (holds `description`).
const CRATE_TOML: &str = include_str!("../../../crates/btmirror/Cargo.toml");

/// Hand-written sections appended to `btmirror.1`: what the CLI definition cannot say.
const MAIN_PAGE_EXTRA: &str = r#".SH SIGNALS
.TP
\fBSIGHUP\fR
\fBbtmirror run\fR reloads: it re-reads the configuration, rescans the watched directories and
reopens \fB\-\-log\-file\fR. Under \fBnohup\fR(1) the hangup of the terminal therefore arrives as a
(harmless) reload.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Every torrent announces \fIstopped\fR, resume data is flushed, and the daemon exits 0.
.SH FILES
.TP
\fI/etc/btmirror/btmirror.toml\fR
System configuration (watched directories, port, rate limits).
.TP
\fI~/.config/btmirror/btmirror.toml\fR
Per-user configuration (\fB$XDG_CONFIG_HOME\fR); when it exists it is used instead of the
system file (the system units pass \fB\-\-config\fR explicitly).
.TP
\fI/var/lib/btmirror\fR
State directory of the system service: resume data, \fIlock\fR, the DHT's saved nodes
\fIdht_nodes\fR and the control socket
\fIcontrol.sock\fR that \fBbtmirror status\fR and \fBbtmirror top\fR talk to.
.TP
\fI~/.local/state/btmirror\fR
State directory of a non-root daemon (\fB$XDG_STATE_HOME/btmirror\fR).
.TP
\fI/etc/default/btmirror\fR
Settings of the init script (user, options, log file) when booted without systemd.
.SH ENVIRONMENT
.TP
\fBBTMIRROR_CONFIG\fR
Configuration file used when \fB\-\-config\fR is not given.
.TP
\fBSTATE_DIRECTORY\fR
State directory, set by systemd's \fBStateDirectory=\fR.
.TP
\fBBTMIRROR_LOG\fR
Log filter, e.g. \fIdebug\fR or \fIengine=debug,info\fR.
.TP
\fBBTMIRROR_DHT_BOOTSTRAP\fR
DHT bootstrap nodes, a comma-separated \fIhost:port\fR list, instead of the configuration's
\fBdht_bootstrap\fR and the default public routers; empty means none.
\fB\-\-dht\-bootstrap\fR wins.
.SH EXAMPLES
Mirror a directory as the system service:
.PP
.nf
    sudo cp debian\-12.iso.torrent /var/lib/btmirror/mirror/
    systemctl status btmirror
.fi
.PP
One service instance per extra directory:
.PP
.nf
    sudo systemctl enable \-\-now "btmirror@$(systemd\-escape \-\-path /srv/iso)"
.fi
.PP
Without root:
.PP
.nf
    nohup btmirror run ~/mirror \-\-log\-file ~/.local/state/btmirror/log >/dev/null 2>&1 &
    btmirror status
.fi
.SH SEE ALSO
\fBbtmirror\-run\fR(1), \fBbtmirror\-get\fR(1), \fBbtmirror\-status\fR(1), \fBsystemctl\fR(1),
\fBsystemd\-escape\fR(1), \fBnohup\fR(1)
"#;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: btmirror-gen-docs OUTDIR");
        return ExitCode::from(2);
    };
    match metadata().and_then(|(version, about)| generate(Path::new(&out), &version, &about)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("btmirror-gen-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// btmirror's version (from `[workspace.package]`) and description (from its manifest).
fn metadata() -> io::Result<(String, String)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let workspace: toml::Table =
        toml::from_str(WORKSPACE_TOML).map_err(|e| bad(&format!("Cargo.toml: {e}")))?;
    let krate: toml::Table =
        toml::from_str(CRATE_TOML).map_err(|e| bad(&format!("crates/btmirror/Cargo.toml: {e}")))?;
    let version = workspace
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| bad("Cargo.toml has no [workspace.package] version"))?;
    let about = krate
        .get("package")
        .and_then(|p| p.get("description"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| bad("crates/btmirror/Cargo.toml has no package.description"))?;
    Ok((version.to_owned(), about.to_owned()))
}

/// Writes every man page and completion script under `out`.
fn generate(out: &Path, version: &str, about: &str) -> io::Result<()> {
    let cmd = cli::Cli::command()
        .version(version.to_owned())
        .about(about.to_owned());

    let man_dir = out.join("man");
    fs::create_dir_all(&man_dir)?;
    let mut man_cmd = cmd.clone().disable_help_subcommand(true);
    man_cmd.build();
    write_main_page(&man_cmd, &man_dir, version)?;
    for sub in man_cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut buf = Vec::new();
        let man = man_page(sub, version);
        man.render(&mut buf)?;
        buf.extend_from_slice(reference_sections(sub.get_name()).as_bytes());
        write(&man_dir.join(man.get_filename()), &buf)?;
        // Nested commands (`btmirror feed check`) get pages of their own: btmirror-feed-check(1).
        for nested in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut buf = Vec::new();
            let man = man_page(nested, version);
            man.render(&mut buf)?;
            write(&man_dir.join(man.get_filename()), &buf)?;
        }
    }

    let comp_dir = out.join("completions");
    fs::create_dir_all(&comp_dir)?;
    let mut cmd = cmd;
    for (shell, file) in [
        (Shell::Bash, "btmirror.bash"),
        (Shell::Zsh, "_btmirror"),
        (Shell::Fish, "btmirror.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "btmirror", &mut buf);
        write(&comp_dir.join(file), &buf)?;
    }
    Ok(())
}

/// The contract's reference page: config keys, status JSON, control protocol.
const REFERENCE: &str = include_str!("../../../docs/reference.md");

/// Sections of `docs/reference.md` appended to a subcommand's page: the config keys (with
/// their defaults) to `btmirror-run(1)`, the status JSON and control protocol to
/// `btmirror-status(1)`.
fn reference_sections(subcommand: &str) -> String {
    let headings: &[(&str, &str)] = match subcommand {
        "run" => &[
            ("## Which config file", "CONFIGURATION FILE"),
            ("## Configuration keys", "CONFIGURATION KEYS"),
            ("### `[[feed]]` tables", "FEEDS"),
        ],
        "status" => &[
            ("## Status JSON", "STATUS JSON"),
            ("## Control protocol", "CONTROL PROTOCOL"),
        ],
        "feed" => &[("### `[[feed]]` tables", "FEEDS")],
        _ => &[],
    };
    let mut out = String::new();
    for (heading, title) in headings {
        out.push_str(&format!(".SH {title}\n"));
        out.push_str(&roff_of(markdown_section(heading)));
    }
    out
}

/// The lines of the reference page under `heading`, up to the next heading.
fn markdown_section(heading: &str) -> Vec<&'static str> {
    REFERENCE
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .collect()
}

/// Markdown paragraphs, tables and code blocks as roff.
fn roff_of(lines: Vec<&str>) -> String {
    let mut out = String::new();
    let mut code = false;
    for line in lines {
        if line.starts_with("```") {
            out.push_str(if code { ".fi\n" } else { ".PP\n.nf\n" });
            code = !code;
        } else if code {
            out.push_str(&escape(line));
            out.push('\n');
        } else if let Some(row) = line.strip_prefix('|') {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            if cells.len() < 3 || cells[0] == "key" || cells[0].starts_with("---") {
                continue;
            }
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR (default: {})\n{}\n",
                escape(&plain(cells[0])),
                escape(&plain(cells[1])),
                escape(&plain(cells[2]))
            ));
        } else if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else {
            out.push_str(&escape(&plain(line)));
            out.push('\n');
        }
    }
    out
}

/// Markdown inline marks removed.
fn plain(s: &str) -> String {
    s.replace(['`', '*'], "")
}

/// Text safe in roff: backslashes, hyphens, and a leading `.` or `'`.
fn escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// The man page (section 1) of `cmd`, named after its display name (`btmirror-run`, ...).
fn man_page(cmd: &clap::Command, version: &str) -> clap_mangen::Man {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_ascii_uppercase())
        .section("1")
        .source(format!("btmirror {version}"))
        .manual("btmirror manual")
}

/// `btmirror.1`: the generated sections, the after-help text as NOTES, then
/// [`MAIN_PAGE_EXTRA`] and the version.
fn write_main_page(cmd: &clap::Command, dir: &Path, version: &str) -> io::Result<()> {
    let man = man_page(cmd, version);
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    man.render_subcommands_section(&mut buf)?;
    let mut extra = Vec::new();
    man.render_extra_section(&mut extra)?;
    let extra = String::from_utf8_lossy(&extra).replacen(".SH EXTRA", ".SH NOTES", 1);
    buf.write_all(extra.as_bytes())?;
    buf.write_all(MAIN_PAGE_EXTRA.as_bytes())?;
    man.render_version_section(&mut buf)?;
    write(&dir.join(man.get_filename()), &buf)
}

/// Writes `bytes` to `path`, naming the path in the error.
fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::write(path, bytes).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
