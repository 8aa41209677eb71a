//! The open-loop scheduler: one task owns the [`Workload`], its timers (keyed by intended
//! start time) and the id map, and is the only producer of history. Connections are plain
//! channels here (frames out, parsed frames in), so the scheduler runs without a server.
//!
//! Open loop, wrk2-style: a timer's operations are sent when the timer is due, whatever is
//! still in flight; `Event::Invoke` carries the intended time (latency counts from it) and
//! the actual send time (the harness's own lateness).

use crate::faults::{Scheduled, ScheduledFault};
use crate::history::{Event, FaultKind, Observer, OpId, OwnedEvent};
use crate::protocol::{AdminRequest, Micros, Request, Response, UserId};
use crate::wire::{ClientFrame, Ids, PushFrame, ResponseFrame};
use crate::workload::{Action, Tag, Timer, Workload};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// A frame from the server, parsed on the connection's reader task.
#[derive(Debug)]
pub enum Incoming {
    Response(ResponseFrame),
    Push(PushFrame),
    /// Not JSON of a known frame shape: the server does not speak docs/protocol.md.
    Bad(String),
}

impl Incoming {
    /// Parses one text frame (push frames carry a `push` field, responses do not).
    pub fn parse(text: &str) -> Incoming {
        if text.contains("\"push\"")
            && let Ok(p) = serde_json::from_str::<PushFrame>(text)
        {
            return Incoming::Push(p);
        }
        match serde_json::from_str::<ResponseFrame>(text) {
            Ok(r) => Incoming::Response(r),
            Err(e) => Incoming::Bad(format!("{e}: {}", truncate(text, 200))),
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What a connection's reader task (or a fault task) hands the scheduler. `conn` numbers the
/// client's connections (0 = the first): anything from a connection the scheduler already
/// gave up on is stale and ignored.
#[derive(Debug)]
pub enum Inbound {
    Frame {
        client: UserId,
        conn: u64,
        /// When the reader got it off the socket.
        at: Instant,
        frame: Incoming,
    },
    /// The connection ended (server closed it, or a read failed).
    Closed {
        client: UserId,
        conn: u64,
        reason: String,
    },
    /// A new connection of `client` is open (after [`FaultLinks::reconnect`]).
    Connected {
        client: UserId,
        conn: u64,
        tx: UnboundedSender<ClientFrame>,
    },
    /// Reconnecting `client` failed for good (bounded attempts).
    ReconnectFailed {
        client: UserId,
        conn: u64,
        detail: String,
    },
    /// The crashed server is up again (Ok) or could not be restarted (Err: why).
    ServerUp(Result<(), String>),
    /// A churn admin operation invoked at `invoked` was answered (Err: it could not be sent).
    AdminDone {
        invoked: Micros,
        at: Instant,
        req: AdminRequest,
        resp: Result<Response, String>,
    },
}

/// What the scheduler needs from the outside world to inject faults and reconnect. Results
/// come back on the inbound channel ([`Inbound::Connected`], [`Inbound::ServerUp`], ...),
/// so the scheduler never blocks on them.
pub trait FaultLinks: Send {
    /// Opens connection number `conn` of `client` (retrying with backoff, bounded).
    fn reconnect(&self, client: UserId, conn: u64);
    /// Cuts the client's connection; false if it has none to cut.
    fn cut(&self, client: UserId) -> bool;
    /// Stalls the client's connection; false if it has none.
    fn stall(&self, client: UserId, length: Duration) -> bool;
    /// Turns the extra delay of the fault phase on or off.
    fn delay(&self, on: bool);
    /// Kills the server and restarts it after `downtime`; false if this target cannot be
    /// crashed (someone else's server).
    fn crash(&self, downtime: Duration) -> bool;
    /// Applies a churn admin operation invoked at `invoked`.
    fn admin(&self, req: AdminRequest, invoked: Micros);
}

/// The fault side of a live run: the schedule, the links that carry it out, and the
/// timeout after which an unanswered request is lost.
pub struct FaultSetup {
    pub links: Box<dyn FaultLinks>,
    /// Sorted by time.
    pub schedule: Vec<Scheduled>,
    /// End of the fault phase: `Calm` is emitted once it has passed and every client is back.
    pub until: Micros,
    pub request_timeout: Duration,
}

/// Timers in (intended time, insertion sequence) order.
#[derive(Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

struct Entry {
    at: Micros,
    seq: u64,
    timer: Timer,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: the earliest (time, seq) is the heap's maximum.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

impl TimerQueue {
    pub fn push(&mut self, at: Micros, timer: Timer) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            timer,
        });
    }
    pub fn peek_at(&self) -> Option<Micros> {
        self.heap.peek().map(|e| e.at)
    }
    pub fn pop(&mut self) -> Option<(Micros, Timer)> {
        self.heap.pop().map(|e| (e.at, e.timer))
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// How the scheduler ends its phases and reports progress.
#[derive(Clone, Debug)]
pub struct DriveConfig {
    /// Once no timer is pending and nothing is in flight, wait this long for trailing pushes
    /// (which may start reads) before calling the phase done.
    pub settle: Duration,
    /// Once no timer is pending, give up on operations still in flight after this long
    /// without any frame arriving; they are reported as outstanding.
    pub drain_timeout: Duration,
    /// Print a progress line to stderr once a second.
    pub progress: bool,
    /// Violations found so far (published by the observers), for the progress line.
    pub violations: Option<Arc<AtomicU64>>,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            settle: Duration::from_millis(300),
            drain_timeout: Duration::from_secs(30),
            progress: false,
            violations: None,
        }
    }
}

/// Counters of a live run, beyond what the history says.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DriveStats {
    /// Operations sent.
    pub invoked: u64,
    /// Operations answered.
    pub completed: u64,
    /// Per-message successes of `send_message_read_receipts` responses.
    pub acked_receipts: u64,
    /// Times of the first and last receipt acknowledgement.
    pub first_receipt_ack: Option<Micros>,
    pub last_receipt_ack: Option<Micros>,
    /// Operations still unanswered when a phase gave up waiting (timeout or closed socket).
    pub outstanding: u64,
    /// Operations not sent because the client's connection was gone.
    pub not_sent: u64,
    /// Frames that did not map to the protocol (malformed, unknown response id).
    pub bad_frames: u64,
    /// A few examples of what went wrong, for the terminal.
    pub problems: Vec<String>,
    /// Connections closed during the run that no injected fault explains.
    pub disconnects: u64,
    /// Operations given up on (request timeout, or the connection closed first).
    pub lost: u64,
    /// Responses that arrived after their operation was given up on (ignored).
    pub late_responses: u64,
    /// Frames from a connection the scheduler had already given up on (ignored).
    pub stale_frames: u64,
    /// Injected faults carried out: cuts, stalls, crashes; and restarts and reconnects.
    pub cuts: u64,
    pub stalls: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub reconnects: u64,
    /// Clients that could not reconnect, and server restarts that failed.
    pub reconnect_failures: u64,
    pub restart_failures: u64,
    /// Churn admin operations applied, and those that could not be sent.
    pub admin_ops: u64,
    pub admin_failures: u64,
    /// Online clients, and those connected when the run ended.
    pub online: u64,
    pub connected_at_end: u64,
    /// What the run did about faults, once each (e.g. faults a TCP stream cannot carry).
    pub notes: Vec<String>,
    /// Time of the last event (End).
    pub end: Micros,
}

