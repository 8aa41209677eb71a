//! `readsim conform TARGET`: does a server implement docs/protocol.md? Every documented
//! behaviour is one small, independent, named check that provisions its own users and groups
//! (unique names per run, so it runs against a server that already has data). Prints a table
//! `rule | check | pass/fail/skipped | what was seen` (or `--format json`) and which rule ids
//! of docs/semantics.md the checks cover. A check that cannot be tried here (it needs a server
//! conform started itself, or an opt-in) is `skipped` with the reason: never a failure, never
//! a pass. Exit 0 when no check failed, 1 on any failure, 2 on bad usage, 3 when the target
//! cannot be reached or started.

mod admin_examples;
mod auth;
mod client;
mod close_codes;
mod errors;
mod frames;
mod limits;
mod ops;
mod paging;
mod scratch;

use super::{Classify, ExitStatus};
use crate::live::LiveError;
use crate::live::server::ChildServer;
use crate::protocol::Profile;
use crate::scenario::Rule;
pub use client::Client;
use client::{Admin, Seen};
use serde::Serialize;
use serde_json::{Value, json};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConformFormat {
    Text,
    Json,
}

pub struct ConformOptions {
    /// `server` (start a child `readsim serve`) or `ws://HOST:PORT`.
    pub target: String,
    pub admin_token: Option<String>,
    pub format: ConformFormat,
    /// Where a child server's stderr goes (default: a file in the temp directory).
    pub log: Option<PathBuf>,
    /// Send the admin-API examples of docs/protocol.md literally to a `ws://` target too
    /// (they create the doc's ids there); always done with `--target server`.
    pub admin_examples: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    #[error("{0}")]
    Usage(String),
    #[error("the target cannot be reached: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Server(#[from] LiveError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Classify for ConformError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            ConformError::Usage(_) => ExitStatus::BadInput,
            _ => ExitStatus::HarnessFailed,
        }
    }
}

/// How one check ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not tried here; `seen` says why. Never fails the run.
    Skipped,
}

/// One check's line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// A rule id of docs/semantics.md (R6), or `wire/...` for a rule of docs/protocol.md's
    /// wire format that semantics.md does not name.
    pub rule: &'static str,
    pub check: &'static str,
    pub outcome: Verdict,
    /// What was seen (on a pass or a failure), or why the check was skipped.
    pub seen: String,
}

/// A check's result: what it saw, on a pass or a failure (or, through [`skip`], why it was
/// not tried).
pub type Outcome = Result<String, Seen>;

/// Marks a `Seen` as "skipped" rather than "failed". A marker inside the string, not a third
/// variant, so every check keeps its plain `?` on `Result<_, String>`.
const SKIP_MARK: &str = "\u{1}skipped: ";

/// `Err(skip(reason))` ends a check as skipped: it could not be tried here.
pub fn skip(reason: impl std::fmt::Display) -> Seen {
    format!("{SKIP_MARK}{reason}")
}

/// A row for a check that is not run at all, with the reason.
pub fn skipped(rule: &'static str, name: &'static str, reason: &str) -> Row {
    Row {
        rule,
        check: name,
        outcome: Verdict::Skipped,
        seen: one_line(reason),
    }
}

/// Longest time one check may take.
const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// Runs one check (bounded by [`CHECK_LIMIT`]) into its row.
pub async fn check(
    rule: &'static str,
    name: &'static str,
    f: impl Future<Output = Outcome>,
) -> Row {
    let outcome = match tokio::time::timeout(CHECK_LIMIT, f).await {
        Ok(o) => o,
        Err(_) => Err(format!("did not finish within {CHECK_LIMIT:?}")),
    };
    let (outcome, seen) = match outcome {
        Ok(s) => (Verdict::Pass, s),
        Err(s) => match s.strip_prefix(SKIP_MARK) {
            Some(reason) => (Verdict::Skipped, reason.to_string()),
            None => (Verdict::Fail, s),
        },
    };
    Row {
        rule,
        check: name,
        outcome,
        seen: one_line(&seen),
    }
}

