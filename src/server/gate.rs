//! The door every socket comes through: a listener that caps open connections, and a stream
//! wrapper that closes connections whose request head does not arrive in time (slowloris).
//!
//! axum's own `serve` has neither: it sets no hyper timer (so no header timeout) and accepts
//! until the process runs out of descriptors. The limit counts every TCP connection, HTTP and
//! WebSocket alike; a socket over it is answered by a small side task (`refuse`) that still
//! serves `GET /v1/health` and refuses everything else with a 503, so an operator can see
//! what is going on while the server is full.

use crate::protocol::ErrorCode;
use crate::wire::WireError;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Sockets over the limit that may be answered at once; beyond this they are closed unanswered
/// (each answer holds a descriptor for up to [`REFUSE_WITHIN`]).
pub const REFUSE_SLOTS: usize = 64;
/// How long a socket over the limit has to send its request line before it is dropped.
const REFUSE_WITHIN: Duration = Duration::from_secs(2);

const WAITING: u8 = 0;
const BUSY: u8 = 1;
const UPGRADED: u8 = 2;

/// Where a connection is in its life, shared by its stream and the request middleware.
#[derive(Clone, Debug)]
pub(crate) struct ConnWatch(Arc<WatchState>);

#[derive(Debug)]
struct WatchState {
    phase: AtomicU8,
    /// While `WAITING`: the deadline for a complete request head, in ms since `born`.
    deadline_ms: AtomicU64,
    born: Instant,
}

impl ConnWatch {
    fn new(timeout: Duration) -> ConnWatch {
        let w = ConnWatch(Arc::new(WatchState {
            phase: AtomicU8::new(WAITING),
            deadline_ms: AtomicU64::new(0),
            born: Instant::now(),
        }));
        w.wait(timeout);
        w
    }

    /// Waits for the next request head, at most `timeout` from now.
    fn wait(&self, timeout: Duration) {
        let ms = self.0.born.elapsed().saturating_add(timeout).as_millis();
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        self.0.deadline_ms.store(ms, Ordering::SeqCst);
        self.0.phase.store(WAITING, Ordering::SeqCst);
    }

    fn set(&self, phase: u8) {
        self.0.phase.store(phase, Ordering::SeqCst);
    }

    /// The deadline, while a request head is awaited.
    fn deadline(&self) -> Option<Instant> {
        if self.0.phase.load(Ordering::SeqCst) != WAITING {
            return None;
        }
        let ms = self.0.deadline_ms.load(Ordering::SeqCst);
        Some(self.0.born + Duration::from_millis(ms.min(u64::MAX / 4)))
    }
}

/// A TCP stream that fails its reads once a request head is overdue, and holds its slot of
/// the connection limit until it is dropped.
pub(crate) struct Guarded {
    tcp: TcpStream,
    watch: ConnWatch,
    timer: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = this.watch.deadline() {
            if this.timer.deadline() != deadline {
                this.timer.as_mut().reset(deadline);
            }
            if this.timer.as_mut().poll(cx).is_ready() {
                // hyper drops the connection on a read error: the descriptor is freed.
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete request head in time",
                )));
            }
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl Guarded {
    /// Arms the timer for the deadline `track` set once an answer is out. Needed on the write
    /// side: after answering, hyper waits on the read readiness it registered before, so
    /// without this the idle deadline was only seen at the next wake-up (the header
    /// deadline), and `idle_timeout` never applied.
    fn arm(&mut self, cx: &mut Context<'_>) {
        let Some(deadline) = self.watch.deadline() else {
            return;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            // Overdue already: have hyper read again, where `poll_read` fails the socket.
            cx.waker().wake_by_ref();
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.arm(cx);
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

impl Connected<IncomingStream<'_, Gate>> for ConnWatch {
    fn connect_info(stream: IncomingStream<'_, Gate>) -> ConnWatch {
        stream.io().watch.clone()
    }
}

/// The limits a [`Gate`] enforces.
pub(crate) struct GateConfig {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// Open WebSocket clients, for the `/v1/health` answer given over the limit.
    pub online: Arc<AtomicUsize>,
}

/// The listener: accepts while under the connection limit, answers the rest on the side.
pub(crate) struct Gate {
    tcp: TcpListener,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    cfg: Arc<GateConfig>,
}

impl Gate {
    pub(crate) fn new(tcp: TcpListener, cfg: GateConfig) -> Gate {
        Gate {
            tcp,
            slots: Arc::new(Semaphore::new(
                cfg.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
            refusals: Arc::new(Semaphore::new(REFUSE_SLOTS)),
            cfg: Arc::new(cfg),
        }
    }

    fn refuse(&self, tcp: TcpStream) {
        // With every refusal slot busy the socket is just closed: better than no descriptor.
        let Ok(permit) = Arc::clone(&self.refusals).try_acquire_owned() else {
            return;
        };
        let cfg = Arc::clone(&self.cfg);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSE_WITHIN, answer_over_limit(tcp, &cfg)).await;
            drop(permit);
        });
    }
}

impl Listener for Gate {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            let (tcp, addr) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: wait for descriptors to come back, without spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Small frames in both directions: no Nagle delay.
            let _ = tcp.set_nodelay(true);
            match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(slot) => {
                    let watch = ConnWatch::new(self.cfg.header_timeout);
                    let deadline = watch.deadline().unwrap_or_else(Instant::now);
                    let timer = Box::pin(tokio::time::sleep_until(deadline));
                    let io = Guarded {
                        tcp,
                        watch,
                        timer,
                        _slot: slot,
                    };
                    return (io, addr);
                }
                Err(_) => self.refuse(tcp),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// The message a socket over the limit gets.
pub(crate) fn over_limit_message(limit: usize) -> String {
    format!(
        "the server is at its connection limit ({limit} open connections); \
         retry later or raise max_connections"
    )
}

/// Answers one socket over the limit: `/v1/health` as usual, anything else 503.
async fn answer_over_limit(mut tcp: TcpStream, cfg: &GateConfig) -> io::Result<()> {
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() && !head[..n].contains(&b'\n') {
        match tcp.read(&mut head[n..]).await? {
            0 => return Ok(()),
            k => n += k,
        }
    }
    let (status, body) = if head[..n].starts_with(b"GET /v1/health ") {
        let online = cfg.online.load(Ordering::Relaxed);
        (StatusCode::OK, super::http::health_body(online))
    } else {
        let mut error = WireError::from(ErrorCode::Internal);
        error.message = over_limit_message(cfg.max_connections);
        let body = serde_json::json!({ "error": error });
        (StatusCode::SERVICE_UNAVAILABLE, body)
    };
    let body = body.to_string();
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(reply.as_bytes()).await?;
    tcp.shutdown().await
}

/// Middleware on every route: a request whose head arrived stops the header clock; once it
/// is answered, the connection waits for the next head at most `idle`, unless it became a
/// WebSocket (which has its own keep-alive).
pub(crate) async fn track(idle: Duration, req: Request, next: Next) -> Response {
    let watch = req
        .extensions()
        .get::<ConnectInfo<ConnWatch>>()
        .map(|c| c.0.clone());
    if let Some(w) = &watch {
        w.set(BUSY);
    }
    let resp = next.run(req).await;
    if let Some(w) = watch {
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            w.set(UPGRADED);
        } else {
            w.wait(idle);
        }
    }
    resp
}

/// [`track`] as a closure for `axum::middleware::from_fn`.
pub(crate) fn tracker(
    idle: Duration,
) -> impl Fn(Request, Next) -> Pin<Box<dyn Future<Output = Response> + Send>> + Clone {
    move |req, next| Box::pin(track(idle, req, next))
}
