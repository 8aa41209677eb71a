//! The streaming checker: one pass over history, every invariant of docs/semantics.md.
//!
//! It keeps its own account of the world (users, groups, audiences, who invoked and who got
//! an acknowledged receipt) from the history alone and never trusts a target's counts.
//! Concurrency is handled with bounds: an observation that started at t0 and ended at t1 may
//! show anything between what was acknowledged before t0 and what was invoked before t1.
//! State is per live entity (message, conversation, in-flight op, open paging); liveness
//! deadlines are dropped once checked.
//!
//! The parts: `World` (members, connections, membership changes), `Book` (messages,
//! audiences, sightings), `expect` (what the rules prescribe), `counts`, `Pagings`, `Marks`,
//! `Liveness` and the `Sink`. This file routes events to them; `ops.rs` follows each client
//! operation from invoke to its answer.

use super::book::{Book, Sighting};
use super::counts::{self, Look, Lower};
use super::coverage::{Coverage, CoverageTable, Observed};
use super::devices::Devices;
use super::liveness::Liveness;
use super::marks::Marks;
use super::mx::MxMarks;
use super::ops::PendingOp;
use super::paging::Pagings;
use super::sink::{Finding, Sink};
use super::violation::{Invariant, Violation};
use super::world::World;
use crate::history::{Device, Event, FaultKind, Observer, OpId};
use crate::protocol::{AdminRequest, ConvKey, Micros, Profile, Push, ReceiptEntry, UserId};
use crate::scenario::Rule;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// What the checker needs to know that is not in the history.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// Every acknowledged receipt must reach its online sender within this bound.
    pub liveness_bound: Micros,
    /// The command that replays this run; printed with every violation.
    pub replay: String,
    /// Keep at most this many violations in full (all are counted).
    pub max_recorded: usize,
    /// The run starts with a fault phase (ended by `Event::Calm`): liveness deadlines are
    /// only enforced for receipts acknowledged after it.
    pub fault_phase: bool,
    /// The rules the target is held to.
    pub profile: Profile,
    /// Connections per online user (`[population] devices`): above 1, D1 is checked.
    pub devices: u8,
}

impl CheckConfig {
    /// The checks `scenario` asks for; violations print `replay`.
    pub fn for_scenario(
        scenario: &crate::scenario::Scenario,
        replay: String,
        max_recorded: usize,
    ) -> CheckConfig {
        CheckConfig {
            liveness_bound: scenario.checks.liveness_bound.micros,
            replay,
            max_recorded,
            fault_phase: scenario.faults.any() || scenario.faults.swarm,
            profile: scenario.semantics.profile,
            devices: scenario.population.device_count(),
        }
    }
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            liveness_bound: 5_000_000,
            replay: String::from("(no replay command given)"),
            max_recorded: 100,
            fault_phase: false,
            profile: Profile::Tencent,
            devices: 1,
        }
    }
}

/// The streaming checker. Feed it every event with [`Observer::observe`], then read
/// [`Checker::violations`].
pub struct Checker {
    pub(super) world: World,
    pub(super) book: Book,
    pub(super) marks: Marks,
    pub(super) paging: Pagings,
    pub(super) liveness: Liveness,
    /// D1: every device of a user gets each of its pushes.
    pub(super) devices: Devices,
    pub(super) sink: Sink,
    /// Which rules the run put to the test.
    pub(super) cov: Coverage,
    /// Server crashes seen so far.
    pub(super) crashes: u32,
    /// Operations invoked and not yet answered or lost.
    pub(super) pending: FxHashMap<(UserId, OpId), PendingOp>,
    /// The workload stopped starting work: pulls and pagings started now must be exact.
    pub(super) quiet: bool,
    /// Matrix profile: read markers as bounds, and when each client's paging started.
    pub(super) mx: MxMarks,
    pub(super) mx_paging_since: FxHashMap<UserId, Micros>,
}

impl Checker {
    pub fn new(cfg: CheckConfig) -> Checker {
        let mut world = World::default();
        world.profile = cfg.profile;
        let mut book = Book::default();
        if cfg.profile.is_matrix() {
            book.for_matrix();
        }
        Checker {
            world,
            book,
            marks: Marks::default(),
            paging: Pagings::default(),
            liveness: Liveness::new(cfg.liveness_bound, !cfg.fault_phase),
            devices: Devices::new(cfg.devices, cfg.liveness_bound, cfg.fault_phase),
            sink: Sink::new(cfg.replay, cfg.max_recorded),
            cov: Coverage::for_profile(cfg.profile).with_devices(cfg.devices),
            crashes: 0,
            pending: FxHashMap::default(),
            quiet: false,
            mx: MxMarks::default(),
            mx_paging_since: FxHashMap::default(),
        }
    }

    /// The first violations found (at most `max_recorded`).
    pub fn violations(&self) -> &[Violation] {
        self.sink.recorded()
    }

    /// How many violations were found in all.
    pub fn violations_total(&self) -> u64 {
        self.sink.total()
    }

    /// Violation counts per invariant (those that broke at least once).
    pub fn counts(&self) -> BTreeMap<Invariant, u64> {
        self.sink.counts()
    }

    /// How many violations were found of each invariant, recorded or not, indexed by
    /// [`Invariant::index`] (the order of [`Invariant::ALL`]).
    pub fn totals_by_invariant(&self) -> &[u64; Invariant::ALL.len()] {
        self.sink.totals_by_invariant()
    }

    /// How many times the run put each rule to the test.
    pub fn coverage(&self) -> &Coverage {
        &self.cov
    }

    /// The reports' coverage table: each rule with its count and observed outcome.
    pub fn coverage_table(&self) -> CoverageTable {
        self.cov.table(self.totals_by_invariant())
    }

