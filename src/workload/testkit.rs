//! Shared fixtures of the workload's unit tests.

use super::{Action, Workload};
use crate::protocol::{MsgId, Request, Response, UserId};

/// A small scenario: a few receipt-taking groups of 3..8, some pairs, no faults, no churn.
pub const SMALL: &str = r#"
name = "workload-unit"
seed = 1
duration = "60s"

[population]
users = 40
online_share = 0.8

[[groups]]
name = "teams"
count = 4
type = "Work"
size = { dist = "uniform", min = 3, max = 8 }

[c2c]
pairs = 10

[reading]
batch_window = "500ms"
batch_max = 3
"#;

pub fn workload(text: &str, seed: u64) -> Workload {
    let s = crate::scenario::parse_str(text, "unit.toml").expect("valid test scenario");
    Workload::new(&s, seed)
}

/// The receipt batches `out` sends, as (reader, message ids).
pub fn receipts(out: &[Action]) -> Vec<(UserId, Vec<MsgId>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Invoke {
                client,
                req: Request::SendReadReceipts { msg_ids },
                ..
            } => Some((*client, msg_ids.clone())),
            _ => None,
        })
        .collect()
}

/// The operations `out` invokes, as (client, request).
/// An empty member-list page answered at `next_seq`, finished or not.
pub fn member_list(next_seq: u64, is_finished: bool) -> Response {
    Response::MemberList {
        members: Vec::new(),
        next_seq,
        is_finished,
    }
}

pub fn invokes(out: &[Action]) -> Vec<(UserId, &Request)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Invoke { client, req, .. } => Some((*client, req)),
            _ => None,
        })
        .collect()
}
