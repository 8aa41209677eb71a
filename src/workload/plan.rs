//! The population a scenario describes: users (and who is online), groups with members, and
//! 1:1 pairs. Drawn once per run from per-entity streams.

use super::user_convs::UserConvs;
use crate::dist::sample_size;
use crate::protocol::{AdminRequest, ConvKey, GroupId, GroupType, ReceiptConfig, UserId};
use crate::rng::{Purpose, Streams};
use crate::scenario::{Scenario, Shard};
use rand::RngExt;
use rand::seq::index;
use rustc_hash::FxHashSet;

/// One group as planned.
#[derive(Clone, Debug)]
pub struct GroupPlan {
    pub id: GroupId,
    pub group_type: GroupType,
    /// Members in ascending id order.
    pub members: Vec<UserId>,
    /// Members who are online and so can send.
    pub online_members: Vec<UserId>,
    /// Share of group traffic (relative weight).
    pub weight: f64,
    /// Whether a need_read_receipt send here is allowed by the receipt configuration.
    pub supports_receipts: bool,
}

/// A conversation that carries traffic.
#[derive(Copy, Clone, Debug)]
pub struct ConvPlan {
    pub key: ConvKey,
    /// Messages per virtual second.
    pub rate: f64,
}

/// Everything drawn before the first message.
#[derive(Clone, Debug)]
pub struct Plan {
    pub users: u32,
    pub online: Vec<bool>,
    pub groups: Vec<GroupPlan>,
    pub pairs: Vec<(UserId, UserId)>,
    /// Conversations with traffic, indexed by their traffic-process number.
    pub convs: Vec<ConvPlan>,
    /// Conversations of each user (groups it belongs to and pairs it is in).
    pub user_convs: UserConvs,
    pub receipt_config: ReceiptConfig,
    /// The groups this shard drives (all of them unsharded), in id order: churn and bursts
    /// pick from these only, so a group's membership changes stay with its shard.
    pub shard_groups: Vec<GroupId>,
    /// The users this shard provisions (all of them unsharded), in id order: members of its
    /// groups, sides of its pairs, and users in no conversation that hash to it.
    pub shard_users: Vec<UserId>,
    /// The shard this plan drives (`--shard`; whole: 0/1).
    pub shard: Shard,
    /// Sharded runs only (empty otherwise): each user's conversation count in the whole run,
    /// so its pull rate is split between the shards in proportion to its conversations.
    pub all_conv_counts: Vec<u32>,
}

impl Plan {
    pub fn draw(s: &Scenario, streams: &Streams) -> Plan {
        let n = s.population.users;
        let online: Vec<bool> = (0..n)
            .map(|u| {
                streams
                    .rng(Purpose::Population, u64::from(u))
                    .random_bool(s.population.online_share.clamp(0.0, 1.0))
            })
            .collect();
        let receipt_config = s.receipts.config();
        let groups = draw_groups(s, streams, &online, &receipt_config);
        let pairs = draw_pairs(s, streams, &online);
        // Each user's groups in id order, then its pairs in the order they were drawn.
        let members = groups.iter().map(|g| g.members.as_slice());
        let user_convs = UserConvs::build(n as usize, members, &pairs);
        let convs = traffic_convs(s, &groups, &pairs);
        let mut plan = Plan {
            users: n,
            online,
            shard_groups: groups.iter().map(|g| g.id).collect(),
            shard_users: (0..n).map(UserId).collect(),
            shard: s.shard,
            groups,
            pairs,
            convs,
            user_convs,
            receipt_config,
            all_conv_counts: Vec::new(),
        };
        if !s.shard.is_whole() {
            plan.restrict(s.shard);
        }
        plan
    }

    /// Keeps only `shard`'s conversations in what drives traffic (`convs`, `user_convs`,
    /// `shard_groups`) and only its users in provisioning and `online` (users outside it
    /// never connect). `groups` and `pairs` stay whole: they are the population ids index
    /// into, and the warnings describe the scenario, not the shard. Everything is drawn
    /// before this, from per-entity streams, so a conversation behaves the same in any shard.
    fn restrict(&mut self, shard: Shard) {
        let owns = |k: &ConvKey| match *k {
            ConvKey::Group(g) => shard.owns_group(g.0),
            ConvKey::Pair(a, b) => shard.owns_pair(a.0, b.0),
        };
        self.convs.retain(|c| owns(&c.key));
        self.shard_groups.retain(|g| shard.owns_group(g.0));
        self.all_conv_counts = (0..self.users)
            .map(|u| self.user_convs.count(UserId(u)) as u32)
            .collect();
        self.user_convs.retain(|k| owns(&k));
        let counts = &self.all_conv_counts;
        let user_convs = &self.user_convs;
        self.shard_users.retain(|u| {
            let i = u.0 as usize;
            user_convs.count(*u) > 0 || (counts[i] == 0 && shard.owns_lone_user(u.0))
        });
        let mut keep = vec![false; self.users as usize];
        for u in &self.shard_users {
            keep[u.0 as usize] = true;
        }
        for (o, k) in self.online.iter_mut().zip(keep) {
            *o &= k;
        }
    }

