//! `--shard I/N`: which slice of a run (or of a sweep's seeds) one process drives. A run's
//! unit is the conversation: every group and every 1:1 pair belongs to exactly one shard, by
//! a hash of its id taken modulo N, so a message's sender, audience, receipts, pushes and
//! pulls are all seen by one process and its checker stays exact. A sweep's unit is the
//! seed: seed `s` belongs to shard `s mod N`.

use std::fmt;

/// Shard `index` of `count` (0-based); `0/1` is the whole run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

/// Most shards a run or sweep may be split into.
pub const MAX_SHARDS: u32 = 1 << 20;

/// Why a `--shard` value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid --shard {0:?}: write I/N with 0 <= I < N <= {MAX_SHARDS} (shard I of N, counted \
     from 0), e.g. --shard 0/4 .. --shard 3/4"
)]
pub struct ShardError(pub String);

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let err = || ShardError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = i.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count || count > MAX_SHARDS {
            return Err(err());
        }
        Ok(Shard { index, count })
    }

    /// The whole run: no conversation is left out, and nothing about the run changes.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    fn owns(self, key: [u64; 3]) -> bool {
        // Fast path so an unsharded run never hashes anything.
        self.is_whole() || mix(key) % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether group `g` (its dense id) is in this shard.
    pub fn owns_group(self, g: u32) -> bool {
        self.owns([0, u64::from(g), 0])
    }

    /// Whether the 1:1 pair (lower id, higher id) is in this shard.
    pub fn owns_pair(self, lo: u32, hi: u32) -> bool {
        self.owns([1, u64::from(lo.min(hi)), u64::from(lo.max(hi))])
    }

    /// Whether a user in no conversation at all is placed in this shard (so every user
    /// appears in some shard; users with conversations appear where those are).
    pub fn owns_lone_user(self, u: u32) -> bool {
        self.owns([2, u64::from(u), 0])
    }

    /// Whether a sweep's seed is in this shard: seed `s` belongs to shard `s mod N`.
    pub fn owns_seed(self, seed: u64) -> bool {
        seed % u64::from(self.count) == u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// splitmix64 over the key's words: a fixed function (not `std`'s hasher, whose output may
/// change between Rust releases), so a conversation's shard never changes between builds.
fn mix(key: [u64; 3]) -> u64 {
    let mut h: u64 = 0x5253_5348_4152_4431; // "RSSHARD1"
    for w in key {
        h ^= w;
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h = z ^ (z >> 31);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("3/4"), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(Shard::parse("0/1"), Ok(Shard::WHOLE));
        for bad in ["0/0", "4/4", "x", "1", "-1/4", "1/x", "", "2/1048577"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.to_string().contains("I/N"), "{e}");
        }
        assert_eq!(Shard::parse("7/64").unwrap().to_string(), "7/64");
    }

    #[test]
    fn every_conversation_and_seed_is_in_exactly_one_shard() {
        for n in [1u32, 2, 3, 4, 7, 64] {
            let shards: Vec<Shard> = (0..n).map(|index| Shard { index, count: n }).collect();
            let one = |f: &dyn Fn(Shard) -> bool| shards.iter().filter(|&&s| f(s)).count();
            for g in 0..500 {
                assert_eq!(one(&|s| s.owns_group(g)), 1, "group {g} of {n}");
            }
            for a in 0..40 {
                for b in a + 1..40 {
                    assert_eq!(one(&|s| s.owns_pair(a, b)), 1, "pair {a},{b} of {n}");
                    // Either order names the same pair.
                    assert_eq!(
                        shards.iter().find(|s| s.owns_pair(a, b)),
                        shards.iter().find(|s| s.owns_pair(b, a))
                    );
                }
            }
            for seed in 1..=300 {
                assert_eq!(one(&|s| s.owns_seed(seed)), 1, "seed {seed} of {n}");
            }
        }
    }

    #[test]
    fn shards_share_the_work_roughly_evenly() {
        let n = 4;
        for index in 0..n {
            let s = Shard { index, count: n };
            let mine = (0..4000).filter(|&g| s.owns_group(g)).count();
            assert!(
                (800..1200).contains(&mine),
                "shard {s} has {mine} of 4000 groups"
            );
        }
    }
}
