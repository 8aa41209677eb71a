//! Client tokens, made like the vendor's UserSig: `<user_id>.<expiry_unix_secs>.<hex mac>`,
//! where `mac = HMAC-SHA256(secret, "<user_id>.<expiry_unix_secs>")`. User ids cannot contain
//! `.`, so the token splits unambiguously. The admin credential is a separate opaque string.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(payload.as_bytes());
    m
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The token for `user_id`, valid until `expiry` (Unix seconds, exclusive).
pub fn mint_token(secret: &[u8], user_id: &str, expiry: u64) -> String {
    let payload = format!("{user_id}.{expiry}");
    let sig = hex::encode(mac(secret, &payload).finalize().into_bytes());
    format!("{payload}.{sig}")
}

/// Why a token was refused (all of them map to `UNAUTHENTICATED` on the wire).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not <user_id>.<expiry>.<hex hmac>")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token expired")]
    Expired,
}

/// The user id a token speaks for, if its signature is good and it has not expired at `now`.
pub fn verify_token(secret: &[u8], token: &str, now: u64) -> Result<String, TokenError> {
    let mut parts = token.rsplitn(2, '.');
    let sig = parts.next().ok_or(TokenError::Malformed)?;
    let payload = parts.next().ok_or(TokenError::Malformed)?;
    let (user, expiry) = payload.split_once('.').ok_or(TokenError::Malformed)?;
    if !crate::wire::valid_id(user) {
        return Err(TokenError::Malformed);
    }
    let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let sig = hex::decode(sig).map_err(|_| TokenError::Malformed)?;
    mac(secret, payload)
        .verify_slice(&sig)
        .map_err(|_| TokenError::BadSignature)?;
    if expiry <= now {
        return Err(TokenError::Expired);
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let t = mint_token(b"k", "u1", 100);
        assert_eq!(verify_token(b"k", &t, 99), Ok("u1".into()));
        assert_eq!(verify_token(b"k", &t, 100), Err(TokenError::Expired));
        assert_eq!(verify_token(b"x", &t, 1), Err(TokenError::BadSignature));
        let forged = t.replacen("u1", "u2", 1);
        assert_eq!(
            verify_token(b"k", &forged, 1),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify_token(b"k", "garbage", 1), Err(TokenError::Malformed));
    }
}
