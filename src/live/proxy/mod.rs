//! The loopback fault proxy of live fault runs: a TCP proxy on `127.0.0.1:0` in front of the
//! server's WebSocket port. Each accepted connection gets two copy loops (client -> server and
//! server -> client) that, on command, hold chunks for an extra delay, stall (stop forwarding
//! both ways for a while; the kernel and the loop buffer what arrives meanwhile, so nothing is
//! lost or reordered), or cut the connection (both sockets reset at once).
//!
//! Connections are addressed by client: every TCP connection a client opens names it on its
//! first HTTP request head, as the query parameter `readsim_client=N` (the WebSocket upgrade
//! to `/v1/ws?readsim_client=N`) or the header `x-readsim-client: N` (an HTTP client sets it
//! on every request: only the first head of a connection is read). The proxy takes it out of
//! that head and forwards the rest, so the server sees exactly the documented wire (later
//! requests of a keep-alive connection pass through untouched, header included). A client
//! may hold several connections at once (an HTTP backend: a long poll plus requests); cuts
//! and stalls act on all of them. [`ClientRoute`] builds what a backend connects to.
//!
//! Bytes are never altered, dropped, duplicated or reordered: a TCP stream cannot lose a frame
//! without breaking, so those simulator faults have no live counterpart.

mod head;

use head::read_head;
pub use head::{CLIENT_HEADER, CLIENT_PARAM, ClientRoute};

use super::LiveError;
use crate::protocol::UserId;
use crate::rng::{Purpose, Stream, Streams, entity};
use crate::scenario::DelayDist;
use rand::RngExt;
use rustc_hash::FxHashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a fresh connection may take to send its upgrade head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What the copy loops of one connection are told to do.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Control {
    /// Close both sockets now (reset, no orderly close).
    cut: bool,
    /// Forward nothing before this instant.
    stall_until: Option<Instant>,
}

/// Extra delay of chunks: each chunk is held with probability `p` for a sampled time.
#[derive(Clone, Debug)]
pub struct DelayFault {
    pub p: f64,
    pub dist: DelayDist,
}

/// What the proxy did (for the run's notes).
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub accepted: AtomicU64,
    pub delayed_chunks: AtomicU64,
    pub stalls: AtomicU64,
    pub cuts: AtomicU64,
    pub bytes: AtomicU64,
}

/// One open connection of a client, as the proxy knows it.
struct Registered {
    /// The proxy's number of the connection (unique over the run).
    conn: u64,
    ctl: watch::Sender<Control>,
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    /// Each client's open connections, oldest first: one for a WebSocket backend (an old
    /// one may linger for a moment after a reconnect until its pumps end), several for an
    /// HTTP backend. A connection leaves the list when cut or when its pumps end.
    conns: Mutex<FxHashMap<UserId, Vec<Registered>>>,
    delay: Mutex<Option<DelayFault>>,
    streams: Streams,
    next_conn: AtomicU64,
    counters: ProxyCounters,
}