    /// Share of `user`'s conversations in this shard (1 unsharded): its pull rate's factor.
    pub fn pull_share(&self, user: UserId) -> f64 {
        match self.all_conv_counts.get(user.0 as usize) {
            Some(&all) if all > 0 => self.user_convs.count(user) as f64 / f64::from(all),
            _ => 1.0,
        }
    }

    /// Share of the groups in this shard (1 unsharded): the churn rate's factor.
    pub fn group_share(&self) -> f64 {
        if self.all_conv_counts.is_empty() || self.groups.is_empty() {
            1.0
        } else {
            self.shard_groups.len() as f64 / self.groups.len() as f64
        }
    }

    pub fn group(&self, g: GroupId) -> &GroupPlan {
        &self.groups[g.0 as usize]
    }

    pub fn is_online(&self, u: UserId) -> bool {
        self.online[u.0 as usize]
    }

    /// Provisioning requests, in order: configuration, users, groups (this shard's).
    pub fn provisioning(&self) -> Vec<AdminRequest> {
        let mut out = Vec::with_capacity(self.shard_users.len() + self.shard_groups.len() + 1);
        out.push(AdminRequest::SetReceiptConfig {
            config: self.receipt_config.clone(),
        });
        out.extend(
            self.shard_users
                .iter()
                .map(|&user| AdminRequest::CreateUser { user }),
        );
        out.extend(self.shard_groups.iter().map(|&id| {
            let g = self.group(id);
            AdminRequest::CreateGroup {
                group: g.id,
                group_type: g.group_type,
                members: g.members.clone(),
            }
        }));
        out
    }
}

/// Every group of every class, in class order; each from its own stream.
fn draw_groups(
    s: &Scenario,
    streams: &Streams,
    online: &[bool],
    receipt_config: &ReceiptConfig,
) -> Vec<GroupPlan> {
    let n = s.population.users;
    let mut groups = Vec::new();
    for class in &s.groups {
        for _ in 0..class.count {
            let id = GroupId(groups.len() as u32);
            let mut rng = streams.rng(Purpose::Membership, u64::from(id.0));
            let size = sample_size(&class.size, &mut rng).clamp(1, n);
            let mut members: Vec<UserId> = index::sample(&mut rng, n as usize, size as usize)
                .into_iter()
                .map(|u| UserId(u as u32))
                .collect();
            members.sort_unstable();
            let online_members: Vec<UserId> = members
                .iter()
                .copied()
                .filter(|u| online[u.0 as usize])
                .collect();
            groups.push(GroupPlan {
                id,
                group_type: class.group_type,
                // MX1: under the Matrix profile every group takes receipts, so no send that
                // asks for them is misuse there.
                supports_receipts: s.semantics.profile.is_matrix()
                    || (receipt_config.supports(class.group_type)
                        && members.len() as u64 <= u64::from(receipt_config.max_group_size)),
                members,
                online_members,
                weight: class.traffic_weight,
            });
        }
    }
    groups
}

/// Distinct 1:1 pairs of online users, (lower id, higher id), in the order drawn.
fn draw_pairs(s: &Scenario, streams: &Streams, online: &[bool]) -> Vec<(UserId, UserId)> {
    let online_users: Vec<u32> = (0..s.population.users)
        .filter(|&u| online[u as usize])
        .collect();
    let mut pairs = Vec::new();
    if online_users.len() < 2 {
        return pairs;
    }
    let max_pairs = (online_users.len() as u64 * (online_users.len() as u64 - 1)) / 2;
    let want = u64::from(s.c2c.pairs).min(max_pairs);
    let mut rng = streams.rng(Purpose::Pairs, 0);
    let mut seen = FxHashSet::default();
    while (pairs.len() as u64) < want {
        let a = online_users[rng.random_range(0..online_users.len())];
        let b = online_users[rng.random_range(0..online_users.len())];
        if a == b {
            continue;
        }
        let (lo, hi) = (UserId(a.min(b)), UserId(a.max(b)));
        if seen.insert((lo, hi)) {
            pairs.push((lo, hi));
        }
    }
    pairs
}

