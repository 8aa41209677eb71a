//! The client table: where each client's connection stands and which connection is its
//! current one, so frames of an older connection are recognised as stale.

use crate::history::Device;
use crate::protocol::UserId;

/// Numbers a client's connections: 0 is the first, and every cut moves on to the next, so
/// anything sent on or received from an older connection no longer matches.
pub type ConnNo = u32;

/// No connection (a client that had none open when the server crashed).
const NO_CONN: ConnNo = ConnNo::MAX;

/// Where a client's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Never connects (offline user).
    Never,
    Up,
    /// Cut; the driver reconnects it later.
    Offline,
    /// A reconnect is under way (live: the socket is being opened).
    Reconnecting,
    /// Reconnecting failed for good.
    Dead,
}

/// Per client: its link and its current connection number; plus which closes a crash of
/// the server explains.
pub struct Clients {
    link: Vec<Link>,
    conn: Vec<ConnNo>,
    /// Closes are expected (a crash is in progress) until the server is back.
    crash_closes: bool,
    /// Per client, the connection it had open (or was opening) when the server last
    /// crashed ([`NO_CONN`]: none; empty before the first crash): its close is expected
    /// even when it arrives after the restart (e.g. held up by a stall).
    crashed_conn: Vec<ConnNo>,
    /// Connections per online user (`[population] devices`); they come and go together.
    devices: u8,
}

impl Clients {
    /// One entry per user; `online(u)` says whether user `u` is connected from the start.
    pub fn new(users: usize, online: impl Fn(UserId) -> bool) -> Clients {
        Clients {
            link: (0..users)
                .map(|u| {
                    if online(UserId(u as u32)) {
                        Link::Up
                    } else {
                        Link::Never
                    }
                })
                .collect(),
            conn: vec![0; users],
            crash_closes: false,
            crashed_conn: Vec::new(),
            devices: 1,
        }
    }

    /// Each online user holds `devices` connections (at least 1).
    pub fn with_devices(mut self, devices: u8) -> Clients {
        self.devices = devices.max(1);
        self
    }

    /// Connections per online user.
    pub fn devices(&self) -> u8 {
        self.devices
    }

    /// The device operation `op` goes out on: one after the other by operation id (device
    /// 0 only when a user holds one connection), so the choice draws nothing and is the
    /// same in every driver.
    pub fn device_for(&self, op: u64) -> Device {
        Device((op % u64::from(self.devices)) as u8)
    }

    pub fn len(&self) -> usize {
        self.link.len()
    }

    pub fn is_empty(&self) -> bool {
        self.link.is_empty()
    }

    pub fn link(&self, client: UserId) -> Link {
        self.link
            .get(client.0 as usize)
            .copied()
            .unwrap_or(Link::Never)
    }

    pub fn set_link(&mut self, client: UserId, link: Link) {
        self.link[client.0 as usize] = link;
    }

    pub fn is_up(&self, client: UserId) -> bool {
        self.link(client) == Link::Up
    }

    /// Clients whose link is up, in id order.
    pub fn up_clients(&self) -> impl Iterator<Item = UserId> + '_ {
        self.link
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == Link::Up)
            .map(|(u, _)| UserId(u as u32))
    }

    pub fn count(&self, link: Link) -> usize {
        self.link.iter().filter(|l| **l == link).count()
    }

    /// Whether any client is cut or reconnecting (not yet back).
    pub fn any_away(&self) -> bool {
        self.link
            .iter()
            .any(|l| matches!(l, Link::Offline | Link::Reconnecting))
    }

    /// `client`'s current connection number.
    pub fn conn(&self, client: UserId) -> ConnNo {
        self.conn[client.0 as usize]
    }

    /// Whether `conn` is `client`'s current connection (frames of older ones are stale).
    pub fn current(&self, client: UserId, conn: ConnNo) -> bool {
        self.conn.get(client.0 as usize) == Some(&conn)
    }

    /// `client`'s connection is gone: it is offline and its next connection gets the next
    /// number.
    pub fn cut(&mut self, client: UserId) {
        let c = client.0 as usize;
        self.link[c] = Link::Offline;
        self.conn[c] += 1;
    }

    /// `client`'s current connection is up.
    pub fn up(&mut self, client: UserId) {
        self.link[client.0 as usize] = Link::Up;
    }

    /// The server crashed: every connection open now is expected to close.
    pub fn expect_crash_closes(&mut self) {
        self.crash_closes = true;
        self.crashed_conn = (self.link.iter().zip(&self.conn))
            .map(|(l, &c)| match l {
                Link::Up | Link::Reconnecting => c,
                Link::Never | Link::Offline | Link::Dead => NO_CONN,
            })
            .collect();
    }

    /// The server is back: closes from now on need another explanation, except those of
    /// connections the crash caught.
    pub fn crash_over(&mut self) {
        self.crash_closes = false;
    }

    /// Whether a crash explains the close of `client`'s connection `conn`.
    pub fn close_expected(&self, client: UserId, conn: ConnNo) -> bool {
        self.crash_closes || self.crashed_conn.get(client.0 as usize) == Some(&conn)
    }
}