/// At most 160 characters on one line.
fn one_line(s: &str) -> String {
    let s = s.replace('\n', " ");
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// `Err(seen)` unless `cond`.
pub fn expect(cond: bool, seen: impl FnOnce() -> String) -> Result<(), Seen> {
    if cond { Ok(()) } else { Err(seen()) }
}

/// What the checks share: the target and fresh names.
pub struct Ctx {
    pub admin: Admin,
    /// `HOST:PORT`.
    pub addr: String,
    /// Unique per run: 8 random hex characters.
    run: String,
    next: AtomicU32,
    /// conform started the target itself (`--target server`): it may create the doc's ids
    /// and start scratch servers of its own with small limits.
    pub owns_server: bool,
    /// Send the admin-API examples literally (`--target server` or `--admin-examples`).
    pub admin_examples: bool,
}

/// A group with a sender (`users[0]`, `clients[0]`) and its other members, all connected.
pub struct Scene {
    pub users: Vec<String>,
    pub group: String,
    pub clients: Vec<Client>,
}

impl Ctx {
    /// A fresh id, `c<run><kind><n>` (at most 32 characters).
    pub fn fresh(&self, kind: char) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("c{}{kind}{n}", self.run)
    }

    pub async fn users(&self, n: usize) -> Result<Vec<String>, Seen> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let u = self.fresh('u');
            self.admin
                .post("/v1/admin/users", json!({"user_id": u}))
                .await?;
            out.push(u);
        }
        Ok(out)
    }

    pub async fn group(&self, ty: &str, members: &[String]) -> Result<String, Seen> {
        let g = self.fresh('g');
        self.admin
            .post(
                "/v1/admin/groups",
                json!({"group_id": g, "type": ty, "members": members}),
            )
            .await?;
        Ok(g)
    }

    pub async fn client(&self, user: &str) -> Result<Client, Seen> {
        let token = self.admin.token_for(user, 3600).await?;
        Client::connect(&self.addr, &token).await
    }

    pub async fn clients(&self, users: &[String]) -> Result<Vec<Client>, Seen> {
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            out.push(self.client(u).await?);
        }
        Ok(out)
    }

    /// `n` users (n >= 1) in a fresh group of type `ty`, all connected.
    pub async fn scene(&self, n: usize, ty: &str) -> Result<Scene, Seen> {
        let users = self.users(n).await?;
        let group = self.group(ty, &users).await?;
        let clients = self.clients(&users).await?;
        Ok(Scene {
            users,
            group,
            clients,
        })
    }

    /// A well-formed message id no server has issued for this run.
    pub fn unknown_msg(&self) -> String {
        self.fresh('x')
    }
}

/// Sends to `group` and returns the message id.
pub async fn send_group(c: &mut Client, group: &str, need: bool) -> Result<String, Seen> {
    let ok = c
        .ok(json!({"op": "send_message", "conv": {"group": group}, "need_read_receipt": need, "body": "conform"}))
        .await?;
    msg_id(&ok)
}

/// Sends to `peer` and returns the message id.
pub async fn send_c2c(c: &mut Client, peer: &str, need: bool) -> Result<String, Seen> {
    let ok = c
        .ok(json!({"op": "send_message", "conv": {"c2c": peer}, "need_read_receipt": need}))
        .await?;
    msg_id(&ok)
}

fn msg_id(ok: &Value) -> Result<String, Seen> {
    ok["msg_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("send answer without msg_id: {ok}"))
}

/// `send_message_read_receipts` that must succeed as a whole; the response's `ok`.
pub async fn receipts(c: &mut Client, ids: &[&str]) -> Result<Value, Seen> {
    c.ok(json!({"op": "send_message_read_receipts", "msg_ids": ids}))
        .await
}

/// The sender's pulled entry of one message.
pub async fn pull(c: &mut Client, id: &str) -> Result<Value, Seen> {
    let ok = c
        .ok(json!({"op": "get_message_read_receipts", "msg_ids": [id]}))
        .await?;
    Ok(ok["entries"][0].clone())
}

/// One member-list page.
pub async fn page(
    c: &mut Client,
    id: &str,
    filter: &str,
    next_seq: u64,
    count: u32,
) -> Result<Value, Seen> {
    c.ok(json!({"op": "get_group_message_read_member_list", "msg_id": id, "filter": filter, "next_seq": next_seq, "count": count}))
        .await
}

/// The whole report of a run.
#[derive(Serialize)]
struct Report {
    /// No check failed (skipped ones do not count against it).
    passed: bool,
    target: String,
    seconds: f64,
    counts: Counts,
    checks: Vec<Row>,
    /// Every rule of docs/semantics.md, with the checks that cover it.
    coverage: Vec<Coverage>,
}

/// How many checks ended each way.
#[derive(Serialize)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Counts {
    fn of(rows: &[Row]) -> Counts {
        let n = |v: Verdict| rows.iter().filter(|r| r.outcome == v).count();
        Counts {
            passed: n(Verdict::Pass),
            failed: n(Verdict::Fail),
            skipped: n(Verdict::Skipped),
        }
    }
}

