//! Member-list paging: each client pages one list at a time; its pages must list audience
//! members only, never repeat one, and miss nobody by the end.

use super::book::MsgState;
use super::coverage::Coverage;
use super::mx::MxSets;
use super::sink::Finding;
use super::violation::Invariant;
use crate::protocol::{MsgId, ReadFilter, UserId};
use crate::scenario::Rule;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

/// One member-list paging in progress.
struct Paging {
    msg: MsgId,
    filter: ReadFilter,
    seen: RoaringBitmap,
    /// Readers acknowledged before the first page was asked for.
    acked_at_start: RoaringBitmap,
    quiet: bool,
    /// The cursor the latest page was asked at.
    asked: u64,
    /// Pages answered so far.
    pages: u32,
    /// The highest user id listed so far (Matrix profile: both lists ascend, MX8).
    last: Option<u32>,
}

fn paging_finding(observed: String, bound: &str) -> Finding {
    Finding::new(Invariant::MemberListPaging, observed, bound)
}

impl Paging {
    /// Checks the members of one page, and remembers them.
    fn take(&mut self, m: &MsgState, members: &[UserId], mx: Option<&MxSets>) -> Vec<Finding> {
        let filter = self.filter;
        let mut found = Vec::new();
        for &u in members {
            if let Some(sets) = mx {
                found.extend(take_mx(self, sets, u));
            } else if !m.in_audience(u) {
                let bound = "only audience members are listed";
                found.push(paging_finding(format!("{filter:?} list lists {u}"), bound));
            }
            if !self.seen.insert(u.0) {
                let bound = "a paging never repeats a member";
                found.push(paging_finding(
                    format!("{filter:?} list repeats {u}"),
                    bound,
                ));
            }
            match filter {
                ReadFilter::Read if mx.is_none() && !m.invoked.contains(u.0) => {
                    found.push(paging_finding(
                        format!("read list lists {u}"),
                        "only readers who sent a receipt are in the read list",
                    ))
                }
                // A sender that left may list from a view frozen before the start (MX11).
                ReadFilter::Unread
                    if self.acked_at_start.contains(u.0) && mx.is_none_or(|s| s.party) =>
                {
                    found.push(paging_finding(
                        format!("unread list lists {u}"),
                        "readers acknowledged before the paging started are not unread",
                    ))
                }
                _ => {}
            }
        }
        found
    }

    /// What a paging that reached the end exercised.
    fn count_finished(&self, m: &MsgState, cov: &mut Coverage, mx: bool) {
        if mx {
            cov.hit(Rule::M5);
            if self.pages > 1 {
                cov.hit(Rule::MX8);
                cov.hit(Rule::M4);
            }
            if self.quiet {
                cov.hit(Rule::I2);
            }
            return;
        }
        cov.hit(Rule::M2);
        if self.pages > 1 {
            cov.hit(match self.filter {
                ReadFilter::Read => Rule::M3,
                ReadFilter::Unread => Rule::M4,
            });
        }
        if m.acked.len() > self.acked_at_start.len() {
            cov.hit(Rule::M6);
        }
        if self.quiet {
            cov.hit(Rule::I2);
        }
    }

    /// Checks a paging that reached the end: nobody missed, and exact once quiet.
    fn finish(&self, m: &MsgState, mx: Option<&MxSets>) -> Vec<Finding> {
        if let Some(sets) = mx {
            return finish_mx(self, sets);
        }
        let filter = self.filter;
        let mut found = Vec::new();
        let audience = m.audience_set();
        let must = match filter {
            ReadFilter::Read => self.acked_at_start.clone(),
            ReadFilter::Unread => &audience - &m.invoked.to_bitmap(),
        };
        let missed = &must - &self.seen;
        if let Some(u) = missed.min() {
            found.push(paging_finding(
                format!(
                    "{filter:?} list paged to the end without {} ({} missed)",
                    UserId(u),
                    missed.len()
                ),
                "a full paging misses no member who stayed in the list throughout",
            ));
        }
        if self.quiet {
            // Readers whose receipt was lost may be on either list.
            let seen = &self.seen - &m.unknown;
            let exact = match filter {
                ReadFilter::Read => &m.acked.to_bitmap() - &m.unknown,
                ReadFilter::Unread => &(&audience - &m.acked.to_bitmap()) - &m.unknown,
            };
            if exact != seen {
                let which = match filter {
                    ReadFilter::Read => "acknowledged",
                    ReadFilter::Unread => "unacknowledged",
                };
                found.push(Finding::new(
                    Invariant::QuietState,
                    format!("quiet {filter:?} list has {} members", self.seen.len()),
                    format!(
                        "exactly the {} {which} members (read + unread = audience, disjoint)",
                        exact.len()
                    ),
                ));
            }
        }
        found
    }
}

