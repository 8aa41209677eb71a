//! The connection registry: which connections are open, per user, as the writer sees them.
//! Only the writer thread touches it, and only after a commit, so a connection is sent frames
//! in commit order. A connection whose bounded queue overflows is a slow consumer: it is told
//! to close and leaves the registry.

use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc};

use super::planted::{Planted, planted};

/// Why the writer told a connection to close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KickReason {
    /// Its send queue overflowed.
    Slow = 1,
    /// The admin API revoked its user's tokens.
    Revoked = 2,
}

/// Set and notified when the writer drops a connection; the socket task then says why and
/// closes.
#[derive(Default)]
pub(crate) struct Kick {
    reason: AtomicU8,
    pub notify: Notify,
}

impl Kick {
    pub(crate) fn kick(&self, why: KickReason) {
        self.reason.store(why as u8, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub(crate) fn reason(&self) -> Option<KickReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(KickReason::Slow),
            2 => Some(KickReason::Revoked),
            _ => None,
        }
    }
}

/// A client connection as the writer sees it: its bounded send queue.
#[derive(Clone)]
pub(crate) struct ConnHandle {
    pub id: u64,
    pub user: i64,
    pub tx: mpsc::Sender<Utf8Bytes>,
    pub kicked: Arc<Kick>,
}