#[derive(Serialize)]
struct Coverage {
    rule: &'static str,
    title: &'static str,
    checks: usize,
}

pub fn execute(opts: &ConformOptions) -> Result<ExitStatus, ConformError> {
    let target = Target::parse(opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ConformError::Runtime)?;
    let owns_server = matches!(target, Target::Child);
    let (_child, addr, token) = target.open(opts)?;
    let started = Instant::now();
    let ctx = Ctx::new(addr, token, owns_server, owns_server || opts.admin_examples);
    let rows = rt.block_on(run_all(ctx))?;
    let counts = Counts::of(&rows);
    let report = Report {
        passed: counts.failed == 0,
        target: opts.target.clone(),
        seconds: started.elapsed().as_secs_f64(),
        counts,
        coverage: coverage(&rows),
        checks: rows,
    };
    match opts.format {
        ConformFormat::Json => super::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )),
        ConformFormat::Text => super::print(&text(&report)),
    }
    Ok(if report.passed {
        ExitStatus::Pass
    } else {
        ExitStatus::TargetFailed
    })
}

enum Target {
    Child,
    Remote(String),
}

impl Target {
    fn parse(opts: &ConformOptions) -> Result<Target, ConformError> {
        if opts.target == "server" {
            return Ok(Target::Child);
        }
        let Some(rest) = opts.target.strip_prefix("ws://") else {
            return Err(ConformError::Usage(format!(
                "unknown target {:?}: use `server` or ws://HOST:PORT",
                opts.target
            )));
        };
        let addr = rest.split('/').next().unwrap_or_default();
        if addr.is_empty() || opts.admin_token.is_none() {
            return Err(ConformError::Usage(
                "conform ws://HOST:PORT needs HOST:PORT and --admin-token".into(),
            ));
        }
        Ok(Target::Remote(addr.to_string()))
    }

    /// The child server (kept alive by the caller), the address and the admin token.
    fn open(
        self,
        opts: &ConformOptions,
    ) -> Result<(Option<ChildServer>, String, String), ConformError> {
        match self {
            Target::Remote(addr) => Ok((None, addr, opts.admin_token.clone().unwrap_or_default())),
            Target::Child => {
                let log = opts.log.clone().unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("readsim-conform-{}.log", std::process::id()))
                });
                let child = ChildServer::start(&log)?;
                let (addr, token) = (child.addr.clone(), child.admin_token.clone());
                Ok((Some(child), addr, token))
            }
        }
    }
}

impl Ctx {
    fn new(addr: String, token: String, owns_server: bool, admin_examples: bool) -> Ctx {
        let mut b = [0u8; 4];
        rand::fill(&mut b[..]);
        Ctx {
            admin: Admin {
                http: reqwest::Client::new(),
                addr: addr.clone(),
                token,
            },
            addr,
            run: hex::encode(b),
            next: AtomicU32::new(0),
            owns_server,
            admin_examples,
        }
    }
}

async fn run_all(ctx: Ctx) -> Result<Vec<Row>, ConformError> {
    let addr = &ctx.addr;
    ctx.admin
        .health()
        .await
        .map_err(|e| ConformError::Unreachable(format!("GET http://{addr}/v1/health: {e}")))?;
    // First: the doc's GET receipt_config example shows the default configuration, which
    // later checks rewrite.
    let mut rows = admin_examples::run(&ctx).await;
    rows.extend(ops::run(&ctx).await);
    rows.extend(errors::run(&ctx).await);
    rows.extend(paging::run(&ctx).await);
    rows.extend(auth::run(&ctx).await);
    rows.extend(frames::run(&ctx).await);
    rows.extend(close_codes::run(&ctx).await);
    rows.extend(limits::run(&ctx).await);
    Ok(rows)
}

