//! `btmirror top`: a live full-screen readout of a running daemon (the seed's
//! btlaunchmanycurses), refreshed every second over the control socket.
//!
//! A poller task asks the daemon once a second and sends each answer (or failure) to the
//! screen loop, which redraws on new data, keys and resizes. When the daemon goes away the
//! screen says so, keeps the last figures, and picks up again when it answers. The terminal is
//! restored on every way out: `q`, Ctrl-C, SIGTERM/SIGINT (the shutdown token), an error, and a
//! panic (a hook restores it before the panic message is printed).

mod model;
mod render;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use crossterm::event::{Event, EventStream};
use crossterm::{cursor, execute, terminal};
use daemon::control::protocol::StatusReport;
use daemon::{control, paths};
use futures_util::StreamExt as _;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::TopArgs;
use crate::exit::UsageError;
use model::{Action, Link, View};

/// How often the daemon is asked.
const REFRESH: Duration = Duration::from_secs(1);
/// Longest wait for one answer before the daemon counts as gone.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long "reconnected" stays on screen.
const RECONNECTED_FOR: Duration = Duration::from_secs(5);

/// `btmirror top`: runs the full-screen readout until `q`, Ctrl-C or `shutdown`.
pub async fn run(args: TopArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let env = paths::Env::from_process();
    let (state_dir, _) =
        daemon::find_state_dir(args.state_dir.as_deref(), args.config.as_deref(), &env)?;
    let socket = paths::control_socket(&state_dir);
    if !std::io::stdout().is_terminal() {
        return Err(UsageError::new(
            "`btmirror top` needs a terminal on stdout; use `btmirror status` (or --json) in scripts",
        )
        .into());
    }
    let (tx, rx) = mpsc::channel(4);
    let poller_stop = shutdown.child_token();
    tokio::spawn(poll(socket.clone(), tx, poller_stop.clone()));
    let result = show(&socket.display().to_string(), rx, &shutdown).await;
    poller_stop.cancel();
    result
}

/// The full-screen readout over any source of reports (the daemon's socket for `top`, one
/// torrent of `btmirror get --tui`), until `q`, Ctrl-C or `shutdown`. `source` names where the
/// reports come from in the footer.
pub async fn show(
    source: &str,
    answers: mpsc::Receiver<Result<StatusReport, String>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let guard = TerminalGuard::enter()?;
    let result = screen_loop(source, answers, shutdown).await;
    drop(guard);
    result
}

/// Asks the daemon every [`REFRESH`] and sends the outcome until the receiver is gone.
async fn poll(
    socket: PathBuf,
    tx: mpsc::Sender<Result<StatusReport, String>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let answer = match tokio::time::timeout(QUERY_TIMEOUT, control::query(&socket)).await {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(_) => Err(format!("no answer within {}s", QUERY_TIMEOUT.as_secs())),
        };
        if tx.send(answer).await.is_err() {
            return;
        }
    }
}

/// The screen's state between redraws.
struct Screen {
    report: Option<StatusReport>,
    link: Link,
    reconnected_at: Option<Instant>,
    view: View,
}

impl Screen {
    /// Takes in one poll outcome.
    fn update(&mut self, answer: Result<StatusReport, String>) {
        match answer {
            Ok(report) => {
                if matches!(self.link, Link::Lost(_)) && self.report.is_some() {
                    self.link = Link::Reconnected;
                    self.reconnected_at = Some(Instant::now());
                } else if self.link != Link::Reconnected
                    || self
                        .reconnected_at
                        .is_none_or(|t| t.elapsed() >= RECONNECTED_FOR)
                {
                    self.link = Link::Live;
                }
                self.report = Some(report);
            }
            Err(why) => self.link = Link::Lost(why),
        }
    }
}

/// Draws and reacts until quit or shutdown.
async fn screen_loop(
    shown: &str,
    mut answers: mpsc::Receiver<Result<StatusReport, String>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let backend = CrosstermBackend::new(std::io::stdout());
    let mut term = Terminal::new(backend).context("opening the terminal")?;
    term.clear().context("clearing the terminal")?;
    let mut screen = Screen {
        report: None,
        link: Link::Connecting,
        reconnected_at: None,
        view: View::default(),
    };
    let mut events = EventStream::new();
    loop {
        term.draw(|f| {
            render::draw(
                f,
                screen.report.as_ref(),
                &screen.link,
                &mut screen.view,
                shown,
            );
        })
        .context("drawing the screen")?;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            answer = answers.recv() => match answer {
                Some(a) => screen.update(a),
                // The poller stops with the shutdown token: that is a normal way out.
                None if shutdown.is_cancelled() => return Ok(()),
                None => anyhow::bail!("the status poller stopped"),
            },
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    let rows = screen.report.as_ref().map_or(0, |r| screen.view.rows(r).len());
                    if screen.view.on_key(key, rows) == Action::Quit {
                        return Ok(());
                    }
                }
                Some(Ok(Event::Resize(..))) => {
                    term.autoresize().context("resizing")?;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading the terminal")),
                None => return Ok(()),
            },
        }
    }
}

/// Raw mode plus the alternate screen while alive; restores the terminal on drop and on panic.
struct TerminalGuard;

impl TerminalGuard {
    /// Switches the terminal to full-screen mode and installs the panic hook.
    fn enter() -> anyhow::Result<Self> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
        let guard = Self;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .context("switching to the alternate screen")?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor and ends raw mode; safe to call twice.
fn restore() {
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

#[cfg(test)]
mod tests;
