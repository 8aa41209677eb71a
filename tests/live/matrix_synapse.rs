//! A real Synapse through readsim's launcher, HTTP client and `/sync` parser: users, a room,
//! messages, receipts (forward, older, by a non-member), membership, then a crash and a
//! restart on the same database.
//!
//! Needs a Synapse venv: `--synapse-venv`'s lookup (`READSIM_SYNAPSE_VENV`, else
//! `~/.cache/readsim/synapse-venv`, made by `scripts/install-synapse.sh`). Without one the
//! test fails and says how to install it; `READSIM_SKIP_SYNAPSE=1` skips it instead.

use readsim::matrix::client::{MatrixClient, NewRoom, user_http_client};
use readsim::matrix::error::{ErrCode, MatrixError};
use readsim::matrix::events::RoomEvent;
use readsim::matrix::register::{Session, provision};
use readsim::matrix::synapse::{Synapse, find_venv};
use readsim::matrix::synapse_config::RATE_LIMITS;
use std::path::PathBuf;
use std::time::Duration;

/// The venv, or None when the run asked to skip. With no venv, the test installs one with
/// `scripts/install-synapse.sh` (once per test binary; ~2 min, from PyPI), so plain
/// `cargo test` works on a fresh machine; it panics with the install command if that fails.
fn venv_or_skip() -> Option<PathBuf> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok((venv, _)) = find_venv(None) {
        return Some(venv);
    }
    if std::env::var("READSIM_SKIP_SYNAPSE").as_deref() == Ok("1") {
        eprintln!("READSIM_SKIP_SYNAPSE=1: skipping the Synapse test (no Synapse venv)");
        return None;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install-synapse.sh");
    eprintln!("no Synapse venv: installing one with {}", script.display());
    let out = std::process::Command::new("bash").arg(&script).output();
    match find_venv(None) {
        Ok((venv, _)) => Some(venv),
        Err(e) => panic!(
            "{e}\n(installing with {} gave {out:?}; or set READSIM_SKIP_SYNAPSE=1 to skip the \
             Synapse tests)",
            script.display()
        ),
    }
}

fn client(hs: &Synapse, n: u32) -> MatrixClient {
    MatrixClient::new(
        user_http_client().unwrap(),
        &hs.base_url,
        &format!("readsim_client={n}"),
    )
    .unwrap()
    .with_timeout(Duration::from_secs(30))
}

fn receipts(events: &[RoomEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Receipt { user, event_id, .. } => Some((user.clone(), event_id.clone())),
            _ => None,
        })
        .collect()
}

fn messages(events: &[RoomEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Message { event_id, .. } => Some(event_id.clone()),
            _ => None,
        })
        .collect()
}

/// Long-polls `c`'s `/sync` from `since` until `done` holds for what the room got so far
/// (at most 10 polls); returns the room's events and the last token.
async fn sync_until(
    c: &MatrixClient,
    since: &str,
    room: &str,
    done: impl Fn(&[RoomEvent]) -> bool,
) -> (Vec<RoomEvent>, String) {
    let (mut got, mut since) = (Vec::new(), since.to_string());
    for _ in 0..10 {
        let batch = c.sync(Some(&since), Duration::from_secs(5)).await.unwrap();
        since = batch.next_batch;
        for u in batch.rooms.into_iter().filter(|u| u.room_id == room) {
            got.extend(u.events);
        }
        if done(&got) {
            return (got, since);
        }
    }
    panic!("the sync never delivered what was expected; got {got:?}");
}

struct Made {
    room: String,
    events: Vec<String>,
    a: Session,
}

/// Alice, Bob and Carol; provisioning Alice again logs her in (M_USER_IN_USE falls back),
/// so provisioning is idempotent.
async fn three_users(hs: &Synapse) -> Vec<Session> {
    let anon = client(hs, 0);
    let mut users = Vec::new();
    for name in ["alice", "bob", "carol"] {
        users.push(
            provision(&anon, &hs.shared_secret, name, "pw")
                .await
                .unwrap(),
        );
    }
    let again = provision(&anon, &hs.shared_secret, "alice", "pw")
        .await
        .unwrap();
    assert_eq!(again.user_id, users[0].user_id);
    assert_ne!(again.access_token, users[0].access_token);
    users
}