fn coverage(rows: &[Row]) -> Vec<Coverage> {
    Rule::ALL
        .iter()
        .filter(|r| r.applies(Profile::Tencent))
        .map(|r| Coverage {
            rule: r.id(),
            title: r.info().title,
            checks: rows
                .iter()
                .filter(|row| row.rule == r.id() && row.outcome != Verdict::Skipped)
                .count(),
        })
        .collect()
}

/// The `wire/...` rules of docs/protocol.md the checks stand for, each with how many checks
/// ran (passed or failed) and were skipped: `wire/close 6 (+1 skipped)`.
fn wire_rules(rows: &[Row]) -> String {
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r.rule)
        .filter(|r| r.starts_with("wire/"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter()
        .map(|id| {
            let of = |skip: bool| {
                rows.iter()
                    .filter(|r| r.rule == *id && (r.outcome == Verdict::Skipped) == skip)
                    .count()
            };
            match of(true) {
                0 => format!("{id} {}", of(false)),
                k => format!("{id} {} (+{k} skipped)", of(false)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(report: &Report) -> String {
    use std::fmt::Write;
    let w = report
        .checks
        .iter()
        .map(|r| r.check.len())
        .max()
        .unwrap_or(5);
    let mut s = format!(
        "{:<13} | {:<w$} | {:<4} | what was seen\n",
        "rule", "check", ""
    );
    for r in &report.checks {
        let verdict = match r.outcome {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skip",
        };
        let _ = writeln!(
            s,
            "{:<13} | {:<w$} | {verdict} | {}",
            r.rule, r.check, r.seen
        );
    }
    let c = &report.counts;
    let _ = writeln!(
        s,
        "\n{} checks: {} passed, {} failed, {} skipped; {:.1}s against {}",
        report.checks.len(),
        c.passed,
        c.failed,
        c.skipped,
        report.seconds,
        report.target
    );
    let skipped: Vec<&str> = report
        .checks
        .iter()
        .filter(|r| r.outcome == Verdict::Skipped)
        .map(|r| r.check)
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(s, "skipped: {}", skipped.join("; "));
    }
    let (covered, not): (Vec<&Coverage>, Vec<&Coverage>) =
        report.coverage.iter().partition(|c| c.checks > 0);
    let ids = |v: &[&Coverage]| v.iter().map(|c| c.rule).collect::<Vec<_>>().join(" ");
    let _ = writeln!(s, "rules covered ({}): {}", covered.len(), ids(&covered));
    let _ = writeln!(s, "rules not covered ({}): {}", not.len(), ids(&not));
    let _ = writeln!(s, "docs/protocol.md rules: {}", wire_rules(&report.checks));
    let _ = writeln!(s, "{}", if report.passed { "PASS" } else { "FAIL" });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future<Output = Outcome>>(f: F) -> Row {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(check("wire/x", "a check", f))
    }

    #[test]
    fn a_check_passes_fails_or_is_skipped_with_its_reason() {
        assert_eq!(run(async { Ok("fine".into()) }).outcome, Verdict::Pass);
        let failed = run(async { Err("saw 1001".into()) });
        assert_eq!(
            (failed.outcome, failed.seen.as_str()),
            (Verdict::Fail, "saw 1001")
        );
        let s = run(async { Err(skip("needs --target server")) });
        assert_eq!(
            (s.outcome, s.seen.as_str()),
            (Verdict::Skipped, "needs --target server")
        );
    }

    #[test]
    fn skipped_checks_are_counted_and_listed_but_never_fail_the_run() {
        let rows = vec![
            run(async { Ok("fine".into()) }),
            skipped("wire/close", "close 1008", "not provocable"),
        ];
        let counts = Counts::of(&rows);
        assert_eq!((counts.passed, counts.failed, counts.skipped), (1, 0, 1));
        let report = Report {
            passed: counts.failed == 0,
            target: "server".into(),
            seconds: 1.0,
            counts,
            coverage: coverage(&rows),
            checks: rows,
        };
        let t = text(&report);
        assert!(
            t.contains("2 checks: 1 passed, 0 failed, 1 skipped;"),
            "{t}"
        );
        assert!(t.contains("| skip | not provocable") && t.contains("skipped: close 1008"));
        assert!(t.ends_with("PASS\n"), "{t}");
        assert!(
            t.contains("docs/protocol.md rules: wire/close 0 (+1 skipped), wire/x 1"),
            "{t}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["checks"][1]["outcome"], "skipped");
        assert_eq!(json["counts"]["skipped"], 1);
    }
}
