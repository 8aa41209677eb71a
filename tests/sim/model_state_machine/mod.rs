//! Model-based test of `readsim::model::Model` against a deliberately naive re-implementation
//! of docs/semantics.md (plain `Vec`s and `BTreeSet`s, no bitmaps, no cursors shared with the
//! model's code), driven by `proptest-state-machine`.
//!
//! Every step compares the model's response and pushes with the naive reference exactly, then
//! checks the invariants of docs/semantics.md on every message: read + unread = |audience|; the read
//! and unread lists paged to the end with small pages are disjoint, cover the audience and match
//! the counts; counts never decrease; `is_peer_read` never reverts; `c2c_read` timestamps never
//! decrease.
//!
//! Cases: `PROPTEST_CASES` (default 256), as for any proptest test.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, Conv, ConvKey, ErrorCode, GroupId, GroupType, HistoryMessage, MAX_BATCH, Micros,
    MsgId, PerMessage, Push, ReadFilter, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Users `0..INITIAL_USERS` exist from the start; ids up to `MAX_USER` are drawn (the rest are
/// unknown until a `CreateUser` step creates them).
const INITIAL_USERS: u32 = 6;
const MAX_USER: u32 = 7;
/// Groups `0..GROUPS` exist; `GroupId(GROUPS)` is drawn as an unknown group.
const GROUPS: u32 = 3;

mod generation;
mod reference;
mod sut;

use generation::Reference;
use reference::{Op, RefState, Step};
use sut::Sut;

struct ModelTest;

impl StateMachineTest for ModelTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(r: &RefState) -> Sut {
        let mut model = Model::new(r.config.clone());
        for a in &r.setup {
            assert_eq!(model.admin(a), Response::AdminDone, "setup {a:?}");
        }
        Sut {
            model,
            seen_read: BTreeMap::new(),
            seen_peer_read: BTreeSet::new(),
            seen_mark_ts: BTreeMap::new(),
        }
    }

    fn apply(mut sut: Sut, r: &RefState, step: Step) -> Sut {
        let (want, want_out) = r.expected.clone().expect("reference applied the step");
        let mut out = Vec::new();
        let got = match &step.op {
            Op::Client { user, req } => sut.model.apply(r.now, *user, req, &mut out),
            Op::Admin(a) => sut.model.admin(a),
        };
        assert_eq!(got, want, "response to {step:?}");
        assert_eq!(out, want_out, "pushes of {step:?}");
        sut.observe_pushes(&out);
        sut.check_all(r);
        sut
    }

    fn check_invariants(sut: &Sut, r: &RefState) {
        assert_eq!(sut.model.config(), &r.config);
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        // Keep the crate tree clean; a failure prints the minimal step list and its seed.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn model_matches_naive_reference(sequential 1..60 => ModelTest);
}

/// PROPTEST_CASES left unset gives the 256 cases this suite promises.
#[test]
fn default_case_count_is_at_least_256() {
    if std::env::var_os("PROPTEST_CASES").is_none() {
        assert!(Config::default().cases >= 256);
    }
}