    /// Checks one receipt entry observed by `look.client` (push or pull) at `t`.
    pub(super) fn observe_entry(&mut self, t: Micros, e: &ReceiptEntry, look: &Look) {
        if self.world.profile.is_matrix() {
            return self.mx_observe(t, look.client, e, look.push, None);
        }
        let id = e.msg_id();
        let Some(m) = self.book.get(&id) else { return };
        let (count, found) = counts::entry_findings(m, &self.marks, e, look);
        if let Some(m) = self.book.get_mut(&id) {
            let o = Observed {
                entry: e,
                world: &self.world,
                marks: &self.marks,
                by_sender: look.client == m.sender,
                pull: !look.push,
                crashes: self.crashes,
            };
            self.cov.count_observed(m, o);
            counts::note_entry(m, e, count, look);
        }
        self.sink.report_all(t, Some(look.client), Some(id), found);
    }

    fn on_push(&mut self, t: Micros, client: UserId, push: &Push) {
        match *push {
            Push::NewMessage {
                msg_id,
                conv,
                sender,
                seq,
                timestamp_ms,
                need_read_receipt,
            } => {
                let s = Sighting {
                    id: msg_id,
                    key: ConvKey::of(client, conv),
                    sender,
                    seq,
                    timestamp_ms,
                    need: need_read_receipt,
                    acked_send: None,
                };
                let fresh = self.book.get(&msg_id).is_none();
                let found = self.book.sight(&self.world, t, &s);
                self.sink.report_all(t, Some(client), Some(msg_id), found);
                if fresh && self.world.profile.is_matrix() {
                    self.mx_sighted(msg_id);
                }
                self.cov.hit(Rule::S8);
                self.cov.hit(Rule::S9);
                let Some(m) = self.book.get_mut(&msg_id) else {
                    return;
                };
                m.need = need_read_receipt;
                // Pushed to it: the client is in the audience if it was unsure.
                m.settle_in(client);
                if !m.in_audience(client) {
                    let f = Finding::new(
                        Invariant::ResultCodes,
                        format!("new_message push of {msg_id} to {client}"),
                        "new_message goes to the audience only",
                    );
                    self.sink.report(t, Some(client), Some(msg_id), f);
                }
            }
            Push::Receipts { ref entries } => {
                let look = Look {
                    client,
                    device: Device::FIRST,
                    push: true,
                    quiet: self.quiet,
                    lower: Lower::None,
                };
                for e in entries {
                    self.observe_entry(t, e, &look);
                }
            }
            Push::C2cRead { user_id, .. } if self.world.profile.is_matrix() => {
                self.mx_c2c_read(t, client, user_id)
            }
            Push::C2cRead {
                user_id,
                timestamp_ms,
            } => {
                if self.marks.latest_seen(client, user_id).is_some() {
                    self.cov.hit(Rule::C3);
                    self.cov.hit(Rule::I3);
                }
                let found = self.marks.saw_c2c_read(client, user_id, timestamp_ms);
                self.sink.report_all(t, Some(client), None, found);
            }
        }
    }

    /// Checks the deadlines that passed before `t` (all of them when `t` is None).
    fn expire(&mut self, t: Option<Micros>) {
        let (book, world, marks) = (&self.book, &self.world, &self.marks);
        self.liveness.expire(t, book, world, marks, &mut self.sink);
        let judged = self.devices.expire(t, world, &mut self.sink);
        self.cov.hit_n(Rule::D1, judged);
    }

    /// A push reached `client`'s connection `device`: the rules of one client see the first
    /// device's copies (as with one connection per user), D1 sees them all.
    fn on_device_push(&mut self, t: Micros, client: UserId, device: Device, push: &Push) {
        if device.is_first() {
            self.on_push(t, client, push);
        }
        self.devices.on_push(t, client, device, push, &self.world);
    }

    fn on_end(&mut self, t: Micros) {
        self.expire(None);
        for (k, len, max) in self.book.seq_gaps() {
            let f = Finding::new(
                Invariant::Sequencing,
                format!("{k:?} has {len} messages up to seq {max}"),
                "seqs are gap-free: 1..=n",
            );
            self.sink.report(t, None, None, f);
        }
    }
}

impl Observer for Checker {
    fn observe(&mut self, ev: &Event<'_>) {
        self.expire(Some(ev.time()));
        match *ev {
            Event::Admin {
                t,
                invoked,
                req,
                resp,
            } => {
                self.world.on_admin(t, req, resp);
                if let (AdminRequest::RemoveMember { group, user }, None) = (req, resp.error_code())
                {
                    self.world.left_at(*group, *user, invoked);
                }
            }
            Event::AdminInvoke { req, .. } => self.world.on_admin_invoke(req),
            Event::Connect { t, client } => self.world.connect(t, client),
            Event::Disconnect { client, .. } => self.world.disconnect(client),
            Event::Invoke {
                t,
                client,
                device,
                op,
                req,
                ..
            } => self.on_invoke(t, (client, device), op, req),
            Event::Complete {
                t,
                client,
                op,
                resp,
            } => self.on_complete(t, client, op, resp),
            Event::Push {
                t,
                client,
                device,
                push,
            } => self.on_device_push(t, client, device, push),
            Event::Lost { client, op, .. } => self.on_lost(client, op),
            Event::Fault { t, kind, client } => {
                self.crashes += u32::from(kind == FaultKind::Crash);
                self.sink.fault(t, kind, client);
            }
            Event::Calm { t } => {
                self.liveness.calm();
                self.devices.calm(t);
            }
            Event::Quiet { .. } => self.quiet = true,
            Event::End { t } => self.on_end(t),
        }
    }
}
