//! `track_file`: a number in a file, read again whenever the file is written
//! or replaced (keepalived 2.2.7 `trackers/track_file.c`): inotify watches the
//! file's directory for `IN_CLOSE_WRITE` and `IN_MOVED_TO` (read again),
//! `IN_DELETE` and `IN_MOVED_FROM` (the file is gone: 0). A number that cannot
//! be held in 32 bits is ignored with a message, as keepalived does; text that
//! is not a number reads as 0 (`strtol`).

use std::{
    collections::HashMap,
    ffi::OsString,
    io::Read as _,
    path::{Path, PathBuf},
};

use futures::StreamExt as _;
use inotify::{EventMask, Inotify, WatchMask};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{info, warn};

use super::TrackEvent;
use crate::config::model::TrackFileDef;

/// keepalived reads at most this much of the file.
const READ_MAX: usize = 127;

/// C `strtol(text, NULL, 0)`: leading white space, a sign, then a `0x` hex,
/// `0` octal or decimal number up to the first character that is not a
/// digit; no digits read as 0. `None` when the number overflows 64 bits.
pub fn strtol(text: &str) -> Option<i64> {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let hex_digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_hexdigit()));
    let (radix, digits) = match hex_digits {
        Some(rest) => (16, rest),
        None if t.starts_with('0') => (8, t),
        None => (10, t),
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    let digits = &digits[..end];
    if digits.is_empty() {
        return Some(0);
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// The file's value: `Some(0)` when it cannot be opened or is empty, `None`
/// when its number is out of keepalived's range or the path is not a
/// regular file (ignored: the last value stays). One non-blocking read, as
/// keepalived does: a FIFO or a device put at the path must not hold the
/// side thread.
fn read_value(path: &Path) -> Option<i64> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return Some(0);
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        info!("{} is not a regular file; ignoring it", path.display());
        return None;
    }
    let mut buf = [0u8; READ_MAX];
    let n = file.read(&mut buf).unwrap_or(0);
    let buf = &buf[..n];
    if buf.is_empty() {
        return Some(0);
    }
    let text = String::from_utf8_lossy(buf);
    match strtol(&text) {
        Some(v) if (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1).contains(&v) => Some(v),
        _ => {
            info!(
                "invalid number read from {}: {:?}; ignoring",
                path.display(),
                text.trim_end()
            );
            None
        }
    }
}

/// `init_file`: writes the initial value when the file is missing, or always
/// with `overwrite` unless this is a reload (keepalived's
/// `track_file_end_handler`). Written to a new file beside it and renamed
/// into place (keepalived's `fopen_safe`): a symlink or another file put at
/// the path is never written through; anything but a regular file there is
/// left alone.
pub fn initialise(defs: &[TrackFileDef], reload: bool) {
    for def in defs {
        let Some(init) = def.init else { continue };
        let path = Path::new(&def.path);
        match std::fs::symlink_metadata(path) {
            Ok(m) if !m.is_file() => {
                warn!(
                    "track_file {}: cannot initialise {}: not a regular file",
                    def.name, def.path
                );
                continue;
            }
            Ok(_) if !init.overwrite || reload => continue,
            _ => {}
        }
        if let Err(e) = crate::files::replace(path, &format!("{}\n", init.value)) {
            warn!("track_file {}: cannot initialise {}: {e}", def.name, def.path);
        }
    }
}

/// One watched file: its name in its directory and the definitions on it.
struct Watched {
    dir: PathBuf,
    file: OsString,
    names: Vec<String>,
    path: PathBuf,
}

