//! Deliberate server defects, so the model-vs-server tests can prove they catch one.
//!
//! Gated by the cargo feature `planted-bugs`, not `cfg(test)`: integration tests link the
//! library built *without* `cfg(test)`. The crate dev-depends on itself with that feature
//! (Cargo.toml), so `cargo test` (lib and integration tests alike) builds it in, while
//! `cargo build`, `cargo install` and the release binary do not: there `ServerBug` and
//! `ServerConfig::planted_bug` do not exist and every [`planted!`] check is the constant
//! `false`, so no defect is reachable from production.
//!
//! A test enables one with `cfg.planted_bug = Some(ServerBug::…)`. To add a defect: add a
//! variant below, and guard the faulty branch with `planted!(self.bugs, Variant)`.

/// A deliberate defect for `ServerConfig::planted_bug` (tests only).
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerBug {
    /// A repeated receipt from the same reader is counted again (read count + 1).
    CountDuplicateReceipt,
    /// A push reaches only the first connection its user opened: a user on several devices
    /// hears of it on one of them (docs/semantics.md D1).
    PushToOneDevice,
}

/// The defect a server runs with; an empty struct without the feature.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Planted {
    #[cfg(feature = "planted-bugs")]
    pub bug: Option<ServerBug>,
}

impl Planted {
    pub(crate) fn from_config(_cfg: &super::ServerConfig) -> Planted {
        Planted {
            #[cfg(feature = "planted-bugs")]
            bug: _cfg.planted_bug,
        }
    }
}

/// `planted!(bugs, Variant)`: whether the defect `ServerBug::Variant` is planted in `bugs`
/// (a [`Planted`]). Always `false` without the `planted-bugs` feature.
#[cfg(feature = "planted-bugs")]
macro_rules! planted {
    ($bugs:expr, $bug:ident) => {
        $bugs.bug == Some($crate::server::ServerBug::$bug)
    };
}

#[cfg(not(feature = "planted-bugs"))]
macro_rules! planted {
    ($bugs:expr, $bug:ident) => {{
        let _ = &$bugs;
        false
    }};
}

pub(crate) use planted;
