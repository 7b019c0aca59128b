//! `btmirror feed check URL`: a dry run of a feed, printing every link it finds and what a
//! `[[feed]]` with the same `match` and `keep` would do with it.

use std::fmt::Write as _;

use anyhow::Context as _;
use feed::parse::{LinkKind, Parsed};
use feed::{Fetcher, Keep, PlanEntry};

use crate::cli::FeedCheckArgs;

/// Fetches and parses the feed once, writes nothing, prints the plan.
pub async fn check(args: FeedCheckArgs) -> anyhow::Result<()> {
    let agent = concat!("btmirror/", env!("CARGO_PKG_VERSION"));
    let client = Fetcher::new(agent).map_err(|e| anyhow::anyhow!(feed::error_chain(&e)))?;
    let keep = args.keep.map_or(Keep::All, |n| {
        Keep::Newest(usize::try_from(n).unwrap_or(usize::MAX))
    });
    let url = url::Url::parse(&args.url)
        .map_err(|e| crate::exit::UsageError::new(format!("{:?}: {e}", args.url)))?;
    let (parsed, plan) = feed::plan(&client, &url, args.match_glob.as_deref(), keep)
        .await
        .map_err(|e| anyhow::anyhow!(feed::error_chain(&e)))
        .with_context(|| format!("feed {url}"))?;
    let text = format_plan(&url, &parsed, &plan);
    outln!("{}", text.trim_end());
    Ok(())
}

/// `take`/`skip` lines, one per link, then a summary line.
fn format_plan(url: &url::Url, parsed: &Parsed, plan: &[PlanEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{url}: {} with {} {}",
        parsed.kind,
        parsed.links.len(),
        if parsed.links.len() == 1 {
            "link"
        } else {
            "links"
        }
    );
    for e in plan {
        let what = match e.link.kind {
            LinkKind::Torrent => "torrent",
            LinkKind::Magnet => "magnet",
            _ => "other",
        };
        let _ = writeln!(
            out,
            "{}  {what:<7}  {}  ({})  {}",
            if e.taken { "take" } else { "skip" },
            e.link.name,
            e.why,
            e.link.url
        );
    }
    let taken = plan.iter().filter(|e| e.taken).count();
    let _ = writeln!(
        out,
        "{taken} taken, {} left; nothing written (dry run)",
        plan.len() - taken
    );
    out
}
