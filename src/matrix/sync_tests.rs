//! Hand-written `/sync` bodies in the shapes Synapse 1.163 returns.

use super::*;
use serde_json::json;

fn msg(id: &str, sender: &str, ts: u64, need: Option<bool>) -> Value {
    let mut content = json!({"msgtype": "m.text", "body": "hi"});
    if let Some(n) = need {
        content[NEED_READ_RECEIPT] = json!(n);
    }
    json!({
        "type": "m.room.message", "event_id": id, "sender": sender,
        "origin_server_ts": ts, "content": content,
        "unsigned": {"age": 12, "transaction_id": "t1"}
    })
}

fn member(user: &str, membership: &str) -> Value {
    json!({
        "type": "m.room.member", "event_id": format!("$m-{user}-{membership}"),
        "sender": user, "state_key": user, "origin_server_ts": 5,
        "content": {"membership": membership, "displayname": "x"}
    })
}

fn message(id: &str, sender: &str, ts: u64, need: bool) -> RoomEvent {
    RoomEvent::Message {
        event_id: id.into(),
        sender: sender.into(),
        need_read_receipt: need,
        ts_ms: ts,
    }
}

fn receipt(user: &str, ev: &str, ts: u64) -> RoomEvent {
    RoomEvent::Receipt {
        user: user.into(),
        event_id: ev.into(),
        ts_ms: ts,
    }
}

fn joined(user: &str, joined: bool) -> RoomEvent {
    RoomEvent::Membership {
        user: user.into(),
        joined,
    }
}

#[test]
fn a_realistic_incremental_sync_gives_timeline_then_receipts() {
    let body = json!({
        "next_batch": "s72595_4483_1934",
        "presence": {"events": []},
        "account_data": {"events": []},
        "device_one_time_keys_count": {"signed_curve25519": 0},
        "rooms": {
            "join": {
                "!r:localhost": {
                    "timeline": {
                        "events": [
                            member("@b:localhost", "join"),
                            msg("$e1", "@a:localhost", 100, Some(true)),
                            {"type": "m.room.topic", "event_id": "$t", "sender": "@a:localhost",
                             "state_key": "", "origin_server_ts": 1, "content": {"topic": "x"}},
                            msg("$e2", "@a:localhost", 101, None),
                            member("@c:localhost", "invite"),
                        ],
                        "limited": false, "prev_batch": "t1"
                    },
                    "state": {"events": []},
                    "ephemeral": {"events": [
                        {"type": "m.typing", "content": {"user_ids": []}},
                        {"type": "m.receipt", "content": {
                            "$e1": {
                                "m.read": {"@b:localhost": {"ts": 200}},
                                "m.read.private": {"@c:localhost": {"ts": 201}}
                            },
                            "$e2": {"m.read": {
                                "@c:localhost": {"ts": 202, "thread_id": "main"},
                                "@d:localhost": {"ts": 203, "thread_id": "$thread"}
                            }}
                        }}
                    ]},
                    "unread_notifications": {"notification_count": 1, "highlight_count": 0},
                    "summary": {}
                },
                "!quiet:localhost": {"timeline": {"events": []}, "ephemeral": {"events": []}}
            }
        }
    });
    let got = parse_sync(&body).unwrap();
    assert_eq!(got.next_batch, "s72595_4483_1934");
    assert!(got.invited.is_empty() && got.gaps.is_empty());
    assert_eq!(got.rooms.len(), 1, "the room without events is left out");
    assert_eq!(got.rooms[0].room_id, "!r:localhost");
    assert_eq!(
        got.rooms[0].events,
        vec![
            joined("@b:localhost", true),
            message("$e1", "@a:localhost", 100, true),
            message("$e2", "@a:localhost", 101, false),
            receipt("@b:localhost", "$e1", 200),
            receipt("@c:localhost", "$e2", 202),
        ]
    );
}

#[test]
fn left_rooms_invites_state_and_limited_timelines() {
    let body = json!({
        "next_batch": "s2",
        "rooms": {
            "join": {"!big:localhost": {
                "state": {"events": [member("@x:localhost", "join"), member("@y:localhost", "ban")]},
                "timeline": {"events": [msg("$late", "@x:localhost", 9, Some(false))],
                             "limited": true, "prev_batch": "p9"}
            }},
            "leave": {"!gone:localhost": {
                "timeline": {"events": [member("@me:localhost", "leave")]},
                "state": {"events": []}
            }},
            "invite": {"!inv:localhost": {"invite_state": {"events": []}}},
            "knock": {}
        }
    });
    let got = parse_sync(&body).unwrap();
    assert_eq!(got.invited, vec!["!inv:localhost".to_string()]);
    assert_eq!(
        got.gaps,
        vec![TimelineGap {
            room_id: "!big:localhost".into(),
            prev_batch: Some("p9".into())
        }]
    );
    assert_eq!(got.rooms.len(), 2);
    assert_eq!(
        got.rooms[0].events,
        vec![
            joined("@x:localhost", true),
            joined("@y:localhost", false),
            message("$late", "@x:localhost", 9, false),
        ]
    );
    assert_eq!(got.rooms[1].room_id, "!gone:localhost");
    assert_eq!(got.rooms[1].events, vec![joined("@me:localhost", false)]);
}