/// Starts watching: reports every file's value now, then each change.
pub fn spawn(defs: &[TrackFileDef], tx: &mpsc::UnboundedSender<TrackEvent>) -> Option<JoinHandle<()>> {
    if defs.is_empty() {
        return None;
    }
    let mut watched: Vec<Watched> = Vec::new();
    for def in defs {
        let path = PathBuf::from(&def.path);
        let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
            warn!("track_file {}: {} names no file", def.name, def.path);
            continue;
        };
        match watched.iter_mut().find(|w| w.path == path) {
            Some(w) => w.names.push(def.name.clone()),
            None => watched.push(Watched {
                dir: dir.to_owned(),
                file: file.to_owned(),
                names: vec![def.name.clone()],
                path,
            }),
        }
    }
    let tx = tx.clone();
    let mut last: HashMap<PathBuf, i64> = HashMap::new();
    let mut report = move |w: &Watched, value: Option<i64>| {
        let Some(value) = value else { return true };
        if last.insert(w.path.clone(), value) == Some(value) {
            return true;
        }
        info!(file = %w.path.display(), value, "tracked file value");
        w.names.iter().all(|name| {
            tx.send(TrackEvent::File {
                name: name.clone(),
                value,
            })
            .is_ok()
        })
    };
    let inotify = match Inotify::init() {
        Ok(i) => Some(i),
        Err(e) => {
            warn!("track_file: inotify unavailable ({e}); files are read once only");
            None
        }
    };
    let mut dirs: HashMap<inotify::WatchDescriptor, PathBuf> = HashMap::new();
    if let Some(inotify) = &inotify {
        let mask = WatchMask::CLOSE_WRITE | WatchMask::MOVED_TO | WatchMask::MOVED_FROM | WatchMask::DELETE;
        for w in &watched {
            if dirs.values().any(|d| d == &w.dir) {
                continue;
            }
            match inotify.watches().add(&w.dir, mask) {
                Ok(wd) => {
                    dirs.insert(wd, w.dir.clone());
                }
                Err(e) => warn!(
                    "track_file: cannot watch {} ({e}); {} is read once only",
                    w.dir.display(),
                    w.path.display()
                ),
            }
        }
    }
    // keepalived starts from 0: a first reading it cannot use leaves 0.
    for w in &watched {
        report(w, read_value(&w.path).or(Some(0)));
    }
    let inotify = inotify?;
    Some(tokio::spawn(async move {
        let mut events = match inotify.into_event_stream([0u8; 4096]) {
            Ok(s) => s,
            Err(e) => {
                warn!("track_file: inotify stream: {e}");
                return;
            }
        };
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    warn!("track_file: inotify read: {e}");
                    return;
                }
            };
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                // Events were lost: read every file again.
                warn!("track_file: inotify queue overflow; reading every file again");
                for w in &watched {
                    if !report(w, read_value(&w.path)) {
                        return;
                    }
                }
                continue;
            }
            if event.mask.contains(EventMask::IGNORED) {
                if let Some(dir) = dirs.get(&event.wd) {
                    warn!(
                        "track_file: {} was removed or unmounted; its files are no longer watched",
                        dir.display()
                    );
                }
                continue;
            }
            if event.mask.contains(EventMask::ISDIR) {
                continue;
            }
            let (Some(dir), Some(name)) = (dirs.get(&event.wd), event.name) else {
                continue;
            };
            for w in watched.iter().filter(|w| &w.dir == dir && w.file == name) {
                let gone = event.mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM);
                let value = if gone { Some(0) } else { read_value(&w.path) };
                if !report(w, value) {
                    return;
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xvrrp-tf-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A FIFO (or anything but a regular file) at the path is not read: a
    /// blocking open or read would hold the side thread for ever.
    #[test]
    fn a_fifo_at_the_path_is_ignored_not_waited_for() {
        let d = scratch("fifo");
        let p = d.join("t");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = std::time::Instant::now();
        assert_eq!(read_value(&p), None);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(read_value(&d.join("missing")), Some(0));
        std::fs::write(d.join("v"), " 0x10 rest").unwrap();
        assert_eq!(read_value(&d.join("v")), Some(16));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// `init_file` never writes through a symlink, writes a missing file,
    /// leaves an existing one unless `overwrite` (and not on a reload).
    #[test]
    fn init_file_writes_safely() {
        let d = scratch("init");
        let def = |path: &Path, overwrite| TrackFileDef {
            name: "tf".to_owned(),
            path: path.to_str().unwrap().to_owned(),
            weight: 1,
            reverse: false,
            init: Some(crate::config::model::FileInit { value: 7, overwrite }),
        };
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        initialise(&[def(&link, true)], false);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let fresh = d.join("fresh");
        initialise(&[def(&fresh, false)], false);
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "7\n");
        std::fs::write(&fresh, "3\n").unwrap();
        initialise(&[def(&fresh, false)], false);
        initialise(&[def(&fresh, true)], true);
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "3\n");
        initialise(&[def(&fresh, true)], false);
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "7\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn reads_numbers_as_strtol_does() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1\n", Some(1)),
            ("  -25 ", Some(-25)),
            ("+7", Some(7)),
            ("0x1f", Some(31)),
            ("010", Some(8)),
            ("09", Some(0)),
            ("12abc", Some(12)),
            ("abc", Some(0)),
            ("", Some(0)),
            ("-", Some(0)),
            ("0x", Some(0)),
            ("99999999999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(strtol(text), *want, "{text:?}");
        }
    }
}
