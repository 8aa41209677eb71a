//! What reaches the scheduler: frames parsed on the connections' reader tasks, closes,
//! and the results of what the fault links did (reconnects, restarts, churn calls).

use crate::driver::ConnNo;
use crate::history::Device;
use crate::protocol::{AdminRequest, Micros, Response, UserId};
use crate::wire::{ClientFrame, PushFrame, ResponseFrame};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// A frame from the server, parsed on the connection's reader task.
#[derive(Debug)]
pub enum Incoming {
    Response(ResponseFrame),
    Push(PushFrame),
    /// Not JSON of a known frame shape: the server does not speak docs/protocol.md.
    Bad(String),
}

impl Incoming {
    /// Parses one text frame (push frames carry a `push` field, responses do not).
    pub fn parse(text: &str) -> Incoming {
        if text.contains("\"push\"")
            && let Ok(p) = serde_json::from_str::<PushFrame>(text)
        {
            return Incoming::Push(p);
        }
        match serde_json::from_str::<ResponseFrame>(text) {
            Ok(r) => Incoming::Response(r),
            Err(e) => Incoming::Bad(format!("{e}: {}", truncate(text, 200))),
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What a connection's reader task (or a fault task) hands the scheduler. `conn` numbers the
/// client's connections (0 = the first): anything from a connection the scheduler already
/// gave up on is stale and ignored.
#[derive(Debug)]
pub enum Inbound {
    Frame {
        client: UserId,
        /// The device whose connection it came on.
        device: Device,
        conn: ConnNo,
        /// When the reader got it off the socket.
        at: Instant,
        frame: Incoming,
    },
    /// The connection ended (server closed it, or a read failed).
    Closed {
        client: UserId,
        device: Device,
        conn: ConnNo,
        reason: String,
    },
    /// A new connection of `client`'s `device` is open (after
    /// [`super::FaultLinks::reconnect`]); the client is back once every device is.
    Connected {
        client: UserId,
        device: Device,
        conn: ConnNo,
        tx: UnboundedSender<ClientFrame>,
    },
    /// Reconnecting `client` failed for good (bounded attempts).
    ReconnectFailed {
        client: UserId,
        conn: ConnNo,
        detail: String,
    },
    /// The crashed server is up again (Ok) or could not be restarted (Err: why).
    ServerUp(Result<(), String>),
    /// A churn admin operation invoked at `invoked` was answered (Err: it could not be sent).
    AdminDone {
        invoked: Micros,
        at: Instant,
        req: AdminRequest,
        resp: Result<Response, String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_pushes_responses_or_bad() {
        assert!(matches!(
            Incoming::parse(r#"{"push":"hello","user_id":"u1","protocol":"readsim/1"}"#),
            Incoming::Push(PushFrame::Hello { .. })
        ));
        assert!(matches!(
            Incoming::parse(r#"{"id":3,"ok":{"timestamp_ms":5}}"#),
            Incoming::Response(ResponseFrame { id: Some(3), .. })
        ));
        assert!(matches!(Incoming::parse("not json"), Incoming::Bad(_)));
    }
}