/// Users, a room, 3 messages, receipts and membership changes, checked through `/sync`.
async fn before_the_crash(hs: &Synapse) -> Made {
    let mut users = three_users(hs).await;
    let [a, b, c] =
        [1, 2, 3].map(|n| client(hs, n).with_token(&users[n as usize - 1].access_token));
    let (ua, ub) = (hs.user_id("alice"), hs.user_id("bob"));
    assert_eq!(users[1].user_id, ub);

    let new = NewRoom {
        invite: vec![ub.clone()],
        ..NewRoom::default()
    };
    let room = a.create_room(&new).await.unwrap();
    assert_eq!(b.join(&room).await.unwrap(), room);
    let mut events = Vec::new();
    for (i, need) in [true, false, true].into_iter().enumerate() {
        events.push(
            a.send_text(&room, &format!("t{i}"), &format!("m{i}"), need)
                .await
                .unwrap(),
        );
    }
    // The same transaction id is the same event (a lost answer can be retried safely).
    assert_eq!(
        a.send_text(&room, "t0", "m0", true).await.unwrap(),
        events[0]
    );

    let first = a.sync(None, Duration::ZERO).await.unwrap();
    let mine = first.rooms.iter().find(|u| u.room_id == room).unwrap();
    assert_eq!(messages(&mine.events), events, "timeline in send order");
    assert!(mine.events.contains(&RoomEvent::Membership {
        user: ub.clone(),
        joined: true
    }));
    assert!(matches!(&mine.events[mine.events.len() - 1],
        RoomEvent::Message { need_read_receipt: true, sender, .. } if *sender == ua));
    let b_since = b.sync(None, Duration::ZERO).await.unwrap().next_batch;

    let since = receipts_reach_the_sender([&a, &b, &c], &room, &events, &first.next_batch).await;

    assert_eq!(
        a.joined_members(&room).await.unwrap(),
        [ua.clone(), ub.clone()]
    );
    let page = b.messages(&room, 3, None).await.unwrap();
    assert_eq!(
        messages(&page.events),
        events.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert!(page.end.is_some());

    membership_changes(&a, &b, &c, &room, (&since, &b_since)).await;
    Made {
        room,
        events,
        a: users.swap_remove(0),
    }
}

/// Bob reads the 2nd message, then the 1st (older: 200, not stored); Carol, not a member,
/// is refused; Bob's read marker on the 3rd. Alice's sync gets exactly Bob's two moves.
async fn receipts_reach_the_sender(
    [a, b, c]: [&MatrixClient; 3],
    room: &str,
    events: &[String],
    since: &str,
) -> String {
    let ub = "@bob:localhost".to_string();
    b.read_receipt(room, &events[1]).await.unwrap();
    b.read_receipt(room, &events[0]).await.unwrap();
    let e = c.read_receipt(room, &events[2]).await.unwrap_err();
    assert_eq!(e.errcode(), Some(&ErrCode::Forbidden), "{e}");
    assert_eq!(e.status(), Some(403));
    let (got, since) = sync_until(a, since, room, |g| !receipts(g).is_empty()).await;
    assert_eq!(receipts(&got), [(ub.clone(), events[1].clone())]);
    // A later receipt arrives after it: had the older one been stored, it would be between.
    b.read_markers(room, &events[2]).await.unwrap();
    let (got, since) = sync_until(a, &since, room, |g| !receipts(g).is_empty()).await;
    assert_eq!(receipts(&got), [(ub, events[2].clone())]);
    since
}

/// Bob leaves (Alice sees it, Bob's sync lists the room as left); Carol is invited (her sync
/// lists the invite), joins and is kicked.
async fn membership_changes(
    a: &MatrixClient,
    b: &MatrixClient,
    c: &MatrixClient,
    room: &str,
    (a_since, b_since): (&str, &str),
) {
    let (ub, uc) = ("@bob:localhost".to_string(), "@carol:localhost".to_string());
    let c_since = c.sync(None, Duration::ZERO).await.unwrap().next_batch;
    b.leave(room).await.unwrap();
    let left = RoomEvent::Membership {
        user: ub.clone(),
        joined: false,
    };
    let (got, a_since) = sync_until(a, a_since, room, |g| g.contains(&left)).await;
    assert_eq!(got, std::slice::from_ref(&left));
    let (got, _) = sync_until(b, b_since, room, |g| g.contains(&left)).await;
    assert!(got.contains(&left), "{got:?}");

    a.invite(room, &uc).await.unwrap();
    let mut invited = false;
    for _ in 0..10 {
        let batch = c
            .sync(Some(&c_since), Duration::from_secs(5))
            .await
            .unwrap();
        if batch.invited.iter().any(|r| r == room) {
            invited = true;
            break;
        }
    }
    assert!(invited, "carol's sync never listed the invite");
    c.join(room).await.unwrap();
    a.kick(room, &uc, Some("test")).await.unwrap();
    let kicked = RoomEvent::Membership {
        user: uc.clone(),
        joined: false,
    };
    let (got, _) = sync_until(a, &a_since, room, |g| g.contains(&kicked)).await;
    let joined = RoomEvent::Membership {
        user: uc,
        joined: true,
    };
    assert_eq!(got, [joined, kicked], "the invite is not reported");
}

/// After the restart: tokens, room, messages and receipts are all still there.
async fn after_the_restart(hs: &Synapse, made: &Made) {
    let a = client(hs, 1).with_token(&made.a.access_token);
    let batch = a.sync(None, Duration::ZERO).await.unwrap();
    let room = batch.rooms.iter().find(|u| u.room_id == made.room).unwrap();
    assert_eq!(messages(&room.events), made.events);
    assert!(
        receipts(&room.events).contains(&("@bob:localhost".to_string(), made.events[2].clone()))
    );
    assert_eq!(
        a.joined_members(&made.room).await.unwrap(),
        ["@alice:localhost"]
    );
    a.send_text(&made.room, "after", "m3", true).await.unwrap();
    let anon = client(hs, 0);
    let again = provision(&anon, &hs.shared_secret, "bob", "pw")
        .await
        .unwrap();
    assert_eq!(again.user_id, "@bob:localhost");
}

#[test]
fn synapse_launcher_client_and_sync_parser_against_a_real_homeserver() {
    let Some(venv) = venv_or_skip() else { return };
    let out = tempfile::tempdir().unwrap();
    let mut hs = Synapse::start(&venv, out.path()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let made = rt.block_on(before_the_crash(&hs));

    hs.kill();
    let down = rt.block_on(
        client(&hs, 1)
            .with_token(&made.a.access_token)
            .leave(&made.room),
    );
    match down {
        Err(e @ MatrixError::Transport { .. }) => assert!(!e.may_have_been_sent(), "{e}"),
        other => panic!("a call to a killed Synapse: {other:?}"),
    }
    let moved = hs.restart().unwrap();
    assert!(!moved, "the port was free again");
    rt.block_on(after_the_restart(&hs, &made));
    hs.stop();
    let log = std::fs::read_to_string(out.path().join("synapse/synapse.log")).unwrap();
    assert!(log.contains("killed Synapse (SIGKILL)") && log.contains("restart #1"));
    assert!(out.path().join("synapse/homeserver.db").exists());
}

/// Every rate limiter this Synapse reads is raised by readsim's config.
#[test]
fn the_config_raises_every_rate_limit_synapse_has() {
    let Some(venv) = venv_or_skip() else { return };
    let lib = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let src = lib.join("site-packages/synapse/config/ratelimiting.py");
    let text = std::fs::read_to_string(&src).unwrap();
    // Keys of the old-style message limiter and of federation (off here) are not limiters
    // readsim's traffic can meet.
    let not_limiters = [
        "rc_messages",
        "rc_messages_per_second",
        "rc_message_burst_count",
        "rc_federation",
        "rc_remote_media_downloads",
    ];
    let mut missing = Vec::new();
    for piece in text.split("\"rc_").skip(1) {
        let key = format!("rc_{}", piece.split('"').next().unwrap_or(""));
        if !RATE_LIMITS.contains(&key.as_str()) && !not_limiters.contains(&key.as_str()) {
            missing.push(key);
        }
    }
    assert!(
        missing.is_empty(),
        "{} reads rate limits readsim does not raise: {missing:?}",
        src.display()
    );
}