#[derive(Default)]
pub(super) struct Pagings {
    by_client: FxHashMap<UserId, Paging>,
}

impl Pagings {
    /// `client` asks for a page of `msg`'s `filter` list: a first page (`next_seq` 0), or
    /// one that does not continue its current paging, starts a new paging.
    /// `acked` gives the readers acknowledged so far.
    pub fn request(
        &mut self,
        client: UserId,
        msg: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        acked: impl FnOnce() -> RoaringBitmap,
        quiet: bool,
    ) -> bool {
        let continues = self
            .by_client
            .get(&client)
            .is_some_and(|p| p.msg == msg && p.filter == filter);
        if next_seq == 0 || !continues {
            let paging = Paging {
                msg,
                filter,
                seen: RoaringBitmap::new(),
                acked_at_start: acked(),
                // A paging that started mid-run may not end "quiet".
                quiet: quiet && next_seq == 0,
                asked: next_seq,
                pages: 0,
                last: None,
            };
            self.by_client.insert(client, paging);
            return true;
        } else if let Some(p) = self.by_client.get_mut(&client) {
            p.asked = next_seq;
        }
        false
    }

    /// A page of `m`'s `filter` list reached `client`; a finished paging is checked whole
    /// and forgotten. Pages of another list than the client's current paging are not judged.
    /// What the judged pages exercised is counted in `cov`.
    #[cfg(test)]
    pub fn page(
        &mut self,
        client: UserId,
        m: &MsgState,
        id: MsgId,
        page: PageAnswer,
        cov: &mut Coverage,
    ) -> Vec<Finding> {
        self.page_of(client, m, id, page, cov, None)
    }

    /// [`Pagings::page`] with the Matrix profile's sets (`mx`), when it is in force.
    pub fn page_of(
        &mut self,
        client: UserId,
        m: &MsgState,
        id: MsgId,
        page: PageAnswer,
        cov: &mut Coverage,
        mx: Option<&MxSets>,
    ) -> Vec<Finding> {
        let Some(p) = self.by_client.get_mut(&client) else {
            return Vec::new();
        };
        if p.msg != id || p.filter != page.filter {
            return Vec::new();
        }
        let mut found = p.take(m, page.members, mx);
        p.pages += 1;
        cov.hit(Rule::M5);
        if page.is_finished {
            p.count_finished(m, cov, mx.is_some());
            found.extend(p.finish(m, mx));
            self.by_client.remove(&client);
        } else if let Some(stuck) = stuck(p, &page) {
            // A paging that cannot progress ends here: judging its later pages would only
            // repeat this finding.
            found.push(stuck);
            self.by_client.remove(&client);
        }
        found
    }
}

/// One member of a page under the Matrix profile: a member (now or maybe), listed once, in
/// ascending user id (MX8); a reader only if its marker may have reached the message.
fn take_mx(p: &mut Paging, sets: &MxSets, u: UserId) -> Vec<Finding> {
    let filter = p.filter;
    let mut found = Vec::new();
    if !sets.may_member.contains(u.0) {
        let bound = "only current members but the sender are listed (MX6)";
        found.push(paging_finding(format!("{filter:?} list lists {u}"), bound));
    }
    if p.last.is_some_and(|l| u.0 <= l) {
        let bound = "both lists in ascending user id (MX8)";
        found.push(paging_finding(
            format!("{filter:?} list lists {u} after u{}", p.last.unwrap_or(0)),
            bound,
        ));
    }
    p.last = Some(p.last.map_or(u.0, |l| l.max(u.0)));
    if filter == ReadFilter::Read && !sets.may_read.contains(u.0) {
        found.push(paging_finding(
            format!("read list lists {u}"),
            "only members whose receipt covers the message are in the read list (MX3)",
        ));
    }
    found
}

/// A finished paging under the Matrix profile: nobody who stayed a member and on the list
/// throughout is missed; exact once quiet, but for users left unsure by lost calls or
/// membership changes.
fn finish_mx(p: &Paging, sets: &MxSets) -> Vec<Finding> {
    let filter = p.filter;
    let mut found = Vec::new();
    let must = match filter {
        ReadFilter::Read => &p.acked_at_start & &sets.sure,
        ReadFilter::Unread => &sets.sure - &sets.may_read,
    };
    let missed = &must - &p.seen;
    if let Some(u) = missed.min() {
        found.push(paging_finding(
            format!(
                "{filter:?} list paged to the end without {} ({} missed)",
                UserId(u),
                missed.len()
            ),
            "a full paging misses no member who stayed in the list throughout",
        ));
    }
    if p.quiet {
        let unsure = &(&sets.may_read - &sets.must_read) | &(&sets.may_member - &sets.sure);
        let exact = match filter {
            ReadFilter::Read => &sets.must_read & &sets.sure,
            ReadFilter::Unread => &sets.sure - &sets.may_read,
        };
        if &exact - &unsure != &p.seen - &unsure {
            found.push(Finding::new(
                Invariant::QuietState,
                format!("quiet {filter:?} list has {} members", p.seen.len()),
                format!("exactly the {} members on it (MX3, MX6)", exact.len()),
            ));
        }
    }
    found
}