impl DriveStats {
    /// Acknowledged receipts per second between the first and the last acknowledgement.
    pub fn acked_receipts_per_second(&self) -> f64 {
        match (self.first_receipt_ack, self.last_receipt_ack) {
            (Some(a), Some(b)) if b > a => self.acked_receipts as f64 / ((b - a) as f64 / 1e6),
            _ => 0.0,
        }
    }

    /// Problems that make a live run incomplete. With faults configured, disconnects and
    /// lost operations are expected (the workload recovers from them); without, a dropped
    /// connection means the run did not do what it was asked.
    pub fn incomplete(&self, faults: bool) -> u64 {
        let unexpected = if faults { 0 } else { self.disconnects };
        self.outstanding
            + self.not_sent
            + self.bad_frames
            + unexpected
            + self.reconnect_failures
            + self.restart_failures
            + self.admin_failures
            + self.online.saturating_sub(self.connected_at_end)
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < 10 {
            self.problems.push(p);
        }
    }
}

struct InFlight {
    client: UserId,
    tag: Tag,
    req: Request,
}

/// Where a client's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Never connects (offline user).
    Never,
    Up,
    /// Cut on purpose; reconnects at the time in `Scheduler::offline`.
    Offline,
    /// A reconnect is under way.
    Reconnecting,
    /// Reconnecting failed for good.
    Dead,
}

/// The fault state of a run with [`FaultSetup`].
struct FaultState {
    links: Box<dyn FaultLinks>,
    schedule: VecDeque<Scheduled>,
    until: Micros,
    calm: bool,
    timeout: Micros,
    /// (deadline, op): deadlines are invoke time + a constant, so the queue stays sorted.
    deadlines: VecDeque<(Micros, OpId)>,
    /// Operations given up on, so their late responses are recognised.
    lost: FxHashSet<OpId>,
    /// (reconnect time, client) of clients cut on purpose.
    offline: BinaryHeap<Reverse<(Micros, u32)>>,
    /// Crashed and not yet restarted.
    server_down: bool,
    /// Closes are expected (a crash is in progress) until the restart.
    crash_closes: bool,
    /// Per client, the connection number it had when the server last crashed: its close
    /// is expected even when it arrives after the restart (e.g. held by a stall).
    crashed_conn: Vec<u64>,
    admin_pending: u64,
    /// Operations lost at once because their client was disconnected, for `on_lost` on the
    /// next turn of the loop (not recursively, so a retry cannot loop within one call).
    deferred: Vec<(Micros, UserId, Tag, Request)>,
}

