//! The population a scenario describes: users (and who is online), groups with members, and
//! 1:1 pairs. Drawn once per run from per-entity streams.

use crate::dist::sample_size;
use crate::protocol::{AdminRequest, ConvKey, GroupId, GroupType, ReceiptConfig, UserId};
use crate::rng::{Purpose, Streams};
use crate::scenario::Scenario;
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
    pub user_convs: Vec<Vec<ConvKey>>,
    pub receipt_config: ReceiptConfig,
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
        let mut user_convs: Vec<Vec<ConvKey>> = vec![Vec::new(); n as usize];
        for g in &groups {
            for u in &g.members {
                user_convs[u.0 as usize].push(ConvKey::Group(g.id));
            }
        }
        for &(lo, hi) in &pairs {
            user_convs[lo.0 as usize].push(ConvKey::Pair(lo, hi));
            user_convs[hi.0 as usize].push(ConvKey::Pair(lo, hi));
        }
        let convs = traffic_convs(s, &groups, &pairs);
        Plan {
            users: n,
            online,
            groups,
            pairs,
            convs,
            user_convs,
            receipt_config,
        }
    }

    pub fn group(&self, g: GroupId) -> &GroupPlan {
        &self.groups[g.0 as usize]
    }

    pub fn is_online(&self, u: UserId) -> bool {
        self.online[u.0 as usize]
    }

    /// Provisioning requests, in order: configuration, users, groups.
    pub fn provisioning(&self) -> Vec<AdminRequest> {
        let mut out = Vec::with_capacity(self.users as usize + self.groups.len() + 1);
        out.push(AdminRequest::SetReceiptConfig {
            config: self.receipt_config.clone(),
        });
        out.extend((0..self.users).map(|u| AdminRequest::CreateUser { user: UserId(u) }));
        out.extend(self.groups.iter().map(|g| AdminRequest::CreateGroup {
            group: g.id,
            group_type: g.group_type,
            members: g.members.clone(),
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
