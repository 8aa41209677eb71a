//! The files a run's Synapse reads: `homeserver.yaml`, its logging config and a signing key,
//! written whole (not `--generate-config` then edited: the result is the same on every
//! Synapse version and needs no YAML round trip). Requirements and their reasons:
//! /work/shared/matrix/synapse-notes.md, summarised in the comments written into the file.

use base64::Engine;
use std::fmt::Write;
use std::path::Path;

/// The server name: user ids are `@uN:localhost`, room ids `!x:localhost`.
pub const SERVER_NAME: &str = "localhost";

/// Every rate limiter Synapse 1.163 reads (`synapse/config/ratelimiting.py`), dotted for
/// nested ones. All are raised out of the way: a load test measures the server's work, and
/// provisioning a few hundred users and rooms would otherwise hit 429s.
pub const RATE_LIMITS: &[&str] = &[
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
];

const NO_LIMIT: &str = "{per_second: 100000, burst_count: 100000}";

/// Secrets of one homeserver, kept across restarts (tokens and the database stay valid).
#[derive(Clone, Debug)]
pub struct Secrets {
    pub registration_shared_secret: String,
    pub macaroon_secret_key: String,
    pub form_secret: String,
}

impl Secrets {
    pub fn random() -> Secrets {
        Secrets {
            registration_shared_secret: random_hex(32),
            macaroon_secret_key: random_hex(32),
            form_secret: random_hex(32),
        }
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn p(dir: &Path, name: &str) -> String {
    q(&dir.join(name).to_string_lossy())
}

/// `homeserver.yaml` for a Synapse whose files all live in `dir`, listening on
/// `127.0.0.1:port`.
pub fn homeserver_yaml(dir: &Path, port: u16, secrets: &Secrets) -> String {
    let mut y = format!(
        "# Written by readsim (src/matrix/synapse_config.rs) for one run; rewritten at every start.
server_name: {server}
pid_file: {pid}
report_stats: false
# Loopback only, client API only: no federation listener.
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {db}
log_config: {log}
media_store_path: {media}
signing_key_path: {key}
registration_shared_secret: {rss}
macaroon_secret_key: {mac}
form_secret: {form}
# Users are made with the shared secret only.
enable_registration: false
# No federation and no key servers: nothing leaves the machine.
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
presence:
  enabled: false
# Back-to-back /sync calls must see new events, not a cached answer.
caches:
  sync_response_cache_duration: 0
enable_metrics: false
# Rate limits out of the way (see RATE_LIMITS).
",
        server = q(SERVER_NAME),
        pid = p(dir, "homeserver.pid"),
        db = p(dir, "homeserver.db"),
        log = p(dir, "log.config"),
        media = p(dir, "media_store"),
        key = p(dir, "signing.key"),
        rss = q(&secrets.registration_shared_secret),
        mac = q(&secrets.macaroon_secret_key),
        form = q(&secrets.form_secret),
    );
    y.push_str(&rate_limits_yaml());
    y
}

/// [`RATE_LIMITS`] as YAML, nested keys grouped under their parent.
fn rate_limits_yaml() -> String {
    let mut out = String::new();
    let mut parent: Option<&str> = None;
    for key in RATE_LIMITS {
        match key.split_once('.') {
            None => {
                parent = None;
                let _ = writeln!(out, "{key}: {NO_LIMIT}");
            }
            Some((top, sub)) => {
                if parent != Some(top) {
                    let _ = writeln!(out, "{top}:");
                    parent = Some(top);
                }
                let _ = writeln!(out, "  {sub}: {NO_LIMIT}");
            }
        }
    }
    out
}

/// Python logging config: INFO and up to `log`, one write per line (no buffering), so the
/// file is complete after a SIGKILL and a failed start shows its last words.
pub fn log_config_yaml(log: &Path) -> String {
    format!(
        "version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {file}
    encoding: utf8
loggers:
  # DEBUG here would log access tokens.
  synapse.storage.SQL:
    level: INFO
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
",
        file = q(&log.to_string_lossy())
    )
}

/// A fresh ed25519 signing key in Synapse's file format (`ed25519 KEY_ID SEED`, the 32-byte
/// seed in unpadded base64): the server signs its own events with it even without
/// federation, and writing it here saves a `--generate-keys` run of Python at every start.
pub fn signing_key() -> String {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed[..]);
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed);
    format!("ed25519 a_readsim {b64}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_has_what_a_load_test_needs() {
        let s = Secrets {
            registration_shared_secret: "rs\"x".into(),
            macaroon_secret_key: "m".into(),
            form_secret: "f".into(),
        };
        let y = homeserver_yaml(Path::new("/tmp/out dir/synapse"), 18123, &s);
        for want in [
            "  - port: 18123\n",
            "bind_addresses: ['127.0.0.1']",
            "- names: [client]",
            "database: \"/tmp/out dir/synapse/homeserver.db\"",
            "registration_shared_secret: \"rs\\\"x\"",
            "trusted_key_servers: []",
            "federation_domain_whitelist: []",
            "  sync_response_cache_duration: 0",
            "enable_registration: false",
            "rc_message: {per_second: 100000",
            "rc_login:\n  address: {per_second: 100000, burst_count: 100000}\n  account:",
            "rc_invites:\n  per_room:",
        ] {
            assert!(y.contains(want), "missing {want:?} in\n{y}");
        }
        assert!(!y.contains("federation\n") && !y.contains("::1"));
    }

    #[test]
    fn the_signing_key_is_a_32_byte_ed25519_seed() {
        let k = signing_key();
        let parts: Vec<&str> = k.split_whitespace().collect();
        assert_eq!(parts[..2], ["ed25519", "a_readsim"]);
        let seed = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(parts[2])
            .unwrap();
        assert_eq!(seed.len(), 32);
        assert_ne!(k, signing_key());
    }
}