/// The scheduler's state: everything the single driving task owns.
pub struct Scheduler<'o, O: Observer> {
    epoch: Instant,
    workload: Workload,
    timers: TimerQueue,
    ids: Ids,
    conns: Vec<Option<UnboundedSender<ClientFrame>>>,
    ops: FxHashMap<OpId, InFlight>,
    next_op: OpId,
    obs: &'o mut O,
    /// Time of the last emitted event: events are emitted in non-decreasing time.
    last_t: Micros,
    /// Last time a frame arrived or an operation was sent.
    last_activity: Instant,
    actions: Vec<Action>,
    cfg: DriveConfig,
    stats: DriveStats,
    /// Per client: its connection's state and number.
    link: Vec<Link>,
    conn_no: Vec<u64>,
    next_conn: u64,
    faults: Option<FaultState>,
}

impl<'o, O: Observer> Scheduler<'o, O> {
    /// `conns[u]` sends frames on user `u`'s socket (None: offline). Time 0 is `epoch`.
    pub fn new(
        workload: Workload,
        conns: Vec<Option<UnboundedSender<ClientFrame>>>,
        obs: &'o mut O,
        epoch: Instant,
        cfg: DriveConfig,
    ) -> Self {
        let link: Vec<Link> = conns
            .iter()
            .map(|c| if c.is_some() { Link::Up } else { Link::Never })
            .collect();
        let stats = DriveStats {
            online: link.iter().filter(|l| **l == Link::Up).count() as u64,
            ..DriveStats::default()
        };
        Scheduler {
            conn_no: vec![0; conns.len()],
            link,
            next_conn: 1,
            faults: None,
            epoch,
            workload,
            timers: TimerQueue::default(),
            ids: Ids::default(),
            conns,
            ops: FxHashMap::default(),
            next_op: 1,
            obs,
            last_t: 0,
            last_activity: Instant::now(),
            actions: Vec::new(),
            cfg,
            stats,
        }
    }

    /// Injects `setup`'s faults during the traffic phase, and reconnects clients whose
    /// connection drops.
    pub fn with_faults(mut self, setup: FaultSetup) -> Self {
        setup.links.delay(true);
        self.faults = Some(FaultState {
            links: setup.links,
            schedule: setup.schedule.into(),
            until: setup.until,
            calm: false,
            timeout: setup.request_timeout.as_micros() as Micros,
            deadlines: VecDeque::new(),
            lost: FxHashSet::default(),
            offline: BinaryHeap::new(),
            server_down: false,
            crash_closes: false,
            crashed_conn: vec![u64::MAX; self.conns.len()],
            admin_pending: 0,
            deferred: Vec::new(),
        });
        self
    }

    fn micros(&self, at: Instant) -> Micros {
        at.saturating_duration_since(self.epoch).as_micros() as Micros
    }

    /// The current time as an event time (never before the last event).
    fn now(&mut self) -> Micros {
        let t = self.micros(Instant::now()).max(self.last_t);
        self.last_t = t;
        t
    }

    /// Runs the traffic phase, Quiet, the final checks and End; returns the counters.
    pub async fn drive(mut self, rx: &mut UnboundedReceiver<Inbound>) -> DriveStats {
        let mut actions = std::mem::take(&mut self.actions);
        self.workload.start(&mut actions);
        self.apply(&mut actions, 0);
        self.run_phase(rx, "traffic").await;
        let t = self.now();
        self.obs.observe(&Event::Quiet { t });
        self.workload.final_checks(&mut actions);
        self.apply(&mut actions, t);
        self.actions = actions;
        self.run_phase(rx, "final checks").await;
        let t = self.now();
        self.obs.observe(&Event::End { t });
        self.stats.end = t;
        self.stats.connected_at_end = self.link.iter().filter(|l| **l == Link::Up).count() as u64;
        self.stats
    }

