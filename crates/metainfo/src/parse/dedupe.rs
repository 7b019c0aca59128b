//! Renaming files whose paths collide, exactly as libtorrent 2.0 does
//! (`resolve_duplicate_filenames`), so both clients put the same torrent in the same place.
//!
//! Paths are compared ignoring ASCII case. Every directory of every file is taken first, then
//! the files in torrent order: a file whose path is already taken (by an earlier file or by a
//! directory) becomes `base.N.ext` with the smallest free `N` (`file1.txt` → `file1.1.txt`).
//! Pad files may share a path with a pad file of the same size.
//!
//! libtorrent tries `N = 1, 2, ...` each time; since names are only ever added, the search for
//! a base may start after the `N` it found last, which gives the same names in linear time.

use std::collections::{HashMap, HashSet};

use crate::Error;

/// Most failed rename attempts before the torrent is refused as hostile (libtorrent 2.0.8 has
/// no limit; with the linear search only names crafted as `x.N.ext` collide).
const MAX_COLLISIONS: usize = 100_000;

/// One file (or pad file, or symlink) as the renaming sees it.
pub(crate) struct Candidate {
    /// Its path components, the torrent name first.
    pub(crate) components: Vec<String>,
    /// True for a BEP 47 pad file.
    pub(crate) pad: bool,
    /// Its length (pad files only collide harmlessly with pad files of the same length).
    pub(crate) length: u64,
}

/// Renames colliding files in place; returns `(index, old path, new path)` for each rename.
pub(crate) fn rename_duplicates(
    files: &mut [Candidate],
) -> Result<Vec<(usize, String, String)>, Error> {
    let mut dirs: HashSet<String> = HashSet::new();
    for file in files.iter() {
        let mut dir = String::new();
        for part in file
            .components
            .iter()
            .take(file.components.len().saturating_sub(1))
        {
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(&part.to_ascii_lowercase());
            dirs.insert(dir.clone());
        }
    }
    // Taken file paths (lower-cased), with the index of the file holding each.
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut renames = Vec::new();
    let mut collisions = 0;
    // Per lower-cased `base.` prefix and extension: the `N` found last.
    let mut last_n: HashMap<(String, String), u32> = HashMap::new();
    for index in 0..files.len() {
        let Some(file) = files.get(index) else {
            continue;
        };
        let path = file.components.join("/");
        let key = path.to_ascii_lowercase();
        let holder = taken.get(&key).copied();
        if holder.is_none() && !dirs.contains(&key) {
            taken.insert(key, index);
            continue;
        }
        let harmless_pad = holder
            .and_then(|h| files.get(h))
            .is_some_and(|other| file.pad && other.pad && other.length == file.length);
        if harmless_pad {
            continue;
        }
        let last = file.components.last().cloned().unwrap_or_default();
        let (base, ext) = match last.rfind('.') {
            Some(dot) => last.split_at(dot),
            None => (last.as_str(), ""),
        };
        let prefix = path.len().saturating_sub(last.len());
        let memo_key = (
            format!("{}{base}", path.get(..prefix).unwrap_or_default()).to_ascii_lowercase(),
            ext.to_ascii_lowercase(),
        );
        let mut n = last_n.get(&memo_key).copied().unwrap_or(0);
        let new_last = loop {
            n = n.saturating_add(1);
            let candidate = format!("{base}.{n}{ext}");
            let full = format!("{}{candidate}", path.get(..prefix).unwrap_or_default());
            let lower = full.to_ascii_lowercase();
            if !taken.contains_key(&lower) && !dirs.contains(&lower) {
                taken.insert(lower, index);
                last_n.insert(memo_key, n);
                break candidate;
            }
            collisions += 1;
            if collisions > MAX_COLLISIONS {
                return Err(Error::invalid(
                    "info.files",
                    format!("more than {MAX_COLLISIONS} colliding file names"),
                ));
            }
        };
        if let Some(file) = files.get_mut(index)
            && let Some(slot) = file.components.last_mut()
        {
            *slot = new_last;
            renames.push((index, path, file.components.join("/")));
        }
    }
    Ok(renames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(paths: &[&str]) -> Vec<Candidate> {
        paths
            .iter()
            .map(|p| Candidate {
                components: p.split('/').map(str::to_owned).collect(),
                pad: false,
                length: 1,
            })
            .collect()
    }

    fn paths(files: &[Candidate]) -> Vec<String> {
        files.iter().map(|f| f.components.join("/")).collect()
    }

    #[test]
    fn duplicates_get_numbered_before_the_extension() {
        let mut f = candidates(&["t/file1.txt", "t/file2.mkv", "t/file1.txt", "t/FILE1.txt"]);
        let renames = rename_duplicates(&mut f).unwrap();
        assert_eq!(
            paths(&f),
            [
                "t/file1.txt",
                "t/file2.mkv",
                "t/file1.1.txt",
                "t/FILE1.2.txt"
            ]
        );
        assert_eq!(renames.len(), 2);
        assert_eq!(
            renames[0],
            (2, "t/file1.txt".into(), "t/file1.1.txt".into())
        );
    }

    #[test]
    fn a_file_named_like_a_directory_is_renamed_wherever_it_comes() {
        let mut f = candidates(&["t/a", "t/a/b", "t/noext", "t/noext", "t/a.1"]);
        rename_duplicates(&mut f).unwrap();
        assert_eq!(
            paths(&f),
            ["t/a.1", "t/a/b", "t/noext", "t/noext.1", "t/a.1.1"]
        );
    }

    #[test]
    fn equal_pad_files_may_share_a_path() {
        let mut f = candidates(&["t/.pad/3", "t/.pad/3", "t/.pad/3"]);
        f[0].pad = true;
        f[1].pad = true;
        assert!(rename_duplicates(&mut f).unwrap().len() == 1);
        assert_eq!(paths(&f)[2], "t/.pad/3.1");
    }

    #[test]
    fn many_duplicates_take_linear_time_and_the_names_libtorrent_gives() {
        let many: Vec<&str> = std::iter::repeat_n("t/foo/bar.txt", 20_000).collect();
        let mut f = candidates(&many);
        assert_eq!(rename_duplicates(&mut f).unwrap().len(), 19_999);
        assert_eq!(paths(&f)[1], "t/foo/bar.1.txt");
        assert_eq!(paths(&f)[19_999], "t/foo/bar.19999.txt");
        // A name taken ahead of time is skipped, as libtorrent's search from 1 would.
        let mut f = candidates(&["t/a.txt", "t/a.2.txt", "t/a.txt", "t/a.txt", "t/a.txt"]);
        rename_duplicates(&mut f).unwrap();
        assert_eq!(
            paths(&f),
            [
                "t/a.txt",
                "t/a.2.txt",
                "t/a.1.txt",
                "t/a.3.txt",
                "t/a.4.txt"
            ]
        );
    }
}
