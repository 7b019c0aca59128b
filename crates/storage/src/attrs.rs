//! BEP 47 file attributes that take effect once a torrent's data is complete: the executable
//! bit (`x`) and symlinks (`l`). Pad files (`p`) need nothing here: they are never on disk
//! (see [`crate::file_map`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use metainfo::{FileAttrs, Symlink};

use crate::error::Error;
use crate::files::Storage;

impl Storage {
    /// Applies the attributes of a completed torrent: sets the executable bits (where the read
    /// bits are set, like `chmod +x` under a umask) of every file marked `x`, and creates every
    /// symlink that is not there yet. `attrs` is `Metainfo::file_attrs` (one per file) and
    /// `symlinks` `Metainfo::symlinks`.
    ///
    /// Call it when the last piece has been written and synced (the engine, at completion).
    /// Never replaces anything already on disk and never follows a link out of the data root:
    /// what it could not do comes back as warnings; only unexpected I/O errors are errors.
    pub fn apply_attributes(
        &self,
        attrs: &[FileAttrs],
        symlinks: &[Symlink],
    ) -> Result<Vec<String>, Error> {
        let mut warnings = Vec::new();
        for (index, attr) in attrs.iter().enumerate() {
            if attr.executable && index < self.info.files.len() {
                set_executable(self.path(index), &mut warnings)?;
            }
        }
        for link in symlinks {
            self.create_symlink(link, &mut warnings)?;
        }
        Ok(warnings)
    }

    fn create_symlink(&self, link: &Symlink, warnings: &mut Vec<String>) -> Result<(), Error> {
        let Some(relative) = link_text(&link.path, &link.target) else {
            warnings.push(format!(
                "symlink {} skipped: bad target {}",
                link.path.display(),
                link.target.display()
            ));
            return Ok(());
        };
        let path = self.root().join(&link.path);
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                let same = meta.file_type().is_symlink()
                    && fs::read_link(&path).is_ok_and(|t| t == relative);
                if !same {
                    warnings.push(format!(
                        "symlink {} not created: something else is there",
                        path.display()
                    ));
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, "reading metadata of", e)),
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, "creating directory", e))?;
        }
        std::os::unix::fs::symlink(&relative, &path)
            .map_err(|e| Error::io(&path, "creating symlink", e))
    }
}

/// Adds `x` wherever `r` is set on the regular file `path`.
fn set_executable(path: &Path, warnings: &mut Vec<String>) -> Result<(), Error> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => {
            warnings.push(format!(
                "{}: not a regular file, executable bit not set",
                path.display()
            ));
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warnings.push(format!(
                "{}: missing, executable bit not set",
                path.display()
            ));
            return Ok(());
        }
        Err(e) => return Err(Error::io(path, "reading metadata of", e)),
    };
    let mode = meta.permissions().mode();
    let wanted = mode | ((mode & 0o444) >> 2);
    if wanted != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(wanted))
            .map_err(|e| Error::io(path, "setting the mode of", e))?;
    }
    Ok(())
}

/// The text of a link at `link` pointing to `target` (both relative to the data root and made
/// of normal components only): a path relative to the link's directory, or `None` when either
/// path is unusable or the link would point to itself.
fn link_text(link: &Path, target: &Path) -> Option<PathBuf> {
    let normal = |p: &Path| -> Option<Vec<PathBuf>> {
        p.components()
            .map(|c| match c {
                Component::Normal(s) => Some(PathBuf::from(s)),
                _ => None,
            })
            .collect()
    };
    let link = normal(link)?;
    let target = normal(target)?;
    if link.is_empty() || target.is_empty() || link == target {
        return None;
    }
    let dir = link.get(..link.len() - 1)?;
    let common = dir.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut text = PathBuf::new();
    for _ in common..dir.len() {
        text.push("..");
    }
    for part in target.get(common..)? {
        text.push(part);
    }
    if text.as_os_str().is_empty() {
        text.push(".");
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_text_is_relative_to_the_link_directory() {
        let t = |l: &str, t: &str| link_text(Path::new(l), Path::new(t));
        assert_eq!(t("d/l", "d/a"), Some("a".into()));
        assert_eq!(t("d/x/y/l", "d/a/b"), Some("../../a/b".into()));
        assert_eq!(t("d/x/l", "d/x"), Some(".".into()));
        assert_eq!(t("d/x/l", "d"), Some("..".into()));
        assert_eq!(t("d/l", "d/l"), None);
        assert_eq!(t("d/l", "../etc"), None);
        assert_eq!(t("d/l", "/etc"), None);
    }
}
