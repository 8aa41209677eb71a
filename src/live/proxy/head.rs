//! The first request head of a proxied connection: which client it names (the query
//! parameter on the request line, or the header) and the head without that name, so the
//! server sees exactly the documented wire. [`ClientRoute`] is the other side: what a
//! backend puts on its connections so the proxy can file them.

use crate::protocol::UserId;
use std::net::SocketAddr;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The query parameter that names the client on the upgrade request (removed by the proxy).
pub const CLIENT_PARAM: &str = "readsim_client";

/// The header that names the client on an HTTP request (removed from a connection's first
/// head by the proxy), for clients that cannot put a parameter on every connection's first
/// request line.
pub const CLIENT_HEADER: &str = "x-readsim-client";

/// Largest upgrade head the proxy reads before giving up on finding the client id.
const MAX_HEAD: usize = 16 * 1024;

/// How one client reaches the target through the proxy: a backend connects to
/// [`ClientRoute::base_url`] and names the client on each connection's first request, by
/// [`ClientRoute::path`] (a WebSocket upgrade) or [`ClientRoute::header`] (an HTTP client's
/// default header, so every pooled connection carries it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRoute {
    /// The proxy's `127.0.0.1:PORT`.
    pub proxy: SocketAddr,
    pub client: UserId,
}

impl ClientRoute {
    /// `SCHEME://127.0.0.1:PORT`: the proxied base URL of the client (`ws`, `http`).
    pub fn base_url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.proxy)
    }

    /// `path` (with or without a query) with the client parameter added to its query.
    pub fn path(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}{CLIENT_PARAM}={}", self.client.0)
    }

    /// The header (name, value) that names the client.
    pub fn header(&self) -> (&'static str, String) {
        (CLIENT_HEADER, self.client.0.to_string())
    }
}

/// Reads up to the end of the HTTP request head; returns it without the client parameter.
pub(super) async fn read_head(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Option<UserId>)> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::other("upgrade head too long"));
        }
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(strip_client(head))
}

/// Takes the client's name out of the head (the query parameter, else the header);
/// everything else stays as sent (including any bytes after the head, which belong to the
/// stream).
fn strip_client(head: Vec<u8>) -> (Vec<u8>, Option<UserId>) {
    match strip_param(head) {
        (head, Some(c)) => (head, Some(c)),
        (head, None) => strip_header(head),
    }
}

/// Takes the `x-readsim-client: N` line out of the head's header lines.
fn strip_header(head: Vec<u8>) -> (Vec<u8>, Option<UserId>) {
    let crlf = |from: usize| {
        head[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let (Some(first), Some(end)) = (crlf(0), head.windows(4).position(|w| w == b"\r\n\r\n")) else {
        return (head, None);
    };
    // Header lines run from after the request line up to the blank line at `end + 2`.
    let mut start = first + 2;
    while start < end + 2 {
        let Some(eol) = crlf(start) else { break };
        if let Some(client) = header_client(&head[start..eol]) {
            let mut out = head[..start].to_vec();
            out.extend_from_slice(&head[eol + 2..]);
            return (out, Some(client));
        }
        start = eol + 2;
    }
    (head, None)
}

fn header_client(line: &[u8]) -> Option<UserId> {
    let (name, value) = std::str::from_utf8(line).ok()?.split_once(':')?;
    if !name.trim().eq_ignore_ascii_case(CLIENT_HEADER) {
        return None;
    }
    value.trim().parse().ok().map(UserId)
}

/// Takes `readsim_client=N` out of the request line's query.
fn strip_param(head: Vec<u8>) -> (Vec<u8>, Option<UserId>) {
    let Some(eol) = head.windows(2).position(|w| w == b"\r\n") else {
        return (head, None);
    };
    let Ok(line) = std::str::from_utf8(&head[..eol]) else {
        return (head, None);
    };
    let mut parts = line.splitn(3, ' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return (head, None);
    };
    let Some((path, query)) = target.split_once('?') else {
        return (head, None);
    };
    let mut client = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            match kv
                .strip_prefix(CLIENT_PARAM)
                .and_then(|v| v.strip_prefix('='))
            {
                Some(v) => {
                    client = v.parse().ok().map(UserId);
                    false
                }
                None => true,
            }
        })
        .collect();
    if client.is_none() {
        return (head, None);
    }
    let target = if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    let mut out = format!("{method} {target} {version}").into_bytes();
    out.extend_from_slice(&head[eol..]);
    (out, client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_parameter_is_taken_out_of_the_request_line() {
        let head = b"GET /v1/ws?readsim_client=17 HTTP/1.1\r\nHost: x\r\n\r\nEXTRA".to_vec();
        let (out, c) = strip_client(head);
        assert_eq!(c, Some(UserId(17)));
        assert_eq!(out, b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\nEXTRA");
        let head = b"GET /v1/ws?a=1&readsim_client=3&b=2 HTTP/1.1\r\n\r\n".to_vec();
        let (out, c) = strip_client(head);
        assert_eq!(c, Some(UserId(3)));
        assert_eq!(out, b"GET /v1/ws?a=1&b=2 HTTP/1.1\r\n\r\n");
        let plain = b"GET /v1/ws HTTP/1.1\r\n\r\n".to_vec();
        assert_eq!(strip_client(plain.clone()), (plain, None));
        let bad = b"GET /v1/ws?readsim_client=x HTTP/1.1\r\n\r\n".to_vec();
        assert_eq!(strip_client(bad.clone()), (bad, None));
    }

    #[test]
    fn the_client_header_is_taken_out_of_the_head() {
        let head =
            b"GET /sync HTTP/1.1\r\nHost: x\r\nX-Readsim-Client: 42\r\nA: b\r\n\r\nBODY".to_vec();
        let (out, c) = strip_client(head);
        assert_eq!(c, Some(UserId(42)));
        assert_eq!(out, b"GET /sync HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\nBODY");
        // Only the head is read: a header-like line in the body stays.
        let head = b"POST / HTTP/1.1\r\n\r\nx-readsim-client: 1\r\n".to_vec();
        assert_eq!(strip_client(head.clone()), (head, None));
        let route = ClientRoute {
            proxy: "127.0.0.1:9".parse().unwrap(),
            client: UserId(5),
        };
        assert_eq!(route.base_url("http"), "http://127.0.0.1:9");
        assert_eq!(route.path("/v1/ws"), "/v1/ws?readsim_client=5");
        assert_eq!(route.path("/s?a=1"), "/s?a=1&readsim_client=5");
        assert_eq!(route.header(), ("x-readsim-client", "5".to_string()));
    }
}
