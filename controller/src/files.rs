//! Writing a file the safe way for a root daemon in shared directories.

use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _, path::Path};

/// Writes `text` to a new file of its own beside `path` (mode 0600, never a
/// file or symlink someone else put there: `O_EXCL`, `O_NOFOLLOW`) and
/// renames it over `path`, so `path` is either the old file or the whole new
/// one, and nothing is ever written through a link.
pub fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    replace_with(path, |f| f.write_all(text.as_bytes()))
}

/// The same, the new file's bytes written by `write` (buffered): a large
/// text need not be made whole in memory first (the state record of 16,000
/// masters is a megabyte, and a growing `String` takes up to twice that).
pub fn replace_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.{nanos}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let mut out = std::io::BufWriter::new(f);
    let written = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
