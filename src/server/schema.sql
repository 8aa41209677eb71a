-- The reference server's SQLite schema (docs/protocol.md, "Storage"); store.rs runs it at open.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
-- id: n for readsim users named u<n> (n < 2^24), else 2^24, 2^24+1, ... in creation order.
-- The unread member list is ordered by this id, and its cursor is an id.
CREATE TABLE IF NOT EXISTS users (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS groups (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    version      INTEGER NOT NULL,   -- +1 on every join or leave
    member_count INTEGER NOT NULL,   -- current members
    last_seq     INTEGER NOT NULL    -- seq of the newest message
);
-- One row per membership interval [joined_ver, left_ver); left_ver NULL = current member.
CREATE TABLE IF NOT EXISTS memberships (
    group_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    joined_ver INTEGER NOT NULL,
    left_ver   INTEGER,
    PRIMARY KEY (group_id, user_id, joined_ver)
) WITHOUT ROWID;
-- A 1:1 conversation: lo < hi are user ids; per side the seq read up to and the last mark.
CREATE TABLE IF NOT EXISTS pairs (
    id        INTEGER PRIMARY KEY,
    lo        INTEGER NOT NULL,
    hi        INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    upto_lo   INTEGER NOT NULL,
    upto_hi   INTEGER NOT NULL,
    ts_lo     INTEGER NOT NULL,
    ts_hi     INTEGER NOT NULL,
    UNIQUE (lo, hi)
);
-- conv > 0: a group id; conv < 0: minus a pair id. Message id on the wire: m<id>.
CREATE TABLE IF NOT EXISTS messages (
    id           INTEGER PRIMARY KEY,
    conv         INTEGER NOT NULL,
    sender       INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    ts           INTEGER NOT NULL,
    need_receipt INTEGER NOT NULL,
    group_ver    INTEGER,            -- group messages: membership version at send
    peer         INTEGER,            -- 1:1 messages: the only possible reader
    audience_len INTEGER NOT NULL,
    read_count   INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_conv_seq ON messages (conv, seq);
-- read_order: 0, 1, 2, ... per message in commit order (the read list's cursor).
CREATE TABLE IF NOT EXISTS receipts (
    msg_id     INTEGER NOT NULL,
    read_order INTEGER NOT NULL,
    reader     INTEGER NOT NULL,
    PRIMARY KEY (msg_id, read_order)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS receipts_reader ON receipts (msg_id, reader);
-- How often each user's tokens were revoked (absent: never); signed into later tokens.
CREATE TABLE IF NOT EXISTS token_generations (
    user       INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
