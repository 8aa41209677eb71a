//! What can go wrong on one Matrix HTTP call, kept apart so the adapter can count each kind:
//! the request never got an answer (and maybe never left), the homeserver said no (HTTP
//! status + Matrix `errcode`), or it answered something that is not the JSON the spec
//! promises (a finding about the server, never a panic).

use std::time::Duration;

/// A Matrix `errcode` (client-server API, "Standard error response"). The ones readsim acts
/// on have their own variant; every other code is kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrCode {
    /// Not allowed (e.g. a receipt in a room the user is not in).
    Forbidden,
    /// Rate limited (HTTP 429); [`MatrixError::retry_after`] says for how long.
    LimitExceeded,
    /// The access token is unknown or was logged out.
    UnknownToken,
    /// No access token was sent.
    MissingToken,
    /// Registration of a user id that exists.
    UserInUse,
    NotFound,
    BadJson,
    NotJson,
    Unknown,
    /// Any other `M_...` (or non-standard) code.
    Other(String),
}

impl ErrCode {
    pub fn parse(code: &str) -> ErrCode {
        match code {
            "M_FORBIDDEN" => ErrCode::Forbidden,
            "M_LIMIT_EXCEEDED" => ErrCode::LimitExceeded,
            "M_UNKNOWN_TOKEN" => ErrCode::UnknownToken,
            "M_MISSING_TOKEN" => ErrCode::MissingToken,
            "M_USER_IN_USE" => ErrCode::UserInUse,
            "M_NOT_FOUND" => ErrCode::NotFound,
            "M_BAD_JSON" => ErrCode::BadJson,
            "M_NOT_JSON" => ErrCode::NotJson,
            "M_UNKNOWN" => ErrCode::Unknown,
            other => ErrCode::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrCode::Forbidden => "M_FORBIDDEN",
            ErrCode::LimitExceeded => "M_LIMIT_EXCEEDED",
            ErrCode::UnknownToken => "M_UNKNOWN_TOKEN",
            ErrCode::MissingToken => "M_MISSING_TOKEN",
            ErrCode::UserInUse => "M_USER_IN_USE",
            ErrCode::NotFound => "M_NOT_FOUND",
            ErrCode::BadJson => "M_BAD_JSON",
            ErrCode::NotJson => "M_NOT_JSON",
            ErrCode::Unknown => "M_UNKNOWN",
            ErrCode::Other(s) => s,
        }
    }
}

impl std::fmt::Display for ErrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed Matrix call. `endpoint` is `METHOD /path` (no query, no token).
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// No HTTP answer: connection refused or reset, timeout, body cut off. When
    /// `may_have_been_sent` is false the request certainly never reached the server (the
    /// connection was never made), so repeating it cannot apply it twice.
    #[error(
        "{endpoint}: no answer from the homeserver ({detail}){}",
        if *may_have_been_sent { "; the request may have been applied" } else { "; the request was not sent (is the homeserver up?)" }
    )]
    Transport {
        endpoint: String,
        detail: String,
        may_have_been_sent: bool,
    },
    /// The homeserver answered with an error status. `errcode` is `None` when the body was
    /// not a Matrix error object (e.g. a proxy's 502 page).
    #[error("{endpoint}: HTTP {status} {}: {message}", errcode.as_ref().map(ErrCode::as_str).unwrap_or("(no errcode)"))]
    Http {
        endpoint: String,
        status: u16,
        errcode: Option<ErrCode>,
        message: String,
        /// From `retry_after_ms` in the body, else the `Retry-After` header (M_LIMIT_EXCEEDED).
        retry_after_ms: Option<u64>,
    },
    /// A success status whose body is not what the API promises: a finding about the server.
    #[error("{endpoint}: HTTP {status} but the answer is not the expected JSON: {path}: {what}")]
    BadAnswer {
        endpoint: String,
        status: u16,
        /// Where in the body (`rooms.join.!r:x.timeline.events[3].sender`), `$` for the root.
        path: String,
        what: String,
    },
    /// The base URL given to the client cannot be used; fix the option that supplied it.
    #[error("bad homeserver base URL {url:?}: {what}")]
    BadBaseUrl { url: String, what: String },
}

impl MatrixError {
    /// The Matrix errcode of an error answer.
    pub fn errcode(&self) -> Option<&ErrCode> {
        match self {
            MatrixError::Http { errcode, .. } => errcode.as_ref(),
            _ => None,
        }
    }

    /// HTTP status of an answer (error or malformed success).
    pub fn status(&self) -> Option<u16> {
        match self {
            MatrixError::Http { status, .. } | MatrixError::BadAnswer { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// A 429 / M_LIMIT_EXCEEDED: the caller counts it and decides; nothing here retries.
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429) || self.errcode() == Some(&ErrCode::LimitExceeded)
    }

    /// How long the server asked to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MatrixError::Http {
                retry_after_ms: Some(ms),
                ..
            } => Some(Duration::from_millis(*ms)),
            _ => None,
        }
    }

    /// False only when the request certainly did not reach the server (safe to send again
    /// without the risk of applying it twice). Every answered request was sent.
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            MatrixError::Transport {
                may_have_been_sent, ..
            } => *may_have_been_sent,
            MatrixError::BadBaseUrl { .. } => false,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_round_trip_and_unknown_ones_are_kept() {
        for c in [
            "M_FORBIDDEN",
            "M_LIMIT_EXCEEDED",
            "M_UNKNOWN_TOKEN",
            "M_USER_IN_USE",
        ] {
            assert_eq!(ErrCode::parse(c).as_str(), c);
        }
        assert_eq!(
            ErrCode::parse("M_WEIRD"),
            ErrCode::Other("M_WEIRD".to_string())
        );
    }

    #[test]
    fn rate_limits_are_recognised_by_status_or_code() {
        let e = MatrixError::Http {
            endpoint: "POST /x".into(),
            status: 429,
            errcode: Some(ErrCode::LimitExceeded),
            message: "Too Many Requests".into(),
            retry_after_ms: Some(1500),
        };
        assert!(e.is_rate_limited());
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        assert!(e.may_have_been_sent());
        assert!(e.to_string().contains("HTTP 429 M_LIMIT_EXCEEDED"));
        let t = MatrixError::Transport {
            endpoint: "GET /sync".into(),
            detail: "connection refused".into(),
            may_have_been_sent: false,
        };
        assert!(!t.may_have_been_sent() && !t.is_rate_limited());
        assert!(t.to_string().contains("was not sent"));
    }
}