/// One member-list page as answered.
pub(super) struct PageAnswer<'a> {
    pub filter: ReadFilter,
    pub members: &'a [UserId],
    pub next_seq: u64,
    pub is_finished: bool,
}

/// An unfinished page that cannot lead anywhere: empty (M5: unfinished means something is
/// left, so the page has a member) or handing back the cursor it was asked at (the next page
/// would be this one again). Cursors are opaque, so nothing else about them is judged.
fn stuck(p: &Paging, page: &PageAnswer) -> Option<Finding> {
    let filter = page.filter;
    if page.members.is_empty() {
        return Some(paging_finding(
            format!(
                "{filter:?} page at next_seq {} is empty but not finished",
                p.asked
            ),
            "an unfinished page lists at least one member (is_finished is false only when \
             something is left)",
        ));
    }
    (page.next_seq == p.asked).then(|| {
        paging_finding(
            format!(
                "{filter:?} page asked at next_seq {} is not finished and returns next_seq {}",
                p.asked, page.next_seq
            ),
            "an unfinished page moves the cursor (else the paging never ends)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cov() -> Coverage {
        Coverage::default()
    }
    use crate::check::book::{Book, Sighting};
    use crate::check::world::World;
    use crate::protocol::{AdminRequest, ConvKey, GroupId, GroupType, Response};

    const ID: MsgId = MsgId(1);
    const SENDER: UserId = UserId(1);

    /// A message from user 1 to users 2..=5; 2 and 3 invoked a receipt, 2's was acked.
    fn book() -> Book {
        let mut w = World::default();
        let req = AdminRequest::CreateGroup {
            group: GroupId(1),
            group_type: GroupType::Work,
            members: (1..=5).map(UserId).collect(),
        };
        w.on_admin(0, &req, &Response::AdminDone);
        let mut b = Book::default();
        let s = Sighting {
            id: ID,
            key: ConvKey::Group(GroupId(1)),
            sender: SENDER,
            seq: 1,
            timestamp_ms: 0,
            need: true,
            acked_send: Some(0),
        };
        b.sight(&w, 0, &s);
        let m = b.get_mut(&ID).unwrap();
        m.invoked.extend([2, 3]);
        m.acked.insert(2);
        b
    }

    fn start(p: &mut Pagings, b: &Book, filter: ReadFilter, quiet: bool) {
        let acked = || b.get(&ID).unwrap().acked.to_bitmap();
        p.request(SENDER, ID, filter, 0, acked, quiet);
    }

    /// A page answered with a cursor that moved (100: never one a test asks at).
    fn ans(filter: ReadFilter, members: &[UserId], is_finished: bool) -> PageAnswer<'_> {
        PageAnswer {
            filter,
            members,
            next_seq: 100,
            is_finished,
        }
    }

    fn users(ids: &[u32]) -> Vec<UserId> {
        ids.iter().map(|&u| UserId(u)).collect()
    }

    fn observed(found: &[Finding]) -> Vec<&str> {
        found.iter().map(|f| f.observed.as_str()).collect()
    }

    #[test]
    fn a_clean_paging_in_two_pages() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        start(&mut p, &b, ReadFilter::Unread, true);
        assert!(
            p.page(
                SENDER,
                m,
                ID,
                ans(ReadFilter::Unread, &users(&[3]), false),
                &mut cov()
            )
            .is_empty()
        );
        p.request(SENDER, ID, ReadFilter::Unread, 1, RoaringBitmap::new, true);
        let last = users(&[4, 5]);
        assert!(
            p.page(
                SENDER,
                m,
                ID,
                ans(ReadFilter::Unread, &last, true),
                &mut cov()
            )
            .is_empty()
        );
        // Finished: a further page belongs to no paging.
        let again = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &users(&[9]), true),
            &mut cov(),
        );
        assert!(again.is_empty());
    }

    #[test]
    fn members_outside_repeated_or_misplaced_are_flagged() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        start(&mut p, &b, ReadFilter::Unread, false);
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &users(&[9, 2, 2]), false),
            &mut cov(),
        );
        assert_eq!(
            observed(&found),
            [
                "Unread list lists u9",
                "unread list lists u2",
                "Unread list repeats u2",
                "unread list lists u2",
            ]
        );
        start(&mut p, &b, ReadFilter::Read, false);
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Read, &users(&[4]), false),
            &mut cov(),
        );
        assert_eq!(observed(&found), ["read list lists u4"]);
    }

    #[test]
    fn a_finished_paging_misses_nobody() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        start(&mut p, &b, ReadFilter::Unread, false);
        // 3 invoked a receipt: it may have left the unread list meanwhile.
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &users(&[4]), true),
            &mut cov(),
        );
        assert_eq!(
            observed(&found),
            ["Unread list paged to the end without u5 (1 missed)"]
        );
        start(&mut p, &b, ReadFilter::Read, false);
        let found = p.page(SENDER, m, ID, ans(ReadFilter::Read, &[], true), &mut cov());
        assert_eq!(
            observed(&found),
            ["Read list paged to the end without u2 (1 missed)"]
        );
    }

    #[test]
    fn a_quiet_paging_is_exact() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        start(&mut p, &b, ReadFilter::Read, true);
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Read, &users(&[2, 3]), true),
            &mut cov(),
        );
        assert_eq!(observed(&found), ["quiet Read list has 2 members"]);
        assert_eq!(found[0].invariant, Invariant::QuietState);
        assert_eq!(
            found[0].bound,
            "exactly the 1 acknowledged members (read + unread = audience, disjoint)"
        );
        // Started mid-paging: not judged as quiet.
        p.request(SENDER, ID, ReadFilter::Read, 5, RoaringBitmap::new, true);
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Read, &users(&[2, 3]), true),
            &mut cov(),
        );
        assert!(found.is_empty());
    }

    #[test]
    fn a_page_of_another_list_is_not_judged() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        start(&mut p, &b, ReadFilter::Read, false);
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &users(&[9]), true),
            &mut cov(),
        );
        assert!(found.is_empty());
        // The Read paging is still open.
        let found = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Read, &users(&[2]), true),
            &mut cov(),
        );
        assert!(found.is_empty());
    }

    #[test]
    fn an_unfinished_page_that_is_empty_or_keeps_its_cursor_is_flagged_once() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        start(&mut p, &b, ReadFilter::Unread, false);
        let stuck = PageAnswer {
            filter: ReadFilter::Unread,
            members: &[UserId(3)],
            next_seq: 0,
            is_finished: false,
        };
        let found = p.page(SENDER, m, ID, stuck, &mut cov());
        assert_eq!(found.len(), 1, "{:?}", observed(&found));
        assert!(found[0].observed.contains("returns next_seq 0"));
        // The paging ended with the finding: the same page again is not judged twice.
        let again = PageAnswer {
            filter: ReadFilter::Unread,
            members: &[UserId(3)],
            next_seq: 0,
            is_finished: false,
        };
        assert!(p.page(SENDER, m, ID, again, &mut cov()).is_empty());

        start(&mut p, &b, ReadFilter::Unread, false);
        let empty = p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &[], false),
            &mut cov(),
        );
        assert_eq!(
            observed(&empty),
            ["Unread page at next_seq 0 is empty but not finished"]
        );
    }

    #[test]
    fn finished_pagings_count_pages_cursors_and_receipts_that_arrived() {
        let b = book();
        let m = b.get(&ID).unwrap();
        let mut p = Pagings::default();
        let mut cov = Coverage::default();
        let rules = [Rule::M2, Rule::M3, Rule::M4, Rule::M5, Rule::M6, Rule::I2];
        let counts = |c: &Coverage| rules.map(|r| c.exercised(r));
        start(&mut p, &b, ReadFilter::Unread, true);
        let first = users(&[3]);
        p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &first, false),
            &mut cov,
        );
        assert_eq!(counts(&cov), [0, 0, 0, 1, 0, 0], "unfinished");
        p.request(SENDER, ID, ReadFilter::Unread, 1, RoaringBitmap::new, true);
        let last = users(&[4, 5]);
        p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Unread, &last, true),
            &mut cov,
        );
        assert_eq!(counts(&cov), [1, 0, 1, 2, 0, 1]);
        // A one-page read list during which 2's receipt was acknowledged (none at start).
        p.request(SENDER, ID, ReadFilter::Read, 0, RoaringBitmap::new, false);
        p.page(
            SENDER,
            m,
            ID,
            ans(ReadFilter::Read, &users(&[2]), true),
            &mut cov,
        );
        assert_eq!(counts(&cov), [2, 0, 1, 3, 1, 1]);
    }
}