/// A running proxy; dropping it stops accepting (open connections end with their sockets).
pub struct Proxy {
    /// `127.0.0.1:PORT` clients connect to.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`. `seed` keys the delay draws.
    pub async fn start(upstream: SocketAddr, seed: u64) -> Result<Proxy, LiveError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
            LiveError::Server(format!(
                "the fault proxy cannot listen on 127.0.0.1: {e}; check the open-file limit"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| LiveError::Server(format!("the fault proxy has no address: {e}")))?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            conns: Mutex::new(FxHashMap::default()),
            delay: Mutex::new(None),
            streams: Streams::new(seed),
            next_conn: AtomicU64::new(1),
            counters: ProxyCounters::default(),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                s.counters.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(s.clone(), sock));
            }
        });
        Ok(Proxy {
            addr,
            shared,
            accept,
        })
    }

    /// Where new connections go from now on (a restarted server on another port).
    pub fn set_upstream(&self, addr: SocketAddr) {
        *lock(&self.shared.upstream) = addr;
    }

    /// Extra delay for chunks from now on (None: off).
    pub fn set_delay(&self, d: Option<DelayFault>) {
        *lock(&self.shared.delay) = d.filter(|d| d.p > 0.0);
    }

    /// Cuts every connection of `client`: both sockets of each are reset, and they are no
    /// longer addressable. False if it has none.
    pub fn cut(&self, client: UserId) -> bool {
        let Some(list) = lock(&self.shared.conns).remove(&client) else {
            return false;
        };
        self.shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
        for r in list {
            r.ctl.send_modify(|c| c.cut = true);
        }
        true
    }

    /// Stops forwarding every connection of `client` both ways for `length`. False if it
    /// has none.
    pub fn stall(&self, client: UserId, length: Duration) -> bool {
        let conns = lock(&self.shared.conns);
        let Some(list) = conns.get(&client) else {
            return false;
        };
        self.shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + length;
        for r in list {
            r.ctl.send_modify(|c| {
                c.stall_until = Some(c.stall_until.map_or(until, |u| u.max(until)))
            });
        }
        true
    }

    /// How many connections of `client` are open through the proxy.
    pub fn connections(&self, client: UserId) -> usize {
        lock(&self.shared.conns).get(&client).map_or(0, Vec::len)
    }

    pub fn counters(&self) -> &ProxyCounters {
        &self.shared.counters
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain values).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One accepted connection: read the upgrade head, connect upstream, pump both ways.
async fn serve(shared: Arc<Shared>, mut down: TcpStream) {
    let _ = down.set_nodelay(true);
    let Ok(Ok((head, client))) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut down)).await
    else {
        return;
    };
    let upstream = *lock(&shared.upstream);
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        // The server is down (crash): the client sees its connection refused-like close.
        let _ = down.set_zero_linger();
        return;
    };
    let _ = up.set_nodelay(true);
    if up.write_all(&head).await.is_err() {
        return;
    }
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (ctl_tx, ctl_rx) = watch::channel(Control::default());
    if let Some(c) = client {
        // Registered before a byte comes back, so the client cannot see its connection
        // answered (a hello, a response) before a cut or stall can reach it.
        let r = Registered { conn, ctl: ctl_tx };
        lock(&shared.conns).entry(c).or_default().push(r);
    }
    let key = client.map_or(conn, |c| c.0 as u64);
    let rng = |p| shared.streams.rng(p, entity(&[key, conn]));
    let (dr, dw) = down.into_split();
    let (ur, uw) = up.into_split();
    let a = tokio::spawn(pump(
        dr,
        uw,
        ctl_rx.clone(),
        shared.clone(),
        rng(Purpose::NetUp),
    ));
    let b = tokio::spawn(pump(ur, dw, ctl_rx, shared.clone(), rng(Purpose::NetDown)));
    let _ = a.await;
    let _ = b.await;
    if let Some(c) = client {
        forget(&shared, c, conn);
    }
}

/// Takes connection `conn` of `client` off its list (it ended); the client's entry goes
/// with its last connection.
fn forget(shared: &Shared, client: UserId, conn: u64) {
    let mut conns = lock(&shared.conns);
    if let Some(list) = conns.get_mut(&client) {
        list.retain(|r| r.conn != conn);
        if list.is_empty() {
            conns.remove(&client);
        }
    }
}

/// Waits until the connection is cut (or its controller is gone, which also ends it).
async fn cut(ctl: &mut watch::Receiver<Control>) {
    let _ = ctl.wait_for(|c| c.cut).await;
}

