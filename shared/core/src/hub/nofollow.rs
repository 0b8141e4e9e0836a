//! Writing into a cache that others may write too, without following a link
//! we did not make.
//!
//! A cache on a lab Mac, a network volume or a container mount can hold
//! links planted by someone else: `blobs/` pointing at a home folder,
//! `blobs/<etag>.incomplete` pointing at a file to overwrite. So:
//!
//! - every folder a pull writes into is checked component by component with
//!   `symlink_metadata` below the repository (or cache) folder; a link found
//!   there is reported, removed (removing a link never touches its target)
//!   and replaced by a real folder;
//! - files are opened with `O_NOFOLLOW`, and new ones created with
//!   `O_EXCL`, so a link in the last component is an error, never a write;
//! - a partial file that is not ours alone (another owner, a second hard
//!   link) is set aside and started afresh.
//!
//! The cache root itself may be a link (`~/.cache/huggingface/hub` on another
//! volume is common): only what lies below it is checked. A writer racing
//! these checks at the same moment is out of scope (see docs/pull.md).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::HubError;

/// Told about every planted link (or foreign file) that was replaced.
pub type Note<'a> = &'a dyn Fn(&Path, &str);

/// A note that drops what it is told (for callers with nowhere to report).
pub fn ignore(_: &Path, _: &str) {}

/// Makes `base/rel` a chain of real folders: each component below `base` is
/// created when missing, and a link planted in its place is replaced.
pub fn real_dir(base: &Path, rel: &Path, note: Note) -> Result<PathBuf, HubError> {
    let mut dir = base.to_path_buf();
    if fs::metadata(base).is_err() {
        fs::create_dir_all(base).map_err(|e| HubError::io(base, e))?;
    }
    for part in rel.components() {
        let Component::Normal(name) = part else {
            return Err(HubError::UnsafePath(rel.display().to_string()));
        };
        dir.push(name);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => continue,
            Ok(m) if m.file_type().is_symlink() => {
                note(
                    &dir,
                    "a symbolic link planted where a folder belongs; replaced",
                );
                fs::remove_file(&dir).map_err(|e| HubError::io(&dir, e))?;
            }
            Ok(_) => {
                return Err(HubError::Invalid(format!(
                    "{} is not a folder (the cache is damaged; remove it)",
                    dir.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(HubError::io(&dir, e)),
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            // Another pull made it in between: check it again.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                    return Err(HubError::io(&dir, e));
                }
            }
            Err(e) => return Err(HubError::io(&dir, e)),
        }
    }
    Ok(dir)
}

/// Whether every component of `rel` below `base` is a real folder (no link).
pub fn is_real_dir(base: &Path, rel: &Path) -> bool {
    let mut dir = base.to_path_buf();
    rel.components().all(|part| {
        let Component::Normal(name) = part else {
            return false;
        };
        dir.push(name);
        fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
    })
}

fn flags() -> i32 {
    // O_NONBLOCK: a FIFO planted in the cache must not hang the open.
    libc::O_NOFOLLOW | libc::O_NONBLOCK
}

/// Opens an existing file to read, never through a link.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(flags())
        .open(path)
}

/// Opens an existing file to read and write, never through a link.
pub fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags())
        .open(path)
}

/// Creates a new file (`O_EXCL`): fails if anything, a link included, is there.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(flags())
        .mode(0o644)
        .open(path)
}

/// The error `open` gives for a link in the last component with `O_NOFOLLOW`.
pub fn is_link_error(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EMLINK)
}

