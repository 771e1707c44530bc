//! `smtp_alert` mail, sent from the side thread's runtime with a maintained
//! SMTP client: one connection per mail as keepalived does, at most
//! [`PARALLEL`] at a time, each bounded by `smtp_connect_timeout`. A mail
//! that cannot be sent is logged and dropped (keepalived does not retry
//! either); VRRP never waits for it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::header::{HeaderName, HeaderValue},
    transport::smtp::extension::ClientId,
};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::config::model::Global;

/// Mails in flight at once (a thousand instances changing state together
/// must not open a thousand connections).
pub const PARALLEL: usize = 4;
/// Mails waiting beyond this are dropped with a message.
const BACKLOG: usize = 1000;

/// Where mail goes, from `global_defs`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub port: u16,
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub timeout: Duration,
}

impl Settings {
    /// `None` when mail cannot be sent (no `smtp_server` or no
    /// `notification_email`).
    pub fn from_global(g: &Global) -> Option<Self> {
        let server = g.smtp_server.clone()?;
        if g.notification_email.is_empty() {
            return None;
        }
        let host = host_name();
        Some(Self {
            server,
            port: g.smtp_port,
            helo: g.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
            from: g
                .notification_email_from
                .clone()
                .unwrap_or_else(|| format!("root@{host}")),
            to: g.notification_email.clone(),
            timeout: Duration::from_secs(u64::from(g.smtp_connect_timeout_s.max(1))),
        })
    }
}

/// The host name (keepalived's default HELO name, sender domain and router_id).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Sends mail in the background.
pub struct Mailer {
    slots: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
}

impl Default for Mailer {
    fn default() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(PARALLEL)),
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Mailer {
    /// Queues one mail (a task on the current runtime).
    pub fn send(&self, settings: Settings, subject: String, body: String) {
        if self.queued.load(Ordering::Relaxed) >= BACKLOG {
            warn!(%subject, "smtp_alert: too many mails waiting; this one is dropped");
            return;
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        let (slots, queued) = (self.slots.clone(), self.queued.clone());
        tokio::spawn(async move {
            if let Ok(_permit) = slots.acquire().await {
                match send(&settings, &subject, body).await {
                    Ok(()) => info!(%subject, server = %settings.server, "smtp_alert: mail sent"),
                    Err(e) => {
                        warn!(%subject, server = %settings.server, port = settings.port, "smtp_alert: mail not sent: {e}");
                    }
                }
            }
            queued.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn send(s: &Settings, subject: &str, body: String) -> Result<(), String> {
    let mut message = Message::builder()
        .from(
            s.from
                .parse()
                .map_err(|e| format!("notification_email_from {}: {e}", s.from))?,
        )
        .subject(subject)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Mailer"),
            "xvrrpd".to_owned(),
        ));
    // An address that is not one is left out, not the whole mail.
    let mut any = false;
    for to in &s.to {
        match to.parse() {
            Ok(mailbox) => {
                message = message.to(mailbox);
                any = true;
            }
            Err(e) => warn!("smtp_alert: notification_email {to} is not a mail address ({e}); left out"),
        }
    }
    if !any {
        return Err("no notification_email is a mail address".to_owned());
    }
    let message = message.body(body).map_err(|e| e.to_string())?;
    let transport: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.server)
            .port(s.port)
            .hello_name(ClientId::Domain(s.helo.clone()))
            .timeout(Some(s.timeout))
            .build();
    let sent = tokio::time::timeout(s.timeout * 2, transport.send(message)).await;
    match sent {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", s.timeout * 2)),
    }
}
