//! The control socket (`xvrrpd status`) and the metrics endpoint, served off
//! the protocol path: on a thread of their own (ordinary scheduling, no
//! capabilities), each connection its own task, bounded in number and in
//! time; they ask the protocol loop only for a snapshot (taken there at most
//! every [`SNAPSHOT_REUSE`]) and render and write it here. A client that
//! connects and says nothing, or never reads, costs a task and a permit until
//! its time is up; it never holds an advert.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::AsyncWriteExt as _,
    net::{TcpListener, UnixListener},
    sync::{Notify, Semaphore, mpsc, oneshot},
};
use tracing::warn;

use super::status::{self, Status};

/// A server's request for a snapshot; the protocol loop answers it.
pub struct SnapshotRequest {
    /// A snapshot taken now (`xvrrpd status`: root only, and read right
    /// after an action), or one up to [`SNAPSHOT_REUSE`] old (metrics, open
    /// to the network: a scrape storm costs one snapshot per period).
    pub fresh: bool,
    pub reply: oneshot::Sender<Arc<Status>>,
}

/// Connections served at once per endpoint; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 64;
/// The most one connection may take, reading and writing included.
pub const CONNECTION_LIMIT: Duration = Duration::from_secs(5);
/// How long a metrics client may take to send its request head.
const HEADER_LIMIT: Duration = Duration::from_secs(2);
/// The most a metrics request may buffer (hyper's minimum; a GET needs far less).
const MAX_REQUEST: usize = 8192;
/// How long after the end that leaves no connection open the heap's free
/// pages go back to the kernel (clients that come and go meanwhile do not
/// put it off).
const IDLE_TRIM_AFTER: Duration = Duration::from_secs(1);
/// The least time between two trims: each holds the one malloc arena (the
/// protocol thread's too) while it walks the free chunks, about 0.1-1 ms
/// for a few MiB of heap (estimated, not measured), so a client that comes
/// and goes every second gets one trim per gap and [`IDLE_TRIM_AFTER`] (11 s),
/// not one per visit.
const TRIM_GAP: Duration = Duration::from_secs(10);
/// A snapshot younger than this is handed out again (a scrape storm costs
/// the protocol loop one snapshot per period, not one per request).
pub const SNAPSHOT_REUSE: Duration = Duration::from_millis(50);

/// The protocol loop's side: the last snapshot, when it was taken, and the
/// engine's generation then (a transition, an address change or a reload
/// makes a new one, so nobody reads a state that has just changed).
#[derive(Default)]
pub struct SnapshotCache<G>(Option<(tokio::time::Instant, G, Arc<Status>)>);

impl<G: PartialEq> SnapshotCache<G> {
    /// The cached snapshot if `reuse` is allowed and it is recent and of
    /// generation `generation`, else `take()`'s (cached).
    pub fn get(&mut self, reuse: bool, generation: G, take: impl FnOnce() -> Status) -> Arc<Status> {
        let now = tokio::time::Instant::now();
        match &self.0 {
            Some((at, g, snap)) if reuse && *g == generation && now.duration_since(*at) < SNAPSHOT_REUSE => {
                Arc::clone(snap)
            }
            _ => {
                let snap = Arc::new(take());
                self.0 = Some((now, generation, Arc::clone(&snap)));
                snap
            }
        }
    }
}

async fn snapshot(tx: &mpsc::Sender<SnapshotRequest>, fresh: bool) -> Option<Arc<Status>> {
    let (reply, rx) = oneshot::channel();
    tx.send(SnapshotRequest { fresh, reply }).await.ok()?;
    rx.await.ok()
}

/// Open connections on both endpoints, and the heap trim that follows the
/// last one's end. A burst of clients (twenty that stall, one that scrapes
/// in a loop) took the heap from 1 to 4 MiB with 228 instances: a rendered
/// body, a snapshot and a parser's buffers per connection. glibc keeps what
/// they freed (its trim threshold grows with the largest block freed), so
/// without a trim the daemon would keep every storm's peak for good.
#[derive(Clone, Default)]
struct Clients {
    open: Arc<AtomicUsize>,
    /// Connections ever accepted: a trim is due only if one came since the last.
    entered: Arc<AtomicU64>,
    idle: Arc<Notify>,
}