#[test]
fn an_empty_sync_is_just_a_token() {
    let got = parse_sync(&json!({"next_batch": "s1"})).unwrap();
    assert_eq!(got.next_batch, "s1");
    assert!(got.rooms.is_empty());
    let got = parse_sync(&json!({"next_batch": "s1", "rooms": null})).unwrap();
    assert!(got.rooms.is_empty());
}

fn parse_err(body: Value) -> ParseError {
    parse_sync(&body).expect_err("should not parse")
}

#[test]
fn missing_or_mistyped_fields_name_their_path() {
    assert_eq!(parse_err(json!({"rooms": {}})).path, "next_batch");
    assert_eq!(parse_err(json!([])).path, "$");
    let e = parse_err(json!({"next_batch": "s", "rooms": {"join": []}}));
    assert_eq!(e.path, "rooms.join");
    assert!(e.what.contains("an array"), "{e}");

    let mut bad = msg("$e", "@a:l", 1, None);
    bad.as_object_mut().unwrap().remove("sender");
    let e = parse_err(json!({"next_batch": "s", "rooms": {"join": {"!r:l": {
        "timeline": {"events": [msg("$ok", "@a:l", 1, None), bad]}}}}}));
    assert_eq!(e.path, "rooms.join.!r:l.timeline.events[1].sender");
    assert_eq!(e.what, "missing");

    let e = parse_err(json!({"next_batch": "s", "rooms": {"join": {"!r:l": {
        "timeline": {"events": [{"type": "m.room.message", "event_id": "$e", "sender": "@a:l",
            "origin_server_ts": -3, "content": {}}]}}}}}));
    assert_eq!(
        e.path,
        "rooms.join.!r:l.timeline.events[0].origin_server_ts"
    );

    let e = parse_err(json!({"next_batch": "s", "rooms": {"join": {"!r:l": {
        "timeline": {"events": [{"type": "m.room.message", "event_id": "$e", "sender": "@a:l",
            "origin_server_ts": 3, "content": {NEED_READ_RECEIPT: "yes"}}]}}}}}));
    assert_eq!(
        e.path,
        "rooms.join.!r:l.timeline.events[0].content.readsim.need_read_receipt"
    );

    let e = parse_err(json!({"next_batch": "s", "rooms": {"leave": {"!r:l": {
        "ephemeral": {"events": [{"type": "m.receipt", "content": {"$e": {"m.read": {
            "@u:l": {"ts": "soon"}}}}}]}}}}}));
    assert_eq!(
        e.path,
        "rooms.leave.!r:l.ephemeral.events[0].content.$e.m.read.@u:l.ts"
    );

    let e = parse_err(json!({"next_batch": "s", "rooms": {"join": {"!r:l": {
        "timeline": {"events": [{"type": "m.room.member", "state_key": "@u:l"}]}}}}}));
    assert_eq!(e.path, "rooms.join.!r:l.timeline.events[0].content");
}

#[test]
fn a_redacted_message_did_not_ask_for_receipts() {
    let ev = json!({"type": "m.room.message", "event_id": "$r", "sender": "@a:l",
        "origin_server_ts": 7, "content": {}, "unsigned": {"redacted_because": {}}});
    assert_eq!(
        parse_timeline_event(&ev, "$").unwrap(),
        Some(message("$r", "@a:l", 7, false))
    );
}

/// Whatever the bytes, parsing returns (never panics): shapes of every JSON type at every
/// level readsim descends into.
#[test]
fn hostile_shapes_never_panic() {
    let junk = [
        json!(null),
        json!(1),
        json!(-1.5),
        json!("s"),
        json!([1, {}]),
        json!({}),
        json!({"events": 3}),
        json!({"m.read": []}),
    ];
    for j in &junk {
        for body in [
            json!({"next_batch": "s", "rooms": j}),
            json!({"next_batch": "s", "rooms": {"join": j}}),
            json!({"next_batch": "s", "rooms": {"join": {"!r": j}}}),
            json!({"next_batch": "s", "rooms": {"join": {"!r": {"timeline": j, "state": j}}}}),
            json!({"next_batch": "s", "rooms": {"join": {"!r": {"timeline": {"events": [j]}}}}}),
            json!({"next_batch": "s", "rooms": {"join": {"!r": {"ephemeral": {"events": [
                {"type": "m.receipt", "content": j}]}}}}}),
            json!({"next_batch": "s", "rooms": {"join": {"!r": {"ephemeral": {"events": [
                {"type": "m.receipt", "content": {"$e": j}}]}}}}}),
            json!({"next_batch": "s", "rooms": {"join": {"!r": {"ephemeral": {"events": [
                {"type": "m.receipt", "content": {"$e": {"m.read": {"@u": j}}}}]}}}}}),
            json!({"next_batch": j}),
        ] {
            let _ = parse_sync(&body);
        }
    }
}