/// Copies `from` to `to` chunk by chunk, applying delay, stall and cut. On a cut both
/// sockets are reset (zero linger), so each side sees an abrupt end, not an orderly close.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut ctl: watch::Receiver<Control>,
    shared: Arc<Shared>,
    mut rng: Stream,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let reset = |from: &OwnedReadHalf, to: &OwnedWriteHalf| {
        let _ = from.as_ref().set_zero_linger();
        let _ = to.as_ref().set_zero_linger();
    };
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    // Orderly end on one side: pass it on and let the other direction finish.
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            _ = cut(&mut ctl) => return reset(&from, &to),
        };
        let extra = {
            let d = lock(&shared.delay);
            match &*d {
                Some(f) if rng.random_bool(f.p.min(1.0)) => {
                    Some(crate::dist::sample_delay(&f.dist, &mut rng))
                }
                _ => None,
            }
        };
        if let Some(us) = extra {
            shared
                .counters
                .delayed_chunks
                .fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_micros(us)) => {}
                _ = cut(&mut ctl) => return reset(&from, &to),
            }
        }
        // A stall holds this chunk (and, by not reading, everything after it) until it ends;
        // a stall extended meanwhile is honoured by looking again.
        loop {
            let until = ctl.borrow().stall_until;
            match until {
                Some(u) if u > Instant::now() => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(u) => {}
                        r = ctl.changed() => if r.is_err() || ctl.borrow().cut {
                            return reset(&from, &to);
                        },
                    }
                }
                _ => break,
            }
        }
        tokio::select! {
            r = to.write_all(&buf[..n]) => if r.is_err() {
                return reset(&from, &to);
            },
            _ = cut(&mut ctl) => return reset(&from, &to),
        }
        shared.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny upstream: accepts connections, echoes everything back, and reports each
    /// connection's upgrade head (what the proxy forwarded) on `heads`.
    async fn echo_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if s.read_exact(&mut b).await.is_err() {
                            return;
                        }
                        head.push(b[0]);
                    }
                    let _ = tx.send(head);
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (addr, rx)
    }

    fn route(proxy: &Proxy, client: u32) -> ClientRoute {
        ClientRoute {
            proxy: proxy.addr,
            client: UserId(client),
        }
    }

    async fn open(proxy: &Proxy, client: u32) -> TcpStream {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            route(proxy, client).path("/v1/ws")
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s
    }

    /// Opens a connection of `client` the way an HTTP client does (the header names it).
    async fn open_http(proxy: &Proxy, client: u32) -> TcpStream {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let (name, value) = route(proxy, client).header();
        let head = format!("GET /sync HTTP/1.1\r\nHost: 127.0.0.1\r\n{name}: {value}\r\n\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s
    }

    /// Reads exactly `n` bytes, or fails the test after 10 s (a hang is a bug).
    async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut v))
            .await
            .expect("bytes within 10s")
            .expect("read");
        v
    }

    /// Waits (bounded) until the proxy has registered `client`'s connection.
    async fn registered(proxy: &Proxy, client: u32) {
        registered_n(proxy, client, 1).await;
    }

    /// Waits (bounded) until the proxy has registered `n` connections of `client`.
    async fn registered_n(proxy: &Proxy, client: u32, n: usize) {
        for _ in 0..1000 {
            if proxy.connections(UserId(client)) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("client {client} never had {n} connection(s) registered");
    }

    /// Asserts that `s` ends (reset or EOF) within bounded time.
    async fn ends(s: &mut TcpStream) {
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the cut reaches the client");
        assert!(matches!(r, Ok(0) | Err(_)), "read {r:?} after a cut");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_pass_through_unchanged_even_when_delayed() {
        let (up, mut heads) = echo_server().await;
        let proxy = Proxy::start(up, 1).await.unwrap();
        proxy.set_delay(Some(DelayFault {
            p: 0.5,
            dist: DelayDist::Uniform {
                min: crate::scenario::Dur::from_millis(0),
                max: crate::scenario::Dur::from_millis(3),
            },
        }));
        let mut s = open(&proxy, 7).await;
        let head = heads.recv().await.unwrap();
        assert_eq!(head, b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        // 200 writes of distinct content, echoed back in order and byte for byte.
        let mut sent = Vec::new();
        for i in 0..200u32 {
            let chunk: Vec<u8> = (0..(i % 97 + 1)).map(|j| (i * 31 + j) as u8).collect();
            s.write_all(&chunk).await.unwrap();
            sent.extend_from_slice(&chunk);
        }
        let got = read_n(&mut s, sent.len()).await;
        assert_eq!(got, sent);
        assert!(proxy.counters().delayed_chunks.load(Ordering::Relaxed) > 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_closes_both_ends_and_only_that_client() {
        let (up, mut heads) = echo_server().await;
        let proxy = Proxy::start(up, 2).await.unwrap();
        let mut a = open(&proxy, 1).await;
        let mut b = open(&proxy, 2).await;
        heads.recv().await.unwrap();
        heads.recv().await.unwrap();
        registered(&proxy, 1).await;
        registered(&proxy, 2).await;
        a.write_all(b"ping").await.unwrap();
        assert_eq!(read_n(&mut a, 4).await, b"ping");
        assert!(proxy.cut(UserId(1)));
        assert!(
            !proxy.cut(UserId(1)),
            "a cut connection is no longer addressable"
        );
        // The client side ends (reset or EOF), within bounded time.
        ends(&mut a).await;
        // The other client is untouched.
        b.write_all(b"still").await.unwrap();
        assert_eq!(read_n(&mut b, 5).await, b"still");
        // The upstream side ended too: the proxy forgot the connection (its pumps returned).
        for _ in 0..1000 {
            if !lock(&proxy.shared.conns).contains_key(&UserId(1)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!lock(&proxy.shared.conns).contains_key(&UserId(1)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stall_holds_everything_then_releases_it_in_order() {
        let (up, mut heads) = echo_server().await;
        let proxy = Proxy::start(up, 3).await.unwrap();
        let mut s = open(&proxy, 9).await;
        heads.recv().await.unwrap();
        registered(&proxy, 9).await;
        // A stall far longer than the test: nothing may come through while it holds.
        assert!(proxy.stall(UserId(9), Duration::from_secs(3600)));
        let mut sent = Vec::new();
        for i in 0..50u8 {
            let chunk = [i; 10];
            s.write_all(&chunk).await.unwrap();
            sent.extend_from_slice(&chunk);
        }
        // Let the bytes reach the proxy; none may come back. (A short wait that can only
        // make a broken stall pass, never a working one fail.)
        let mut buf = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        assert!(early.is_err(), "bytes came through a stalled connection");
        // End the stall by replacing it with one already over.
        lock(&proxy.shared.conns)[&UserId(9)][0]
            .ctl
            .send_modify(|c| c.stall_until = Some(Instant::now()));
        assert_eq!(read_n(&mut s, sent.len()).await, sent);
    }

    /// An HTTP backend's client holds several connections (a long poll plus requests): the
    /// proxy keeps them all, and one cut resets every one of them, and only them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_closes_every_connection_of_the_client() {
        let (up, mut heads) = echo_server().await;
        let proxy = Proxy::start(up, 4).await.unwrap();
        let mut poll = open_http(&proxy, 3).await;
        let mut req = open(&proxy, 3).await;
        let mut other = open_http(&proxy, 4).await;
        for _ in 0..3 {
            let head = heads.recv().await.unwrap();
            assert!(!head.windows(7).any(|w| w == b"readsim"), "{head:?}");
        }
        registered_n(&proxy, 3, 2).await;
        registered(&proxy, 4).await;
        for s in [&mut poll, &mut req] {
            s.write_all(b"ping").await.unwrap();
            assert_eq!(read_n(s, 4).await, b"ping");
        }
        assert!(proxy.cut(UserId(3)));
        assert_eq!(proxy.connections(UserId(3)), 0);
        assert!(!proxy.cut(UserId(3)));
        ends(&mut poll).await;
        ends(&mut req).await;
        other.write_all(b"still").await.unwrap();
        assert_eq!(read_n(&mut other, 5).await, b"still");
        // A new connection after the cut is addressable again.
        let _again = open_http(&proxy, 3).await;
        heads.recv().await.unwrap();
        registered(&proxy, 3).await;
        assert!(proxy.stall(UserId(3), Duration::from_millis(1)));
    }
}
