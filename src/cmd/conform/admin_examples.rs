//! The admin-API table of docs/protocol.md ("Admin HTTP API") sent literally: each row's
//! method, path and example body as written, its answer compared with the documented one.
//! They create the doc's own ids (u17, g3, u1, u2, u9, g1), which would collide with someone's
//! data, so only on a server conform started (`--target server`) or with `--admin-examples`;
//! otherwise every row is listed as skipped.
//!
//! What is not literal, and why: users the examples name but do not create (a group's
//! members, the member added) are created first; `{group_id}` and `{user_id}` in a path are the
//! ids of the rows before (the group and the member just added, the user just given a token);
//! "same shape" is the previous row's example; ops of the batch example elided as `...` are
//! left out; `N` in an answer stands for any value.

use super::client::Seen;
use super::{Ctx, Outcome, Row, check, expect, skipped};
use serde_json::{Value, json};

const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");

const SKIPPED: &str = "skipped (needs --target server or --admin-examples): the examples create \
     the doc's ids (u17, g3, u1, ...) on the target";

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub method: String,
    pub path: String,
    /// Without `Authorization` (`GET /v1/health`).
    pub anonymous: bool,
    /// The body cell as written: a JSON text, `none` or `same shape`.
    pub body: String,
    /// The answer cell as written.
    pub answer: String,
}

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    let examples = examples();
    let mut rows = Vec::with_capacity(examples.len());
    let mut state = State::default();
    for ex in &examples {
        // Names are built from the doc at run time; leaked once per process (a dozen short
        // strings) so rows keep their `&'static str` names.
        let name: &'static str = format!("doc admin example {} {}", ex.method, ex.path).leak();
        rows.push(if ctx.admin_examples {
            check("wire/examples", name, send(ctx, ex, &mut state)).await
        } else {
            skipped("wire/examples", name, SKIPPED)
        });
    }
    rows
}

/// The rows of the "Admin HTTP API" table, in order.
pub fn examples() -> Vec<Example> {
    PROTOCOL_MD
        .split("### Admin HTTP API")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip_while(|l| !l.starts_with("| Method and path"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .filter_map(parse_row)
        .collect()
}

fn parse_row(line: &str) -> Option<Example> {
    let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
    let (method, path) = ticked(cells.first()?)?.split_once(' ')?;
    let body = match ticked(cells.get(1)?) {
        Some(b) if b.starts_with('{') => b.to_string(),
        _ => cells.get(1)?.to_string(),
    };
    Some(Example {
        method: method.to_string(),
        path: path.to_string(),
        anonymous: cells[0].contains("no credential"),
        body,
        answer: cells.get(2)?.to_string(),
    })
}

/// The first `code span` of a cell.
fn ticked(cell: &str) -> Option<&str> {
    cell.split('`').nth(1)
}

/// What the rows before tell the next: the last documented answer, the last ids named.
#[derive(Default)]
struct State {
    last_answer: Option<Value>,
    group_id: String,
    user_id: String,
}

impl State {
    fn remember(&mut self, body: &Value) {
        if let Some(g) = body["group_id"].as_str() {
            self.group_id = g.to_string();
        }
        if let Some(u) = body["user_id"].as_str() {
            self.user_id = u.to_string();
        }
    }

    fn path(&self, path: &str) -> String {
        path.replace("{group_id}", &self.group_id)
            .replace("{user_id}", &self.user_id)
    }
}

/// The body to send: the example, the previous row's answer for "same shape", None for
/// "none".
fn body_of(ex: &Example, state: &State) -> Result<Option<Value>, Seen> {
    if ex.body.starts_with("same shape") {
        return Ok(state.last_answer.clone());
    }
    if !ex.body.starts_with('{') {
        return Ok(None);
    }
    let text = without_elided(&ex.body);
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the doc's body is not JSON ({e}): {text}"))
}

/// The batch example with the op objects that contain `...` left out.
pub fn without_elided(body: &str) -> String {
    let Some((head, rest)) = body.split_once('[') else {
        return body.to_string();
    };
    let (mut kept, mut depth, mut cur) = (Vec::new(), 0usize, String::new());
    let mut tail = "";
    for (i, ch) in rest.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => {
                tail = &rest[i..];
                break;
            }
            _ => {}
        }
        if depth > 0 || ch == '}' {
            cur.push(ch);
        }
        if depth == 0 && ch == '}' {
            if !cur.contains("...") {
                kept.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    format!("{head}[{}{tail}", kept.join(", "))
}

/// The documented answer as JSON, `N` (any number) as the wildcard `"..."`; None when the cell
/// is prose (the batch's array, "the stored configuration").
fn expected(ex: &Example) -> Option<Value> {
    if !ex.answer.starts_with('`') {
        return None;
    }
    let t = ticked(&ex.answer).filter(|t| t.starts_with('{'))?;
    serde_json::from_str(&t.replace(": N}", ": \"...\"}")).ok()
}

/// `got` has `want`'s shape: the same keys, equal values except where `want` says `"..."`.
pub fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(w), _) if w == "..." => !got.is_null(),
        (Value::Object(w), Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|gv| matches(v, gv)))
        }
        _ => want == got,
    }
}

