//! readsim's users as Matrix users: readsim user `u17` is `@u17:<server>` on the homeserver.
//! Everything the adapter hands readsim names users the readsim way (`UserId`, `u17`);
//! everything it sends to or reads from the homeserver the Matrix way.

use crate::protocol::UserId;
use crate::wire::{parse_user, user_str};

/// The mapping for one homeserver (its `server_name`, e.g. `localhost`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    server: String,
}

impl Names {
    pub fn new(server: impl Into<String>) -> Names {
        Names {
            server: server.into(),
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The readsim user behind a Matrix user id, or None for anybody else: another server's
    /// user, a localpart that is not `u<n>`, or a non-canonical number (`u017`, `u+5`), which
    /// would map two Matrix users to one readsim user.
    pub fn user(&self, matrix: &str) -> Option<UserId> {
        let (local, server) = matrix.strip_prefix('@')?.split_once(':')?;
        if server != self.server {
            return None;
        }
        let digits = local.strip_prefix('u')?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return None;
        }
        parse_user(local).ok()
    }

    /// `UserId(17)` -> `@u17:<server>`.
    pub fn matrix(&self, user: UserId) -> String {
        format!("@{}:{}", user_str(user), self.server)
    }

    /// `@u17:<server>` -> `u17` (readsim's wire form), None as for [`Names::user`].
    pub fn readsim(&self, matrix: &str) -> Option<String> {
        self.user(matrix).map(user_str)
    }

    /// `u17` -> `@u17:<server>`, None for a string that is not a readsim user id.
    pub fn from_readsim(&self, readsim: &str) -> Option<String> {
        self.user(&format!("@{readsim}:{}", self.server))
            .map(|u| self.matrix(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readsim_users_round_trip_through_matrix_ids() {
        let n = Names::new("localhost");
        assert_eq!(n.user("@u17:localhost"), Some(UserId(17)));
        assert_eq!(n.user("@u0:localhost"), Some(UserId(0)));
        assert_eq!(n.matrix(UserId(17)), "@u17:localhost");
        assert_eq!(n.readsim("@u17:localhost").as_deref(), Some("u17"));
        assert_eq!(n.from_readsim("u17").as_deref(), Some("@u17:localhost"));
        let other = Names::new("hs.example:8448");
        assert_eq!(other.user("@u3:hs.example:8448"), Some(UserId(3)));
        assert_eq!(other.matrix(UserId(3)), "@u3:hs.example:8448");
    }

    #[test]
    fn anybody_else_is_not_a_readsim_user() {
        let n = Names::new("localhost");
        for bad in [
            "u17",
            "@u17",
            "@u17:otherhost",
            "@admin:localhost",
            "@u:localhost",
            "@u017:localhost",
            "@u+5:localhost",
            "@u-5:localhost",
            "@U5:localhost",
            "@u16777216:localhost",
            "@u99999999999999999999:localhost",
            "",
            "@",
        ] {
            assert_eq!(n.user(bad), None, "{bad}");
        }
        assert_eq!(n.from_readsim("g3"), None);
        assert_eq!(n.from_readsim("u17:evil"), None);
    }
}
