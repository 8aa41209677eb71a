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

/// The token for `user_id`, valid until `expiry` (Unix seconds, exclusive), for a user
/// whose tokens were never revoked.
pub fn mint_token(secret: &[u8], user_id: &str, expiry: u64) -> String {
    mint_token_gen(secret, user_id, expiry, 0)
}

/// What is signed: `<user_id>.<expiry>`, and `.<generation>` once the user's tokens were
/// revoked `generation` times (so a revocation invalidates every earlier token at once).
fn signed(user_id: &str, expiry: u64, generation: u64) -> String {
    if generation == 0 {
        format!("{user_id}.{expiry}")
    } else {
        format!("{user_id}.{expiry}.{generation}")
    }
}

/// [`mint_token`] for a user whose tokens were revoked `generation` times.
pub fn mint_token_gen(secret: &[u8], user_id: &str, expiry: u64, generation: u64) -> String {
    let sig = mac(secret, &signed(user_id, expiry, generation)).finalize();
    format!("{user_id}.{expiry}.{}", hex::encode(sig.into_bytes()))
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

/// A token split into its parts, signature not yet checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Claims<'a> {
    pub user: &'a str,
    pub expiry: u64,
    sig: Vec<u8>,
}

/// Splits a token; the signature is hex of either case.
pub(crate) fn parse_token(token: &str) -> Result<Claims<'_>, TokenError> {
    let mut parts = token.splitn(3, '.');
    let (Some(user), Some(expiry), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    if !crate::wire::valid_id(user) || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let sig = hex::decode(sig).map_err(|_| TokenError::Malformed)?;
    Ok(Claims { user, expiry, sig })
}

impl Claims<'_> {
    /// Checks the signature (for a user revoked `generation` times), then the expiry.
    pub(crate) fn verify(
        &self,
        secret: &[u8],
        generation: u64,
        now: u64,
    ) -> Result<(), TokenError> {
        mac(secret, &signed(self.user, self.expiry, generation))
            .verify_slice(&self.sig)
            .map_err(|_| TokenError::BadSignature)?;
        if self.expiry <= now {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// The user id a token speaks for, if its signature is good (for a user whose tokens were
/// never revoked) and it has not expired at `now`.
pub fn verify_token(secret: &[u8], token: &str, now: u64) -> Result<String, TokenError> {
    let c = parse_token(token)?;
    c.verify(secret, 0, now)?;
    Ok(c.user.to_string())
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
        assert_eq!(
            verify_token(b"k", "u1.+5.00", 1),
            Err(TokenError::Malformed)
        );
        let upper = format!("u1.100.{}", t.rsplit('.').next().unwrap().to_uppercase());
        assert_eq!(verify_token(b"k", &upper, 99), Ok("u1".into()));
    }

    #[test]
    fn a_revocation_generation_invalidates_earlier_tokens() {
        let old = mint_token(b"k", "u1", 100);
        let new = mint_token_gen(b"k", "u1", 100, 1);
        let (o, n) = (parse_token(&old).unwrap(), parse_token(&new).unwrap());
        assert_eq!(o.verify(b"k", 1, 1), Err(TokenError::BadSignature));
        assert_eq!(n.verify(b"k", 1, 1), Ok(()));
        assert_eq!(n.verify(b"k", 0, 1), Err(TokenError::BadSignature));
        assert_eq!(n.verify(b"k", 2, 1), Err(TokenError::BadSignature));
    }
}