/// Creates `path` afresh: whatever is there (a planted link, a stale file)
/// is reported when it is a link, removed, and a new file made with `O_EXCL`.
pub fn create_fresh(path: &Path, note: Note) -> Result<File, HubError> {
    match fs::symlink_metadata(path) {
        Ok(m) => {
            if m.file_type().is_symlink() {
                note(path, "a symbolic link planted in the cache; replaced");
            }
            if m.is_dir() {
                return Err(HubError::Invalid(format!(
                    "{} is a folder (the cache is damaged; remove it)",
                    path.display()
                )));
            }
            fs::remove_file(path).map_err(|e| HubError::io(path, e))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(HubError::io(path, e)),
    }
    create_new(path).map_err(|e| HubError::io(path, e))
}

/// Opens a partial download to go on with it, if it is ours alone: a
/// regular file, one link, owned by us. Anything else (a planted link, a
/// hard link to some other file, a file of another user) is replaced by a
/// new empty file.
pub fn open_partial(path: &Path, note: Note) -> Result<File, HubError> {
    match open_rw(path) {
        Ok(file) => {
            let meta = file.metadata().map_err(|e| HubError::io(path, e))?;
            if meta.is_file() && meta.nlink() == 1 && meta.uid() == euid() {
                return Ok(file);
            }
            drop(file);
            note(
                path,
                "a partial file that is not ours alone (another owner, a hard link or not a file); started afresh",
            );
            create_fresh(path, &ignore)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_new(path).map_err(|e| HubError::io(path, e))
        }
        Err(e) if is_link_error(&e) => create_fresh(path, note),
        Err(e) => Err(HubError::io(path, e)),
    }
}

/// A file only we could have written: a regular file with one link, owned
/// by us, writable by nobody else. Nobody but us (or root) can make one, so
/// a blob like this that has the right size was put there by a verified
/// write of ours and needs no re-reading.
pub fn ours_alone(meta: &Metadata) -> bool {
    meta.file_type().is_file()
        && meta.nlink() == 1
        && meta.uid() == euid()
        && meta.permissions().mode() & 0o022 == 0
}

/// Takes write permission from group and others (on the open file, so no
/// link is followed): what marks a blob as verified.
pub fn seal(file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        file.set_permissions(fs::Permissions::from_mode(mode & !0o022))?;
    }
    Ok(())
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn planted_folder_links_are_replaced_and_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let repo = tmp.path().join("repo");
        fs::create_dir(&repo).unwrap();
        symlink(&outside, repo.join("blobs")).unwrap();
        assert!(!is_real_dir(&repo, Path::new("blobs")));
        let seen = RefCell::new(Vec::new());
        let note = |p: &Path, _: &str| seen.borrow_mut().push(p.to_path_buf());
        let dir = real_dir(&repo, Path::new("blobs/sub"), &note).unwrap();
        assert_eq!(dir, repo.join("blobs/sub"));
        assert!(fs::symlink_metadata(repo.join("blobs")).unwrap().is_dir());
        assert!(is_real_dir(&repo, Path::new("blobs/sub")));
        assert_eq!(*seen.borrow(), [repo.join("blobs")]);
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn partial_files_through_links_are_never_written() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let part = tmp.path().join("x.incomplete");
        symlink(&victim, &part).unwrap();
        let file = open_partial(&part, &ignore).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 0);
        assert!(!fs::symlink_metadata(&part)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");

        // A hard link to the victim is not ours alone either.
        fs::remove_file(&part).unwrap();
        fs::hard_link(&victim, &part).unwrap();
        let file = open_partial(&part, &ignore).unwrap();
        assert_eq!(file.metadata().unwrap().nlink(), 1);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");

        // A new file refuses a link planted at its name.
        let fresh = tmp.path().join("fresh");
        symlink(&victim, &fresh).unwrap();
        assert!(create_new(&fresh).is_err());
        assert!(is_link_error(&open_read(&fresh).unwrap_err()));
    }

    #[test]
    fn sealed_files_are_ours_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("blob");
        let file = create_new(&path).unwrap();
        file.set_permissions(fs::Permissions::from_mode(0o664))
            .unwrap();
        assert!(!ours_alone(&fs::symlink_metadata(&path).unwrap()));
        seal(&file).unwrap();
        assert!(ours_alone(&fs::symlink_metadata(&path).unwrap()));
        fs::hard_link(&path, tmp.path().join("second")).unwrap();
        assert!(!ours_alone(&fs::symlink_metadata(&path).unwrap()));
    }
}