/// Users the example names but does not create (members, the member added).
async fn prerequisites(ctx: &Ctx, ex: &Example, body: &Value) {
    if ex.path == "/v1/admin/users" {
        return;
    }
    let mut users: Vec<&str> = body["members"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    users.extend(body["user_id"].as_str());
    for u in users {
        // USER_EXISTS is fine: a row before created it.
        let _ = ctx
            .admin
            .call(
                reqwest::Method::POST,
                "/v1/admin/users",
                Some(&json!({"user_id": u})),
            )
            .await;
    }
}

async fn send(ctx: &Ctx, ex: &Example, state: &mut State) -> Outcome {
    let body = body_of(ex, state)?;
    if let Some(b) = &body {
        prerequisites(ctx, ex, b).await;
    }
    let path = state.path(&ex.path);
    let method = reqwest::Method::from_bytes(ex.method.as_bytes()).map_err(|e| e.to_string())?;
    let bearer = if ex.anonymous { "" } else { &ctx.admin.token };
    let (status, got) = ctx
        .admin
        .call_as(bearer, method, &path, body.as_ref())
        .await?;
    expect(status == 200, || format!("{path}: {status} {got}"))?;
    let ok = match (expected(ex), &body) {
        (Some(want), _) => matches(&want, &got),
        // "the stored configuration": what was just put.
        (None, Some(b)) if ex.method == "PUT" => &got == b,
        // The batch: one result per op, each `{}` or an error.
        (None, Some(b)) => got.as_array().is_some_and(|a| {
            Some(a.len()) == b["ops"].as_array().map(Vec::len)
                && a.iter()
                    .all(|r| r == &json!({}) || r.get("error").is_some())
        }),
        (None, None) => false,
    };
    expect(ok, || format!("{path}: {got} vs the doc's {}", ex.answer))?;
    if let Some(b) = &body {
        state.remember(b);
    }
    state.last_answer = expected(ex);
    Ok(format!("200 {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_admin_endpoint_in_order() {
        let ex = examples();
        let paths: Vec<String> = ex
            .iter()
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert_eq!(paths.len(), 10, "{paths:?}");
        assert_eq!(paths[0], "POST /v1/admin/users");
        assert_eq!(paths[9], "GET /v1/health");
        assert!(ex[9].anonymous && !ex[0].anonymous);
        assert_eq!(ex[0].body, r#"{"user_id": "u17"}"#);
        assert_eq!(expected(&ex[0]), Some(json!({})));
        assert_eq!(expected(&ex[8]), None, "the batch's answer is prose");
        let health = json!({"status": "ok", "protocol": "readsim/1", "connections": 0});
        assert!(matches(&expected(&ex[9]).unwrap(), &health));
    }

    #[test]
    fn elided_batch_ops_are_left_out() {
        let body = r#"{"ops": [{"op": "create_user", "user_id": "u1"}, {"op": "add_member", ...}, {"op": "x", "l": [...]}]}"#;
        let v: Value = serde_json::from_str(&without_elided(body)).unwrap();
        assert_eq!(v, json!({"ops": [{"op": "create_user", "user_id": "u1"}]}));
    }

    #[test]
    fn answers_match_by_shape_with_wildcards() {
        let want = json!({"status": "ok", "connections": "..."});
        assert!(matches(&want, &json!({"status": "ok", "connections": 3})));
        assert!(!matches(&want, &json!({"status": "ok"})));
        assert!(!matches(
            &want,
            &json!({"status": "ok", "connections": 3, "x": 1})
        ));
        assert!(!matches(&json!({}), &json!({"a": 1})));
    }
}
