//! Where the daemon's log goes: stderr (`xvrrpd run`, keepalived's `-l`),
//! and syslog the way keepalived writes it (`-S`, default facility daemon,
//! ident `Keepalived_vrrp[PID]`), so log-based alerting and log shippers
//! that watch keepalived's lines keep working.

use std::{
    io::{self, Write},
    os::unix::net::UnixDatagram,
    sync::Arc,
};

use anyhow::{Result, bail};
use tracing::{Level, Metadata};
use tracing_subscriber::{
    EnvFilter, Layer as _, fmt::MakeWriter, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

/// `-S` / `--log-facility`: keepalived takes 0-7 (local0-7), `local0`..`local7`,
/// `user` or `daemon`.
pub fn facility(name: &str) -> Result<u8> {
    let local = |n: u8| 16 + n;
    Ok(match name {
        "daemon" => 3,
        "user" => 1,
        n if n.len() == 1 && n.as_bytes()[0].is_ascii_digit() && n.as_bytes()[0] <= b'7' => {
            local(n.as_bytes()[0] - b'0')
        }
        n if n.starts_with("local") && n.len() == 6 && (b'0'..=b'7').contains(&n.as_bytes()[5]) => {
            local(n.as_bytes()[5] - b'0')
        }
        other => bail!("unknown log facility {other:?} (0-7, local0-local7, user, daemon)"),
    })
}

/// A syslog connection: one datagram per line to /dev/log.
#[derive(Clone)]
pub struct Syslog {
    sock: Arc<UnixDatagram>,
    facility: u8,
    ident: String,
}

impl Syslog {
    /// `None` where there is no syslog socket (a container): stderr only.
    pub fn open(facility: u8, ident: &str) -> Option<Self> {
        let sock = UnixDatagram::unbound().ok()?;
        sock.connect("/dev/log").ok()?;
        // Never blocks: a stalled syslog loses lines, not adverts.
        sock.set_nonblocking(true).ok()?;
        Some(Self {
            sock: Arc::new(sock),
            facility,
            ident: ident.to_owned(),
        })
    }
}

/// One log line on its way to syslog, at one severity.
pub struct SyslogLine {
    syslog: Syslog,
    severity: u8,
    buf: Vec<u8>,
}

impl Write for SyslogLine {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let pri = self.syslog.facility * 8 + self.severity;
        // The pid now (a daemonized process is not the one that opened it).
        let line = format!("<{pri}>{}[{}]: {text}", self.syslog.ident, std::process::id());
        // A full or missing syslog never holds the daemon up; a restarted
        // one is connected to again.
        if self.syslog.sock.send(line.as_bytes()).is_err() && self.syslog.sock.connect("/dev/log").is_ok() {
            let _ = self.syslog.sock.send(line.as_bytes());
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> Self::Writer {
        self.make_writer_for_level(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.make_writer_for_level(*meta.level())
    }
}

impl Syslog {
    fn make_writer_for_level(&self, level: Level) -> SyslogLine {
        let severity = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        SyslogLine {
            syslog: self.clone(),
            severity,
            buf: Vec::new(),
        }
    }
}

/// Installs the subscriber: stderr when `console`, syslog when given.
pub fn init(filter: &str, console: bool, syslog: Option<Syslog>) -> Result<()> {
    let stderr = console.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_target(false)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .with_filter(EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info")))
    });
    let syslog = syslog.map(|s| {
        tracing_subscriber::fmt::layer()
            .with_writer(s)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .with_filter(EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info")))
    });
    EnvFilter::try_new(filter)?;
    tracing_subscriber::registry()
        .with(stderr)
        .with(syslog)
        .try_init()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_facilities() {
        assert_eq!(facility("daemon").unwrap(), 3);
        assert_eq!(facility("0").unwrap(), 16);
        assert_eq!(facility("local7").unwrap(), 23);
        assert!(facility("local8").is_err());
        assert!(facility("kern").is_err());
    }
}