    /// Fires timers when due and handles frames until nothing is pending.
    async fn run_phase(&mut self, rx: &mut UnboundedReceiver<Inbound>, phase: &str) {
        let started = Instant::now();
        let mut next_progress = started + Duration::from_secs(1);
        let mut last_invoked = self.stats.invoked;
        let mut inbound_open = true;
        self.last_activity = Instant::now();
        loop {
            // Due timers first, in intended-time order: the schedule never waits for answers.
            let now_i = Instant::now();
            let now = self.micros(now_i);
            let mut actions = std::mem::take(&mut self.actions);
            while let Some(at) = self.timers.peek_at() {
                if at > now {
                    break;
                }
                let (at, timer) = self.timers.pop().expect("peeked");
                self.workload.on_timer(at, timer, &mut actions);
                self.apply(&mut actions, at);
            }
            self.actions = actions;
            self.fault_turn(now);
            // Then what has arrived, bounded so timers are not starved.
            for _ in 0..1024 {
                match rx.try_recv() {
                    Ok(m) => self.handle(m),
                    Err(_) => break,
                }
            }
            let now_i = Instant::now();
            if self.cfg.progress && now_i >= next_progress {
                let elapsed = now_i.duration_since(self.epoch).as_secs_f64();
                let ops = self.stats.invoked - last_invoked;
                last_invoked = self.stats.invoked;
                let violations = self
                    .cfg
                    .violations
                    .as_ref()
                    .map(|v| format!("  violations {}", v.load(AtomicOrdering::Relaxed)))
                    .unwrap_or_default();
                let _ = write!(
                    std::io::stderr(),
                    "\r{phase}: {elapsed:6.1}s  {ops:6} ops/s  in flight {:6}  timers {:7}  \
                     receipts acked {:9}{violations}\x1b[K",
                    self.ops.len(),
                    self.timers.len(),
                    self.stats.acked_receipts
                );
                next_progress = now_i + Duration::from_secs(1);
            }
            if self.timers.is_empty() {
                let idle = now_i.duration_since(self.last_activity);
                if self.ops.is_empty() && idle >= self.cfg.settle && self.faults_settled() {
                    break;
                }
                if idle >= self.cfg.drain_timeout || (!inbound_open && !self.ops.is_empty()) {
                    self.give_up(phase);
                    break;
                }
            }
            // Sleep until the next timer, the next check, or a frame.
            let mut wake = now_i + self.cfg.settle.min(Duration::from_millis(100));
            if self.cfg.progress {
                wake = wake.min(next_progress);
            }
            if let Some(at) = self.timers.peek_at() {
                wake = wake.min(self.epoch + Duration::from_micros(at));
            }
            if let Some(at) = self.next_fault_time() {
                wake = wake.min(self.epoch + Duration::from_micros(at));
            }
            if wake <= Instant::now() {
                continue;
            }
            if inbound_open {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => self.handle(m),
                        None => inbound_open = false,
                    },
                    _ = tokio::time::sleep_until(wake.into()) => {}
                }
            } else {
                tokio::time::sleep_until(wake.into()).await;
            }
        }
        if self.cfg.progress {
            let _ = writeln!(std::io::stderr());
        }
    }

    fn give_up(&mut self, phase: &str) {
        let n = self.ops.len() as u64;
        if n > 0 {
            let mut some: Vec<_> = self.ops.iter().map(|(op, f)| (*op, f.client)).collect();
            some.sort_unstable();
            some.truncate(5);
            self.stats.problem(format!(
                "{phase}: gave up on {n} operation(s) still unanswered, e.g. (op, client) {some:?}"
            ));
            self.stats.outstanding += n;
            self.ops.clear();
        }
    }

    /// Sends the workload's invokes (intended at `intended`) and queues its timers.
    fn apply(&mut self, actions: &mut Vec<Action>, intended: Micros) {
        for a in actions.drain(..) {
            match a {
                Action::Timer { at, timer } => self.timers.push(at, timer),
                Action::Invoke { client, req, tag } => self.invoke(client, req, tag, intended),
                Action::Fault { kind, client } => {
                    self.fault(kind, client);
                }
                Action::Admin { req, kind } => self.churn(req, kind),
            }
        }
    }

    fn invoke(&mut self, client: UserId, req: Request, tag: Tag, intended: Micros) {
        let tx = self.conns.get(client.0 as usize).and_then(|c| c.clone());
        if tx.is_none() && self.faults.is_none() {
            self.stats.not_sent += 1;
            return;
        }
        let op = self.next_op;
        self.next_op += 1;
        let t = self.now().max(intended);
        self.last_t = t;
        self.obs.observe(&Event::Invoke {
            t,
            intended,
            client,
            op,
            req: &req,
        });
        let sent = tx.is_some_and(|tx| tx.send(self.ids.request(op, &req)).is_ok());
        if let Some(f) = &mut self.faults
            && !sent
        {
            // A disconnected client cannot send: the operation is lost at once, and the
            // workload hears of it on the next turn.
            self.obs.observe(&Event::Lost { t, client, op });
            self.stats.lost += 1;
            f.deferred.push((t, client, tag, req));
            return;
        }
        if !sent {
            // The writer is gone: the op is invoked but can never be answered.
            self.stats.outstanding += 1;
            return;
        }
        self.stats.invoked += 1;
        self.last_activity = Instant::now();
        if let Some(f) = &mut self.faults {
            f.deadlines.push_back((t + f.timeout, op));
        }
        self.ops.insert(op, InFlight { client, tag, req });
    }

    /// A churn change from the workload: applied through the admin API (the result comes
    /// back as [`Inbound::AdminDone`]); the fault timeline names the user at once.
    fn churn(&mut self, req: AdminRequest, kind: FaultKind) {
        let user = match &req {
            AdminRequest::AddMember { user, .. } | AdminRequest::RemoveMember { user, .. } => {
                Some(*user)
            }
            _ => None,
        };
        let Some(f) = &mut self.faults else {
            self.stats.not_sent += 1;
            self.stats
                .problem("a churn admin operation without the live fault links".into());
            return;
        };
        f.admin_pending += 1;
        let t = self.now();
        self.obs.observe(&Event::Fault {
            t,
            kind,
            client: user,
        });
        // The change is in flight until it is answered: the checker treats the membership
        // as unsettled meanwhile.
        self.obs.observe(&Event::AdminInvoke { t, req: &req });
        if let Some(f) = &self.faults {
            f.links.admin(req, t);
        }
        self.last_activity = Instant::now();
    }

    /// Gives up on in-flight `op` at `t` (timeout or closed connection).
    fn lose(&mut self, op: OpId, t: Micros) {
        let Some(InFlight { client, tag, req }) = self.ops.remove(&op) else {
            return;
        };
        self.obs.observe(&Event::Lost { t, client, op });
        self.stats.lost += 1;
        if let Some(f) = &mut self.faults {
            f.lost.insert(op);
        }
        self.hook_on_lost(t, client, tag, &req);
    }

    /// `Workload::on_lost`: the workload may retry.
    fn hook_on_lost(&mut self, t: Micros, client: UserId, tag: Tag, req: &Request) {
        let mut actions = std::mem::take(&mut self.actions);
        self.workload.on_lost(t, client, tag, req, &mut actions);
        self.apply(&mut actions, t);
        self.actions = actions;
    }

    /// `Workload::on_disconnect`.
    fn hook_on_disconnect(&mut self, t: Micros, client: UserId) {
        self.workload.on_disconnect(t, client);
    }

    /// `Workload::on_reconnect`: the workload pulls to catch up.
    fn hook_on_reconnect(&mut self, t: Micros, client: UserId) {
        let mut actions = std::mem::take(&mut self.actions);
        self.workload.on_reconnect(t, client, &mut actions);
        self.apply(&mut actions, t);
        self.actions = actions;
    }

    /// Whether the fault side lets the phase end: the fault phase is over (Calm emitted),
    /// the server is up, no client is waiting to reconnect, no churn operation is pending.
    fn faults_settled(&self) -> bool {
        let Some(f) = &self.faults else { return true };
        f.calm
            && !f.server_down
            && f.admin_pending == 0
            && !self
                .link
                .iter()
                .any(|l| matches!(l, Link::Offline | Link::Reconnecting))
    }

    /// The next time the fault side must act (fault, timeout, reconnect, end of the phase).
    fn next_fault_time(&self) -> Option<Micros> {
        let f = self.faults.as_ref()?;
        [
            f.schedule.front().map(|x| x.at),
            f.deadlines.front().map(|d| d.0),
            f.offline.peek().map(|r| r.0.0),
            (!f.calm).then_some(f.until),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Carries out what is due on the fault side at `now`.
    fn fault_turn(&mut self, now: Micros) {
        let Some(f) = &mut self.faults else { return };
        for (t, client, tag, req) in std::mem::take(&mut f.deferred) {
            self.hook_on_lost(t, client, tag, &req);
        }
        while let Some(f) = &mut self.faults
            && let Some(&(deadline, op)) = f.deadlines.front()
            && deadline <= now
        {
            f.deadlines.pop_front();
            if self.ops.contains_key(&op) {
                let t = self.now();
                self.lose(op, t);
            }
        }
        while let Some(f) = &mut self.faults
            && f.schedule.front().is_some_and(|x| x.at <= now)
        {
            let Some(fault) = f.schedule.pop_front() else {
                break;
            };
            self.inject(fault.what);
        }
        while let Some(f) = &mut self.faults
            && let Some(&Reverse((at, u))) = f.offline.peek()
            && (at <= now || f.calm || now >= f.until)
        {
            f.offline.pop();
            if self.link[u as usize] == Link::Offline {
                self.reconnect(UserId(u));
            }
        }
        let Some(f) = &mut self.faults else { return };
        if !f.calm && now >= f.until {
            // The fault phase is over: no more faults, no extra delay, cut clients come back
            // now; Calm once the server is up and every client is connected again.
            f.schedule.clear();
            f.links.delay(false);
            if !self.faults_ready_for_calm() {
                return;
            }
            let t = self.now();
            if let Some(f) = &mut self.faults {
                f.calm = true;
            }
            self.obs.observe(&Event::Calm { t });
        }
    }

    fn faults_ready_for_calm(&self) -> bool {
        let Some(f) = &self.faults else { return true };
        !f.server_down
            && f.offline.is_empty()
            && !self
                .link
                .iter()
                .any(|l| matches!(l, Link::Offline | Link::Reconnecting))
    }

    fn fault(&mut self, kind: FaultKind, client: Option<UserId>) -> Micros {
        let t = self.now();
        self.obs.observe(&Event::Fault { t, kind, client });
        t
    }

    fn inject(&mut self, what: ScheduledFault) {
        let Some(f) = &mut self.faults else { return };
        match what {
            ScheduledFault::Disconnect { client, offline } => {
                if self.link.get(client.0 as usize) != Some(&Link::Up) || !f.links.cut(client) {
                    return;
                }
                self.stats.cuts += 1;
                let t = self.fault(FaultKind::Disconnect, Some(client));
                self.disconnect(client, t);
                self.link[client.0 as usize] = Link::Offline;
                if let Some(f) = &mut self.faults {
                    f.offline.push(Reverse((t + offline, client.0)));
                }
            }
            ScheduledFault::Stall { client, length } => {
                let up = self.link.get(client.0 as usize) == Some(&Link::Up);
                if up && f.links.stall(client, Duration::from_micros(length)) {
                    self.stats.stalls += 1;
                    self.fault(FaultKind::Stall, Some(client));
                }
            }
            ScheduledFault::Crash { downtime } => {
                if f.server_down {
                    return;
                }
                if !f.links.crash(Duration::from_micros(downtime)) {
                    self.note("crashes skipped: the target is not a server this run started");
                    return;
                }
                f.server_down = true;
                f.crash_closes = true;
                f.crashed_conn.clone_from(&self.conn_no);
                self.stats.crashes += 1;
                self.fault(FaultKind::Crash, None);
            }
        }
    }

    fn note(&mut self, n: &str) {
        if !self.stats.notes.iter().any(|x| x == n) {
            self.stats.notes.push(n.to_string());
        }
    }

    /// `client`'s connection is gone at `t`: history says so, its in-flight operations are
    /// lost, the workload hears of it, and anything still arriving from it is stale.
    fn disconnect(&mut self, client: UserId, t: Micros) {
        let c = client.0 as usize;
        self.conns[c] = None;
        self.conn_no[c] = u64::MAX;
        self.obs.observe(&Event::Disconnect { t, client });
        let mut lost: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, f)| f.client == client)
            .map(|(op, _)| *op)
            .collect();
        lost.sort_unstable();
        for op in lost {
            self.lose(op, t);
        }
        self.hook_on_disconnect(t, client);
    }

    fn reconnect(&mut self, client: UserId) {
        let Some(f) = &self.faults else { return };
        let n = self.next_conn;
        self.next_conn += 1;
        self.conn_no[client.0 as usize] = n;
        self.link[client.0 as usize] = Link::Reconnecting;
        f.links.reconnect(client, n);
    }

    /// Whether `conn` is `client`'s current connection (frames from older ones are stale).
    fn current(&self, client: UserId, conn: u64) -> bool {
        self.conn_no.get(client.0 as usize) == Some(&conn)
    }

    fn handle(&mut self, m: Inbound) {
        self.last_activity = Instant::now();
        match m {
            Inbound::Frame {
                client,
                conn,
                at,
                frame,
            } => {
                if !self.current(client, conn) {
                    self.stats.stale_frames += 1;
                    return;
                }
                let t = self.micros(at).max(self.last_t);
                self.last_t = t;
                match frame {
                    Incoming::Response(r) => self.response(t, client, r),
                    Incoming::Push(p) => self.push(t, client, p),
                    Incoming::Bad(e) => {
                        self.stats.bad_frames += 1;
                        self.stats
                            .problem(format!("client u{}: unreadable frame: {e}", client.0));
                    }
                }
            }
            Inbound::Closed {
                client,
                conn,
                reason,
            } => {
                if !self.current(client, conn) {
                    return;
                }
                let expected = self.faults.as_ref().is_some_and(|f| {
                    f.crash_closes || f.crashed_conn.get(client.0 as usize) == Some(&conn)
                });
                if !expected {
                    self.stats.disconnects += 1;
                    self.stats.problem(format!(
                        "client u{}: connection closed during the run: {reason}",
                        client.0
                    ));
                }
                if self.faults.is_none() {
                    // No faults: nothing reconnects; the run reports the loss.
                    if let Some(c) = self.conns.get_mut(client.0 as usize) {
                        *c = None;
                    }
                    let lost: Vec<OpId> = self
                        .ops
                        .iter()
                        .filter(|(_, f)| f.client == client)
                        .map(|(op, _)| *op)
                        .collect();
                    self.stats.outstanding += lost.len() as u64;
                    for op in lost {
                        self.ops.remove(&op);
                    }
                    let t = self.now();
                    self.obs.observe(&Event::Disconnect { t, client });
                    return;
                }
                let t = self.now();
                self.disconnect(client, t);
                self.reconnect(client);
            }
            Inbound::Connected { client, conn, tx } => {
                let c = client.0 as usize;
                if !self.current(client, conn) || self.link[c] != Link::Reconnecting {
                    // A connection nobody waits for any more: dropping `tx` closes it.
                    return;
                }
                self.conns[c] = Some(tx);
                self.link[c] = Link::Up;
                self.stats.reconnects += 1;
                let t = self.now();
                self.obs.observe(&Event::Connect { t, client });
                self.fault(FaultKind::Reconnect, Some(client));
                self.hook_on_reconnect(t, client);
            }
            Inbound::ReconnectFailed {
                client,
                conn,
                detail,
            } => {
                if !self.current(client, conn) {
                    return;
                }
                self.link[client.0 as usize] = Link::Dead;
                self.stats.reconnect_failures += 1;
                self.stats.problem(format!(
                    "client u{}: could not reconnect: {detail}",
                    client.0
                ));
            }
            Inbound::ServerUp(r) => {
                if let Some(f) = &mut self.faults {
                    f.server_down = false;
                    f.crash_closes = false;
                }
                match r {
                    Ok(()) => {
                        self.stats.restarts += 1;
                        self.fault(FaultKind::Restart, None);
                    }
                    Err(e) => {
                        self.stats.restart_failures += 1;
                        self.stats
                            .problem(format!("the crashed server did not restart: {e}"));
                    }
                }
            }
            Inbound::AdminDone {
                invoked,
                at,
                req,
                resp,
            } => {
                if let Some(f) = &mut self.faults {
                    f.admin_pending = f.admin_pending.saturating_sub(1);
                }
                match resp {
                    Ok(resp) => {
                        let t = self.micros(at).max(self.last_t).max(invoked);
                        self.last_t = t;
                        self.stats.admin_ops += 1;
                        self.obs.observe(&Event::Admin {
                            t,
                            invoked,
                            req: &req,
                            resp: &resp,
                        });
                    }
                    Err(e) => {
                        self.stats.admin_failures += 1;
                        self.stats
                            .problem(format!("churn admin operation {req:?} failed: {e}"));
                        // Close the call in the history; whether it took effect is unknown,
                        // and the checker treats the membership as changed either way.
                        let t = self.micros(at).max(self.last_t).max(invoked);
                        self.last_t = t;
                        self.obs.observe(&Event::Admin {
                            t,
                            invoked,
                            req: &req,
                            resp: &Response::Error {
                                code: crate::protocol::ErrorCode::Internal,
                            },
                        });
                    }
                }
            }
        }
    }

    fn response(&mut self, t: Micros, client: UserId, r: ResponseFrame) {
        if let (Some(op), Some(f)) = (r.id, &mut self.faults)
            && f.lost.remove(&op)
        {
            // Given up on already (timeout): the workload has moved on.
            self.stats.late_responses += 1;
            return;
        }
        let Some(f) = r.id.and_then(|op| self.ops.remove(&op).map(|f| (op, f))) else {
            self.stats.bad_frames += 1;
            self.stats.problem(format!(
                "client u{}: response to no operation in flight (id {:?}, error {:?})",
                client.0, r.id, r.error
            ));
            return;
        };
        let (
            op,
            InFlight {
                client: c,
                tag,
                req,
            },
        ) = f;
        let resp = match self.ids.response(&req, &r) {
            Ok(resp) => resp,
            Err(e) => {
                self.stats.bad_frames += 1;
                self.stats.outstanding += 1;
                self.stats.problem(format!("client u{}: op {op}: {e}", c.0));
                return;
            }
        };
        self.stats.completed += 1;
        if let Response::ReceiptsSent { results } = &resp {
            let ok = results.iter().filter(|r| r.result.is_ok()).count() as u64;
            if ok > 0 {
                self.stats.acked_receipts += ok;
                self.stats.first_receipt_ack.get_or_insert(t);
                self.stats.last_receipt_ack = Some(t);
            }
        }
        let mut actions = std::mem::take(&mut self.actions);
        self.workload.on_response(t, c, tag, &resp, &mut actions);
        self.obs.observe_owned(OwnedEvent::Complete {
            t,
            client: c,
            op,
            resp,
        });
        self.apply(&mut actions, t);
        self.actions = actions;
    }

    fn push(&mut self, t: Micros, client: UserId, p: PushFrame) {
        let push = match self.ids.push(&p) {
            Ok(Some(push)) => push,
            Ok(None) => {
                if let PushFrame::Closing { reason } = p {
                    self.stats
                        .problem(format!("client u{}: server is closing: {reason}", client.0));
                }
                return;
            }
            Err(e) => {
                self.stats.bad_frames += 1;
                self.stats
                    .problem(format!("client u{}: bad push: {e}", client.0));
                return;
            }
        };
        let mut actions = std::mem::take(&mut self.actions);
        self.workload.on_push(t, client, &push, &mut actions);
        self.obs.observe_owned(OwnedEvent::Push { t, client, push });
        self.apply(&mut actions, t);
        self.actions = actions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use crate::wire::{WireError, WireRequest};
    use tokio::sync::mpsc::unbounded_channel;

    #[derive(Default)]
    struct Record(Vec<OwnedEvent>);
    impl Observer for Record {
        fn observe(&mut self, ev: &Event<'_>) {
            self.0.push(OwnedEvent::from(ev));
        }
    }

    const SCENARIO: &str = r#"
name = "sched"
seed = 5
duration = "1500ms"
[population]
users = 40
online_share = 1.0
[[groups]]
count = 4
type = "Work"
size = { dist = "fixed", value = 5 }
[c2c]
pairs = 5
[traffic]
group_messages_per_sec = 40.0
c2c_messages_per_sec = 20.0
[pulls]
per_user_per_minute = 0.0
"#;

    #[test]
    fn frames_parse_as_pushes_responses_or_bad() {
        assert!(matches!(
            Incoming::parse(r#"{"push":"hello","user_id":"u1","protocol":"readsim/1"}"#),
            Incoming::Push(PushFrame::Hello { .. })
        ));
        assert!(matches!(
            Incoming::parse(r#"{"id":3,"ok":{"timestamp_ms":5}}"#),
            Incoming::Response(ResponseFrame { id: Some(3), .. })
        ));
        assert!(matches!(Incoming::parse("not json"), Incoming::Bad(_)));
    }

    #[test]
    fn timers_pop_in_time_then_insertion_order() {
        let mut q = TimerQueue::default();
        for (at, conv) in [(5, 0), (1, 1), (5, 2), (0, 3)] {
            q.push(at, Timer::Send { conv });
        }
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        let want = [(0, 3), (1, 1), (5, 0), (5, 2)].map(|(at, conv)| (at, Timer::Send { conv }));
        assert_eq!(order, want);
    }

    /// A fake server: answers sends after `delay` with an ack (except for `stalled`, which
    /// never hears back), everything else with an error; never pushes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_go_out_at_their_intended_times_whatever_is_in_flight() {
        let scenario = crate::scenario::parse_str(SCENARIO, "sched.toml").unwrap();
        let workload = Workload::new(&scenario, scenario.seed);
        let users = workload.plan().users as usize;
        let (in_tx, mut in_rx) = unbounded_channel::<Inbound>();
        let stalled = UserId(workload.plan().pairs[0].0.0);
        let mut conns = Vec::new();
        for u in 0..users {
            let (tx, mut rx) = unbounded_channel::<ClientFrame>();
            conns.push(Some(tx));
            let in_tx = in_tx.clone();
            let client = UserId(u as u32);
            tokio::spawn(async move {
                let mut seq = 0;
                while let Some(f) = rx.recv().await {
                    if client == stalled {
                        continue;
                    }
                    let r = match f.op {
                        WireRequest::SendMessage { .. } => {
                            seq += 1;
                            ResponseFrame {
                                id: Some(f.id),
                                ok: Some(serde_json::json!({
                                    "msg_id": format!("x{}", f.id), "seq": seq, "timestamp_ms": 1})),
                                error: None,
                            }
                        }
                        _ => ResponseFrame {
                            id: Some(f.id),
                            ok: None,
                            error: Some(WireError::from(ErrorCode::Internal)),
                        },
                    };
                    let in_tx = in_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let _ = in_tx.send(Inbound::Frame {
                            client,
                            conn: 0,
                            at: Instant::now(),
                            frame: Incoming::Response(r),
                        });
                    });
                }
            });
        }
        drop(in_tx);
        let mut rec = Record::default();
        let cfg = DriveConfig {
            settle: Duration::from_millis(100),
            drain_timeout: Duration::from_millis(800),
            ..DriveConfig::default()
        };
        let sched = Scheduler::new(workload, conns, &mut rec, Instant::now(), cfg);
        let stats = sched.drive(&mut in_rx).await;

        // The same seeded send schedule as the workload alone produces (no responses needed).
        let mut w = Workload::new(&scenario, scenario.seed);
        let mut expected = Vec::new();
        let mut q = TimerQueue::default();
        let mut acts = Vec::new();
        w.start(&mut acts);
        let mut now = 0;
        loop {
            for a in acts.drain(..) {
                match a {
                    Action::Timer { at, timer } => q.push(at, timer),
                    Action::Invoke {
                        client,
                        req: req @ Request::SendMessage { .. },
                        ..
                    } => expected.push((now, client, req)),
                    Action::Invoke { .. } | Action::Admin { .. } | Action::Fault { .. } => {}
                }
            }
            let Some((at, t)) = q.pop() else { break };
            now = at;
            w.on_timer(at, t, &mut acts);
        }

        let mut sends = Vec::new();
        let mut sends_at = Vec::new();
        for ev in &rec.0 {
            if let OwnedEvent::Invoke {
                t,
                intended,
                client,
                req: req @ Request::SendMessage { .. },
                ..
            } = ev
            {
                assert!(t >= intended, "sent before its intended time");
                sends.push((*intended, *client, req.clone()));
                sends_at.push(*intended);
            }
        }
        assert!(!sends.is_empty());
        assert_eq!(
            sends, expected,
            "live sends differ from the seeded schedule"
        );
        assert!(sends_at.windows(2).all(|w| w[0] <= w[1]));
        assert!(sends_at.iter().all(|&t| t < scenario.duration.micros));
        // The stalled client kept sending on schedule although nothing came back.
        let stalled_sends = sends.iter().filter(|(_, c, _)| *c == stalled).count();
        assert!(stalled_sends >= 2, "stalled client sent {stalled_sends}");
        assert_eq!(stats.outstanding, stalled_sends as u64);
        assert!(matches!(rec.0.last(), Some(OwnedEvent::End { .. })));
        let times: Vec<Micros> = rec.0.iter().map(|e| e.as_event().time()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "event times go back"
        );
    }
}
