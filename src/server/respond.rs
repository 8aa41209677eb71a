//! HTTP error responses and the bearer credential: shared by the admin API (`http.rs`) and
//! the WebSocket upgrade (`ws.rs`), which otherwise know nothing of each other.

use crate::protocol::ErrorCode;
use crate::wire::WireError;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize)]
struct ErrorBody {
    error: WireError,
}

/// The HTTP status of an error code (the JSON body is authoritative).
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        FrameTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        Forbidden => StatusCode::FORBIDDEN,
        UserNotFound | GroupNotFound | MessageNotFound => StatusCode::NOT_FOUND,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
        c if c.code() < 2000 => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    }
}

/// `{"error": {"code", "name", "message"}}` with the code's status; `detail` replaces the
/// standard message when given.
pub(crate) fn error_response(code: ErrorCode, detail: Option<String>) -> Response {
    let mut error = WireError::from(code);
    if let Some(d) = detail {
        error.message = d;
    }
    (status_of(code), axum::Json(ErrorBody { error })).into_response()
}

/// The bearer token of a request, if any. The scheme name is case-insensitive (RFC 9110
/// section 11.1): `Bearer`, `bearer` and `BEARER` all work.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn statuses_follow_the_code_ranges() {
        assert_eq!(status_of(ErrorCode::BadRequest), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorCode::InvalidId), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorCode::UserExists), StatusCode::CONFLICT);
        assert_eq!(status_of(ErrorCode::GroupNotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of(ErrorCode::FrameTooLarge),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status_of(ErrorCode::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn bearer_takes_only_the_bearer_scheme() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  abc "),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bEARER x"));
        assert_eq!(bearer(&h), Some("x"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