impl Clients {
    /// Holds one connection open until the guard drops.
    fn enter(&self) -> ClientGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.entered.fetch_add(1, Ordering::Relaxed);
        ClientGuard(self.clone())
    }

    /// Calls `trim` [`IDLE_TRIM_AFTER`] after an end that left no connection
    /// open, if none is open then and one came since the last trim; then
    /// waits [`TRIM_GAP`]. Sleeps (no wake-up) while nobody connects.
    async fn trim_when_idle(self, trim: impl Fn()) {
        let mut trimmed_after = None;
        loop {
            self.idle.notified().await;
            tokio::time::sleep(IDLE_TRIM_AFTER).await;
            let entered = self.entered.load(Ordering::Relaxed);
            // One open now: its end wakes this loop again.
            if self.open.load(Ordering::Relaxed) == 0 && trimmed_after != Some(entered) {
                trim();
                trimmed_after = Some(entered);
                tokio::time::sleep(TRIM_GAP).await;
            }
        }
    }
}

struct ClientGuard(Clients);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            // notify_one stores one permit: ends while the trimmer sleeps
            // wake it once more, and it trims only if something came since.
            self.0.idle.notify_one();
        }
    }
}

/// Accepts forever, at most [`MAX_CONNECTIONS`] served at once, each in its
/// own task bounded by [`CONNECTION_LIMIT`].
async fn accept_loop<S, F, Fut>(
    clients: Clients,
    mut accept: impl FnMut() -> F,
    serve: impl Fn(S) -> Fut + Send + 'static,
) where
    F: Future<Output = std::io::Result<S>>,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        match accept().await {
            Ok(stream) => {
                let guard = clients.enter();
                let conn = serve(stream);
                tokio::spawn(async move {
                    let _permit = permit;
                    let _ = tokio::time::timeout(CONNECTION_LIMIT, conn).await;
                    drop(guard);
                });
            }
            Err(e) => {
                // Out of descriptors, say: do not spin.
                warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Binds the control socket (`sock_path`, root only) and the metrics
/// listener, and starts the thread that serves them; the loop answers the
/// snapshot requests that come back on the returned channel.
pub fn listen(
    sock_path: &std::path::Path,
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<tokio::sync::mpsc::Receiver<SnapshotRequest>> {
    use anyhow::Context as _;
    let _ = std::fs::remove_file(sock_path);
    let control = std::os::unix::net::UnixListener::bind(sock_path)
        .with_context(|| format!("control socket {}", sock_path.display()))?;
    control.set_nonblocking(true)?;
    // Root only: status cannot change anything, but it shows the configuration.
    std::fs::set_permissions(sock_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let metrics = match metrics {
        Some(addr) => {
            let l =
                std::net::TcpListener::bind(addr).with_context(|| format!("metrics listener on {addr}"))?;
            l.set_nonblocking(true)?;
            Some(l)
        }
        None => None,
    };
    let (snap_tx, snap_rx) = tokio::sync::mpsc::channel::<SnapshotRequest>(64);
    start(control, metrics, snap_tx).context("starting the status and metrics thread")?;
    Ok(snap_rx)
}

/// Starts the server thread: the control socket and, if given, the metrics
/// listener (both already bound, non-blocking). Called before the protocol
/// thread takes its scheduling settings, so this one keeps ordinary ones.
fn start(
    control: std::os::unix::net::UnixListener,
    metrics: Option<std::net::TcpListener>,
    tx: mpsc::Sender<SnapshotRequest>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("xvrrpd-serve".to_owned())
        .spawn(move || {
            // It reads what strangers send: no capabilities at all.
            if let Err(e) = super::privileges::drop_to(0) {
                warn!("server thread: cannot drop capabilities ({e:#}); not serving status or metrics");
                return;
            }
            rt.block_on(async move {
                let clients = Clients::default();
                tokio::spawn(clients.clone().trim_when_idle(crate::net::sys::release_free_heap));
                match UnixListener::from_std(control) {
                    Ok(l) => spawn_control(clients.clone(), l, tx.clone()),
                    Err(e) => warn!("control socket: {e}"),
                }
                if let Some(m) = metrics {
                    match TcpListener::from_std(m) {
                        Ok(l) => spawn_metrics(clients, l, tx),
                        Err(e) => warn!("metrics listener: {e}"),
                    }
                }
                std::future::pending::<()>().await;
            });
        })?;
    Ok(())
}

/// `xvrrpd status`: the snapshot as JSON, then the connection closes.
fn spawn_control(clients: Clients, listener: UnixListener, tx: mpsc::Sender<SnapshotRequest>) {
    tokio::spawn(async move {
        accept_loop(
            clients,
            || async { listener.accept().await.map(|(s, _)| s) },
            move |mut stream: tokio::net::UnixStream| {
                let tx = tx.clone();
                async move {
                    if let Some(snap) = snapshot(&tx, true).await {
                        let body = serde_json::to_vec(&*snap).unwrap_or_default();
                        let _ = stream.write_all(&body).await;
                    }
                }
            },
        )
        .await;
    });
}

/// Prometheus text on `GET /` and `GET /metrics`, over HTTP/1 (hyper).
fn spawn_metrics(clients: Clients, listener: TcpListener, tx: mpsc::Sender<SnapshotRequest>) {
    tokio::spawn(async move {
        accept_loop(
            clients,
            || async { listener.accept().await.map(|(s, _)| s) },
            move |stream: tokio::net::TcpStream| {
                let tx = tx.clone();
                async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move { Ok::<_, Infallible>(respond(&req, &tx).await) }
                    });
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_LIMIT)
                        .max_buf_size(MAX_REQUEST)
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            },
        )
        .await;
    });
}

async fn respond(
    req: &Request<hyper::body::Incoming>,
    tx: &mpsc::Sender<SnapshotRequest>,
) -> Response<Full<Bytes>> {
    let plain = |code: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".to_owned());
    }
    if !matches!(req.uri().path(), "/" | "/metrics") {
        return plain(
            StatusCode::NOT_FOUND,
            "metrics are at / and /metrics\n".to_owned(),
        );
    }
    match snapshot(tx, false).await {
        Some(snap) => {
            let mut r = plain(StatusCode::OK, status::prometheus(&snap));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        None => plain(StatusCode::SERVICE_UNAVAILABLE, "stopping\n".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc, time::Duration};

    use super::{Clients, IDLE_TRIM_AFTER, TRIM_GAP};

    /// Trims counted on tokio's paused clock: one after a burst's last end,
    /// none while a connection is open, at most one per gap, none when
    /// nothing came since the last.
    #[tokio::test(start_paused = true)]
    async fn a_trim_follows_the_last_connection_once_per_gap() {
        let trims = Rc::new(Cell::new(0));
        let clients = Clients::default();
        let local = tokio::task::LocalSet::new();
        let counted = Rc::clone(&trims);
        local.spawn_local(
            clients
                .clone()
                .trim_when_idle(move || counted.set(counted.get() + 1)),
        );
        let settle = IDLE_TRIM_AFTER + Duration::from_millis(10);
        local
            .run_until(async {
                let held = clients.enter();
                let (a, b) = (clients.enter(), clients.enter());
                drop((a, b));
                tokio::time::sleep(settle * 3).await;
                assert_eq!(trims.get(), 0, "a connection is still open");
                drop(held);
                tokio::time::sleep(settle).await;
                assert_eq!(trims.get(), 1, "the last end is followed by a trim");
                drop(clients.enter());
                tokio::time::sleep(settle).await;
                assert_eq!(trims.get(), 1, "within the gap");
                tokio::time::sleep(TRIM_GAP).await;
                assert_eq!(trims.get(), 2, "the visit during the gap is trimmed after it");
                // One that opens during the wait and is open when it ends: no
                // trim until it closes.
                tokio::time::sleep(TRIM_GAP).await;
                drop(clients.enter());
                let held = clients.enter();
                tokio::time::sleep(settle * 3).await;
                assert_eq!(trims.get(), 2, "a connection is open at the wait's end");
                drop(held);
                tokio::time::sleep(settle).await;
                assert_eq!(trims.get(), 3, "its end is followed by a trim");
                // One that comes and goes within the wait: one trim, and
                // after the gap none for the wake-up it left (nothing since).
                tokio::time::sleep(TRIM_GAP).await;
                drop(clients.enter());
                tokio::time::sleep(IDLE_TRIM_AFTER / 2).await;
                drop(clients.enter());
                tokio::time::sleep(settle).await;
                assert_eq!(trims.get(), 4, "one trim for both");
                tokio::time::sleep(TRIM_GAP * 6).await;
                assert_eq!(trims.get(), 4, "nothing came since");
            })
            .await;
    }
}
