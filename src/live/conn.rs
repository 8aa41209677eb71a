//! One WebSocket per virtual client: connect with the user's token, wait for the server's
//! `hello`, then a reader task (parses frames, forwards them to the scheduler) and a writer
//! task (serialises request frames, batches them into one flush when several are queued).

use super::LiveError;
use super::inbound::{Inbound, Incoming};
use crate::driver::ConnNo;
use crate::protocol::UserId;
use crate::wire::{ClientFrame, PushFrame};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Read buffer per socket, in bytes (larger frames are read in several pieces).
const READ_BUFFER: usize = 8 * 1024;

/// How long the server may take to accept a connection and send `hello`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens `url` (`ws://HOST:PORT/v1/ws`, with a query through the fault proxy) as the holder
/// of `token` and waits for the `hello` push.
pub async fn connect(url: &str, token: &str, client: UserId) -> Result<Ws, LiveError> {
    let fail = |detail: String| LiveError::Connect {
        client: client.0,
        detail,
    };
    let mut req = url.into_client_request().map_err(|e| fail(e.to_string()))?;
    let auth =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| fail(e.to_string()))?;
    req.headers_mut().insert("authorization", auth);
    let fut = async {
        // Frames are small: tungstenite zero-fills its whole read buffer (128 KiB by default)
        // on every read, which dominated the harness's CPU with thousands of sockets.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
            .await
            .map_err(|e| fail(e.to_string()))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return match Incoming::parse(t.as_str()) {
                        Incoming::Push(PushFrame::Hello { .. }) => Ok(ws),
                        _ => Err(fail(format!(
                            "the first frame was not the hello push: {}",
                            t.as_str()
                        ))),
                    };
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(fail(format!("closed before hello: {c:?}")));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(fail(e.to_string())),
                None => return Err(fail("closed before hello".into())),
            }
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| fail(format!("no hello within {CONNECT_TIMEOUT:?}")))?
}

/// The tasks of one open connection.
pub struct Conn {
    /// Request frames to send; dropping it closes the socket.
    pub tx: UnboundedSender<ClientFrame>,
    pub reader: JoinHandle<()>,
    pub writer: JoinHandle<()>,
}

/// Starts the reader and writer of `ws` (connection number `conn` of `client`); frames and
/// the close go to `inbound`. With `announce`, the reader first hands the scheduler the
/// frame sender as [`Inbound::Connected`], so the connection is known before its frames.
pub fn spawn(
    ws: Ws,
    client: UserId,
    conn: ConnNo,
    inbound: UnboundedSender<Inbound>,
    announce: bool,
) -> Conn {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = unbounded_channel::<ClientFrame>();
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            let mut ok = feed(&mut sink, &f).await;
            while ok && let Ok(f) = rx.try_recv() {
                ok = feed(&mut sink, &f).await;
            }
            if !ok || sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let announce = announce.then(|| tx.clone());
    let reader = tokio::spawn(async move {
        if let Some(tx) = announce
            && inbound
                .send(Inbound::Connected { client, conn, tx })
                .is_err()
        {
            return;
        }
        let reason = loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => {
                    let frame = Incoming::parse(t.as_str());
                    let at = Instant::now();
                    let f = Inbound::Frame {
                        client,
                        conn,
                        at,
                        frame,
                    };
                    if inbound.send(f).is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(c))) => break format!("closed by the server: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("read failed: {e}"),
                None => break "closed".to_string(),
            }
        };
        let _ = inbound.send(Inbound::Closed {
            client,
            conn,
            reason,
        });
    });
    Conn { tx, reader, writer }
}

async fn feed<S>(sink: &mut S, f: &ClientFrame) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    match serde_json::to_string(f) {
        Ok(s) => sink.feed(Message::text(s)).await.is_ok(),
        Err(_) => false,
    }
}
