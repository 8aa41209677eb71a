//! Making users on a homeserver readsim started itself: Synapse's shared-secret
//! registration (`/_synapse/admin/v1/register`, no admin user or open registration needed)
//! and password login. [`provision`] is idempotent: a user that exists already (a rerun
//! against the same database, a retry after a lost answer) is logged in instead.

use super::client::MatrixClient;
use super::error::{ErrCode, MatrixError};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::json;
use sha1::Sha1;
use std::time::Duration;

const REGISTER: &str = "/_synapse/admin/v1/register";
const LOGIN: &str = "/_matrix/client/v3/login";

/// A logged-in device of one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Full Matrix id, `@name:server`.
    pub user_id: String,
    pub access_token: String,
    pub device_id: Option<String>,
}

/// Synapse's registration MAC: HMAC-SHA1 keyed by the shared secret over
/// `nonce \0 username \0 password \0 ("admin" | "notadmin")`, lowercase hex.
pub fn registration_mac(
    secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
) -> String {
    // HMAC accepts keys of every length, so this cannot fail; keep a total function anyway.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    let role: &[u8] = if admin { b"admin" } else { b"notadmin" };
    for (i, part) in [
        nonce.as_bytes(),
        username.as_bytes(),
        password.as_bytes(),
        role,
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Registers `username` (a localpart, not admin) with the shared secret. `client` carries no
/// token. Fails with `M_USER_IN_USE` when the user exists; [`provision`] handles that.
pub async fn register(
    client: &MatrixClient,
    secret: &str,
    username: &str,
    password: &str,
) -> Result<Session, MatrixError> {
    // A nonce is single-use and expires (60 s in Synapse), so each registration asks anew.
    let nonce = client
        .call(Method::GET, REGISTER, &[], None, Duration::ZERO)
        .await?
        .string("nonce")?;
    let body = json!({
        "nonce": nonce,
        "username": username,
        "password": password,
        "admin": false,
        "mac": registration_mac(secret, &nonce, username, password, false),
    });
    let answer = client
        .call(Method::POST, REGISTER, &[], Some(&body), Duration::ZERO)
        .await?;
    let user_id = answer.string("user_id")?;
    // Synapse logs the new user in at once; use that token and save a round trip. Should a
    // server leave it out, a login gets one.
    match answer.string("access_token") {
        Ok(access_token) => Ok(Session {
            user_id,
            access_token,
            device_id: answer.string("device_id").ok(),
        }),
        Err(_) => login(client, username, password).await,
    }
}

/// `POST /login` with `m.login.password`: a new device and its access token.
pub async fn login(
    client: &MatrixClient,
    username: &str,
    password: &str,
) -> Result<Session, MatrixError> {
    let body = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": username},
        "password": password,
        "initial_device_display_name": "readsim",
    });
    let answer = client
        .call(Method::POST, LOGIN, &[], Some(&body), Duration::ZERO)
        .await?;
    Ok(Session {
        user_id: answer.string("user_id")?,
        access_token: answer.string("access_token")?,
        device_id: answer.string("device_id").ok(),
    })
}

/// Registers `username`, or logs it in when it exists (`M_USER_IN_USE`), so provisioning
/// can be run again over the same database. A wrong password for an existing user fails
/// with the login's `M_FORBIDDEN`.
pub async fn provision(
    client: &MatrixClient,
    secret: &str,
    username: &str,
    password: &str,
) -> Result<Session, MatrixError> {
    match register(client, secret, username, password).await {
        Err(e) if e.errcode() == Some(&ErrCode::UserInUse) => {
            login(client, username, password).await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::registration_mac;

    /// Expected values computed once with Python's `hmac.new(secret, b"\0".join(...),
    /// hashlib.sha1).hexdigest()`, the way Synapse's docs compute it.
    #[test]
    fn the_mac_matches_pythons_hmac_sha1() {
        assert_eq!(
            registration_mac("readsim-secret", "abcdef0123", "u17", "pw-17", false),
            "78d06d7c03b0d7312b65db624f361bd614c0622a"
        );
        assert_eq!(
            registration_mac("readsim-secret", "abcdef0123", "u17", "pw-17", true),
            "62a485a84e20153082b1e38d45739a7a0fa03c01"
        );
    }
}