/// Offers a frame to a connection's queue; false if the connection is gone or overflowed
/// (it is then told to close and must leave the registry).
fn offer(c: &ConnHandle, frame: Utf8Bytes) -> bool {
    match c.tx.try_send(frame) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            c.kicked.kick(KickReason::Slow);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

pub(crate) struct Registry {
    /// Per user, its connections in the order they registered.
    by_user: HashMap<i64, Vec<ConnHandle>>,
    /// Connections in the registry, published for `/v1/health` by [`Registry::publish`].
    online: Arc<AtomicUsize>,
    bugs: Planted,
}

impl Registry {
    pub(crate) fn new(online: Arc<AtomicUsize>, bugs: Planted) -> Registry {
        Registry {
            by_user: HashMap::new(),
            online,
            bugs,
        }
    }

    /// Whether `user` has an open connection.
    pub(crate) fn is_online(&self, user: i64) -> bool {
        self.by_user.contains_key(&user)
    }

    /// Whether nobody is connected (then no push needs computing).
    pub(crate) fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    /// Registers `h` after queueing `hello` as its first frame; a connection that cannot take
    /// even that is not registered.
    pub(crate) fn register(&mut self, h: ConnHandle, hello: Utf8Bytes) {
        if offer(&h, hello) {
            self.by_user.entry(h.user).or_default().push(h);
        }
    }

    pub(crate) fn unregister(&mut self, user: i64, conn: u64) {
        self.edit(user, |conns| conns.retain(|c| c.id != conn));
    }

    /// Queues a response for one connection of `user` (dropped if it is gone).
    pub(crate) fn respond(&mut self, user: i64, conn: u64, frame: Utf8Bytes) {
        self.edit(user, |conns| {
            if let Some(i) = conns.iter().position(|c| c.id == conn)
                && !offer(&conns[i], frame)
            {
                conns.swap_remove(i);
            }
        });
    }

    /// Tells every connection of `user` to close (their tokens were revoked) and forgets them.
    pub(crate) fn kick_user(&mut self, user: i64) {
        for c in self.by_user.remove(&user).unwrap_or_default() {
            c.kicked.kick(KickReason::Revoked);
        }
    }

    /// Queues a push for every connection of `user` (each device of the user).
    pub(crate) fn push(&mut self, user: i64, frame: &Utf8Bytes) {
        let only_first = planted!(self.bugs, PushToOneDevice);
        self.edit(user, |conns| {
            let mut n = 0;
            conns.retain(|c| {
                n += 1;
                // The planted bug skips every connection but the first (and keeps them).
                (only_first && n > 1) || offer(c, frame.clone())
            })
        });
    }

    /// Applies `f` to the connections of `user`, dropping the user once none is left.
    fn edit(&mut self, user: i64, f: impl FnOnce(&mut Vec<ConnHandle>)) {
        if let Some(conns) = self.by_user.get_mut(&user) {
            f(conns);
            if conns.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }

    /// Publishes the connection count for `/v1/health`.
    pub(crate) fn publish(&self) {
        let n = self.by_user.values().map(Vec::len).sum();
        self.online.store(n, Ordering::Relaxed);
    }

    /// Forgets every connection (at shutdown); their queues close once the handles drop.
    pub(crate) fn clear(&mut self) {
        self.by_user.clear();
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle with a queue of `cap` frames, and the receiving end of that queue.
    fn conn(id: u64, user: i64, cap: usize) -> (ConnHandle, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(cap);
        let h = ConnHandle {
            id,
            user,
            tx,
            kicked: Arc::new(Kick::default()),
        };
        (h, rx)
    }

    fn drain(rx: &mut mpsc::Receiver<Utf8Bytes>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|f| f.as_str().to_owned())
            .collect()
    }

    fn registry() -> (Registry, Arc<AtomicUsize>) {
        let online = Arc::new(AtomicUsize::new(0));
        (
            Registry::new(Arc::clone(&online), Planted::default()),
            online,
        )
    }

    #[test]
    fn hello_comes_first_then_pushes_reach_every_connection_of_the_user() {
        let (mut r, online) = registry();
        let (a, mut ra) = conn(1, 7, 4);
        let (b, mut rb) = conn(2, 7, 4);
        let (c, mut rc) = conn(3, 8, 4);
        r.register(a, "hello-a".into());
        r.register(b, "hello-b".into());
        r.register(c, "hello-c".into());
        r.push(7, &"p".into());
        r.respond(7, 2, "resp".into());
        r.publish();
        assert_eq!(drain(&mut ra), ["hello-a", "p"]);
        assert_eq!(drain(&mut rb), ["hello-b", "p", "resp"]);
        assert_eq!(drain(&mut rc), ["hello-c"]);
        assert_eq!(online.load(Ordering::Relaxed), 3);
    }

    /// Planted: a push reaches the user's first connection only; the others stay registered
    /// (and still get their responses).
    #[cfg(feature = "planted-bugs")]
    #[test]
    fn a_planted_push_to_one_device_reaches_the_first_connection_only() {
        let bugs = Planted {
            bug: Some(crate::server::ServerBug::PushToOneDevice),
            state: Default::default(),
        };
        let mut r = Registry::new(Arc::new(AtomicUsize::new(0)), bugs);
        let (a, mut ra) = conn(1, 7, 4);
        let (b, mut rb) = conn(2, 7, 4);
        r.register(a, "hello-a".into());
        r.register(b, "hello-b".into());
        r.push(7, &"p".into());
        r.respond(7, 2, "resp".into());
        assert_eq!(drain(&mut ra), ["hello-a", "p"]);
        assert_eq!(drain(&mut rb), ["hello-b", "resp"]);
    }

    #[test]
    fn an_overflowing_connection_is_kicked_and_leaves() {
        let (mut r, online) = registry();
        let (a, mut ra) = conn(1, 7, 2);
        let kicked = Arc::clone(&a.kicked);
        r.register(a, "hello".into());
        r.push(7, &"p1".into());
        assert_eq!(kicked.reason(), None);
        r.push(7, &"p2".into());
        assert_eq!(
            kicked.reason(),
            Some(KickReason::Slow),
            "the third frame overflows"
        );
        assert!(!r.is_online(7) && r.is_empty());
        r.publish();
        assert_eq!(online.load(Ordering::Relaxed), 0);
        assert_eq!(drain(&mut ra), ["hello", "p1"]);
    }

    #[test]
    fn a_response_that_overflows_kicks_only_its_connection() {
        let (mut r, _) = registry();
        let (a, _ra) = conn(1, 7, 1);
        let (b, mut rb) = conn(2, 7, 4);
        r.register(a, "hello".into());
        r.register(b, "hello".into());
        r.respond(7, 1, "resp".into());
        r.push(7, &"p".into());
        assert!(r.is_online(7));
        assert_eq!(drain(&mut rb), ["hello", "p"]);
    }

    #[test]
    fn a_closed_or_full_connection_is_not_registered() {
        let (mut r, _) = registry();
        let (a, ra) = conn(1, 7, 1);
        drop(ra);
        r.register(a, "hello".into());
        assert!(!r.is_online(7));
        let (b, _rb) = conn(2, 8, 1);
        b.tx.try_send("filler".into()).unwrap();
        r.register(b, "hello".into());
        assert!(!r.is_online(8));
    }

    #[test]
    fn kick_user_closes_every_connection_of_that_user_only() {
        let (mut r, _) = registry();
        let (a, _ra) = conn(1, 7, 4);
        let (b, _rb) = conn(2, 7, 4);
        let (c, _rc) = conn(3, 8, 4);
        let (ka, kc) = (Arc::clone(&a.kicked), Arc::clone(&c.kicked));
        for h in [a, b, c] {
            r.register(h, "h".into());
        }
        r.kick_user(7);
        assert_eq!(ka.reason(), Some(KickReason::Revoked));
        assert_eq!(kc.reason(), None);
        assert!(!r.is_online(7) && r.is_online(8));
    }

    #[test]
    fn unregister_removes_only_that_connection() {
        let (mut r, online) = registry();
        let (a, _ra) = conn(1, 7, 4);
        let (b, _rb) = conn(2, 7, 4);
        r.register(a, "h".into());
        r.register(b, "h".into());
        r.unregister(7, 1);
        r.publish();
        assert_eq!(online.load(Ordering::Relaxed), 1);
        r.unregister(7, 2);
        assert!(r.is_empty());
        // Responses for a connection that is gone are dropped quietly.
        r.respond(7, 2, "late".into());
        r.clear();
        assert_eq!(online.load(Ordering::Relaxed), 0);
    }
}