/// The traffic processes: groups with an online member (sharing the group rate by weight),
/// then pairs (sharing the 1:1 rate evenly).
fn traffic_convs(s: &Scenario, groups: &[GroupPlan], pairs: &[(UserId, UserId)]) -> Vec<ConvPlan> {
    let total_weight: f64 = groups
        .iter()
        .filter(|g| !g.online_members.is_empty())
        .map(|g| g.weight)
        .sum();
    let mut convs = Vec::new();
    for g in groups {
        if !g.online_members.is_empty() && total_weight > 0.0 {
            convs.push(ConvPlan {
                key: ConvKey::Group(g.id),
                rate: s.traffic.group_messages_per_sec * g.weight / total_weight,
            });
        }
    }
    for &(a, b) in pairs {
        convs.push(ConvPlan {
            key: ConvKey::Pair(a, b),
            rate: s.traffic.c2c_messages_per_sec / pairs.len() as f64,
        });
    }
    convs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiny fixture with churn, so joiners come from the shard's users too.
    fn scenario(shard: Shard) -> Scenario {
        let text = include_str!("../../tests/fixtures/tiny.toml");
        let mut s = crate::scenario::parse_str(text, "tiny.toml").unwrap();
        s.population.users = 300;
        s.groups[0].count = 60;
        s.c2c.pairs = 120;
        s.shard = shard;
        s
    }

    fn plan(shard: Shard) -> Plan {
        let s = scenario(shard);
        Plan::draw(&s, &Streams::new(s.seed))
    }

    #[test]
    fn every_conversation_is_in_exactly_one_shard() {
        let whole = plan(Shard::WHOLE);
        let n = 4;
        let shards: Vec<Plan> = (0..n)
            .map(|index| plan(Shard { index, count: n }))
            .collect();
        let mut seen: Vec<ConvKey> = Vec::new();
        for p in &shards {
            seen.extend(p.convs.iter().map(|c| c.key));
            // Each traffic process keeps its rate: the shards add up to the whole run's load.
            for c in &p.convs {
                let w = whole.convs.iter().find(|w| w.key == c.key).unwrap();
                assert_eq!(w.rate, c.rate);
            }
        }
        let mut want: Vec<ConvKey> = whole.convs.iter().map(|c| c.key).collect();
        assert!(
            shards.iter().all(|p| !p.convs.is_empty()),
            "every shard has work"
        );
        seen.sort();
        want.sort();
        assert_eq!(seen, want, "no conversation in two shards or in none");
        let mut groups: Vec<GroupId> = shards.iter().flat_map(|p| p.shard_groups.clone()).collect();
        groups.sort();
        assert_eq!(groups, whole.shard_groups);
    }

    #[test]
    fn a_shard_provisions_and_connects_exactly_the_users_of_its_conversations() {
        let n = 3;
        let mut lone_or_seen = vec![0u32; 300];
        for index in 0..n {
            let p = plan(Shard { index, count: n });
            let users: FxHashSet<UserId> = p.shard_users.iter().copied().collect();
            for g in &p.shard_groups {
                assert!(p.group(*g).members.iter().all(|m| users.contains(m)));
            }
            for c in &p.convs {
                if let ConvKey::Pair(a, b) = c.key {
                    assert!(users.contains(&a) && users.contains(&b));
                }
            }
            for u in 0..p.users {
                let u = UserId(u);
                assert!(
                    !p.is_online(u) || users.contains(&u),
                    "{u:?} connects only here"
                );
                if p.all_conv_counts[u.0 as usize] == 0 && users.contains(&u) {
                    lone_or_seen[u.0 as usize] += 1;
                }
                if p.all_conv_counts[u.0 as usize] > 0 && users.contains(&u) {
                    lone_or_seen[u.0 as usize] = lone_or_seen[u.0 as usize].max(1);
                }
            }
            let created = p.provisioning().len() - 1;
            assert_eq!(created, p.shard_users.len() + p.shard_groups.len());
        }
        assert!(
            lone_or_seen.iter().all(|&k| k == 1),
            "every user appears in a shard"
        );
    }

    #[test]
    fn the_whole_shard_is_the_unsharded_plan() {
        let p = plan(Shard::WHOLE);
        assert!(p.all_conv_counts.is_empty());
        assert_eq!(p.shard_users.len() as u32, p.users);
        assert_eq!(p.shard_groups.len(), p.groups.len());
        assert_eq!(p.group_share(), 1.0);
    }
}
