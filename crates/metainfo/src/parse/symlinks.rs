//! Where a BEP 47 symlink points. Like libtorrent (`sanitize_symlinks`), a target must name a
//! file, symlink or directory of the torrent: first read relative to the torrent's root, then
//! (for old torrents) relative to the link's own directory. Anything else is skipped, so a link
//! never points outside the torrent or at nothing. A target may go through another link of the
//! torrent that points to a directory (`Headers -> Versions/Current/Headers`, with
//! `Versions/Current -> A`).

use std::collections::{HashMap, HashSet};

/// How many links deep a target is followed.
const MAX_HOPS: usize = 8;

/// The paths of a torrent a symlink may point to (components, the torrent name first).
pub(crate) struct Targets {
    /// Files and symlinks.
    entries: HashSet<Vec<String>>,
    /// Every directory holding any of them.
    dirs: HashSet<Vec<String>>,
}

impl Targets {
    /// The possible targets among `paths` (files and symlinks, not pad files).
    pub(crate) fn new<'a>(paths: impl Iterator<Item = &'a [String]>) -> Self {
        let mut entries = HashSet::new();
        let mut dirs = HashSet::new();
        for path in paths {
            for end in 1..path.len() {
                if let Some(dir) = path.get(..end) {
                    dirs.insert(dir.to_vec());
                }
            }
            entries.insert(path.to_vec());
        }
        Self { entries, dirs }
    }

    /// For each `(link, target elements)` (the target relative and already sanitised): what it
    /// points to, or `None` when it names nothing of the torrent (or only itself).
    pub(crate) fn resolve_all(
        &self,
        name: &str,
        links: &[(&[String], &[String])],
    ) -> Vec<Option<Vec<String>>> {
        let mut resolved: Vec<Option<Vec<String>>> = vec![None; links.len()];
        let mut by_link: HashMap<Vec<String>, Vec<String>> = HashMap::new();
        // Each pass can only resolve links through links resolved before it.
        for _ in 0..=links.len().min(MAX_HOPS) {
            let mut progress = false;
            for (slot, (link, target)) in resolved.iter_mut().zip(links) {
                if slot.is_some() {
                    continue;
                }
                if let Some(t) = self.resolve(name, link, target, &by_link) {
                    by_link.insert(link.to_vec(), t.clone());
                    *slot = Some(t);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        resolved
    }

    /// The first reading of `target` (from the root, then from the link's directory) that
    /// names something of the torrent, possibly through the already resolved `links`.
    fn resolve(
        &self,
        name: &str,
        link: &[String],
        target: &[String],
        links: &HashMap<Vec<String>, Vec<String>>,
    ) -> Option<Vec<String>> {
        let from_root: Vec<String> = std::iter::once(name.to_owned())
            .chain(target.iter().cloned())
            .collect();
        let link_dir = link.get(..link.len().saturating_sub(1)).unwrap_or_default();
        let from_link: Vec<String> = link_dir.iter().chain(target).cloned().collect();
        [from_root, from_link]
            .into_iter()
            .find(|t| t.as_slice() != link && self.exists(t, links))
    }

    /// Whether `path` names a file, link or directory, following links to directories.
    fn exists(&self, path: &[String], links: &HashMap<Vec<String>, Vec<String>>) -> bool {
        let mut path = path.to_vec();
        for _ in 0..MAX_HOPS {
            if self.entries.contains(&path) || self.dirs.contains(&path) {
                return true;
            }
            // Replace the longest prefix that is a resolved link by what it points to.
            let hop = (1..path.len()).rev().find_map(|end| {
                let target = links.get(path.get(..end)?)?;
                Some(target.iter().chain(path.get(end..)?).cloned().collect())
            });
            match hop {
                Some(next) => path = next,
                None => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(p: &str) -> Vec<String> {
        p.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn targets_resolve_from_the_root_then_from_the_link() {
        let paths = [
            v("t/a/SDL2"),
            v("t/Versions/A/SDL2"),
            v("t/Versions/Current"),
        ];
        let targets = Targets::new(paths.iter().map(Vec::as_slice));
        let r = |link: &str, target: &str| {
            let (link, target) = (v(link), v(target));
            targets.resolve_all("t", &[(&link, &target)]).remove(0)
        };
        assert_eq!(r("t/SDL2", "Versions/A/SDL2"), Some(v("t/Versions/A/SDL2")));
        // `Versions/Current -> A` is relative to the link's directory.
        assert_eq!(r("t/Versions/Current", "A"), Some(v("t/Versions/A")));
        assert_eq!(r("t/Versions/Current", "Versions/Current"), None);
        assert_eq!(r("t/x", "nothing"), None);
        assert_eq!(r("t/x", "Versions"), Some(v("t/Versions")));
    }

    #[test]
    fn targets_may_go_through_links_to_directories_in_any_order() {
        let paths = [
            v("t/Headers"),
            v("t/Versions/A/Headers/SDL.h"),
            v("t/Versions/Current"),
            v("t/loop1"),
            v("t/loop2"),
        ];
        let targets = Targets::new(paths.iter().map(Vec::as_slice));
        let links = [
            (v("t/Headers"), v("Versions/Current/Headers")),
            (v("t/Versions/Current"), v("A")),
            (v("t/loop1"), v("loop2/x")),
            (v("t/loop2"), v("loop1/x")),
        ];
        let pairs: Vec<(&[String], &[String])> = links
            .iter()
            .map(|(l, t)| (l.as_slice(), t.as_slice()))
            .collect();
        let got = targets.resolve_all("t", &pairs);
        assert_eq!(got[0], Some(v("t/Versions/Current/Headers")));
        assert_eq!(got[1], Some(v("t/Versions/A")));
        assert_eq!(got[2], None);
        assert_eq!(got[3], None);
    }
}
