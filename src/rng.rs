//! Seeded random streams. Every random decision of a run comes from a stream derived from
//! (seed, purpose, entity), so one entity's decisions do not change when another entity is
//! added or when events interleave differently (docs/architecture.md, determinism rules).
//!
//! A stream is ChaCha8 (the key from (seed, purpose), the 64-bit nonce the entity), word for
//! word the output of `rand_chacha::ChaCha8Rng` keyed the same way (a test holds them
//! equal). It is computed here one 16-word block at a time, on demand: most decisions open a
//! stream for a handful of draws, and `ChaCha8Rng` set up its nonce and computed four blocks
//! (256 bytes) for each, about a tenth of the simulator's time.

use rand::TryRng;
use std::convert::Infallible;

/// What a stream is for. The discriminant is part of the key: never renumber.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Who is online.
    Population = 1,
    /// Group sizes and member choice, per group.
    Membership = 2,
    /// Which users form the 1:1 pairs.
    Pairs = 3,
    /// Send times, senders and flags, per conversation.
    Sends = 4,
    /// Whether and when a user reads one message, per (user, conversation, seq).
    Reads = 5,
    /// When a user pulls and what, per user.
    Pulls = 6,
    /// Client -> server latency, per client link.
    NetUp = 7,
    /// Server -> client latency, per client link.
    NetDown = 8,
    /// Which messages the final quiet-phase checks cover.
    FinalChecks = 9,
    /// The fault mix (swarm) and the fault schedule: disconnects, stalls, crashes.
    Faults = 10,
    /// Membership churn: when, which group, who.
    Churn = 11,
    /// Receipt bursts: when and where.
    Bursts = 12,
    /// Malformed and misdirected calls (`pulls.misuse_share`), per user and call kind. Its
    /// own purpose so that turning the knob on shifts no other stream.
    Misuse = 13,
    /// Whether a sender watches its message's unread list, and when (`pulls.watch_share`),
    /// per message.
    Watch = 14,
}

/// Derives independent ChaCha8 streams from one run seed.
#[derive(Copy, Clone, Debug)]
pub struct Streams {
    seed: u64,
}

impl Streams {
    pub fn new(seed: u64) -> Streams {
        Streams { seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream of `entity` for `purpose`. ChaCha's 64-bit stream id separates entities
    /// under one (seed, purpose) key.
    pub fn rng(&self, purpose: Purpose, entity: u64) -> Stream {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&self.seed.to_le_bytes());
        key[8..16].copy_from_slice(&(purpose as u64).to_le_bytes());
        key[16..24].copy_from_slice(b"readsim1");
        let mut words = [0u32; 8];
        for (w, b) in words.iter_mut().zip(key.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Stream {
            key: words,
            nonce: entity,
            block: 0,
            buf: [0; 16],
            index: BLOCK_WORDS,
        }
    }
}

const BLOCK_WORDS: usize = 16;
/// "expand 32-byte k", ChaCha's constant row.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// One ChaCha8 stream of a (seed, purpose) key, generating a 16-word block only when a draw
/// needs it. Words come out in stream order and a `u64` is two words, low first, so every
/// draw (and `rand`'s sampling on top) sees the bytes `ChaCha8Rng` gave.
#[derive(Clone, Debug)]
pub struct Stream {
    key: [u32; 8],
    nonce: u64,
    /// The block the next `generate` computes.
    block: u64,
    buf: [u32; BLOCK_WORDS],
    /// The next word of `buf` to hand out; `BLOCK_WORDS`: none left.
    index: usize,
}

impl Stream {
    /// Moves to block `block` of stream `entity` under the same key (random access: the
    /// network reads frame k of a link at a fixed block). Nothing is computed until a draw.
    pub fn seek(&mut self, entity: u64, block: u64) {
        self.nonce = entity;
        self.block = block;
        self.index = BLOCK_WORDS;
    }

    /// The position of the next word this stream hands out (`ChaCha8Rng::get_word_pos`).
    pub fn word_pos(&self) -> u64 {
        // `block` is the block `generate` computes next; `BLOCK_WORDS - index` words of the
        // one before it are still unread.
        (self.block * BLOCK_WORDS as u64).wrapping_sub((BLOCK_WORDS - self.index) as u64)
    }

    /// Moves to word `pos` of this stream (`ChaCha8Rng::set_word_pos`): a parked stream
    /// resumes exactly where it was.
    pub fn set_word_pos(&mut self, pos: u64) {
        self.block = pos / BLOCK_WORDS as u64;
        self.index = BLOCK_WORDS;
        let within = (pos % BLOCK_WORDS as u64) as usize;
        if within > 0 {
            self.generate();
            self.index = within;
        }
    }

    #[inline]
    fn next_word(&mut self) -> u32 {
        if self.index >= BLOCK_WORDS {
            self.generate();
        }
        let w = self.buf[self.index];
        self.index += 1;
        w
    }

    /// ChaCha8's block function (RFC 8439 layout with a 64-bit counter and 64-bit nonce, as
    /// rand_chacha): four double rounds, then the input added back.
    fn generate(&mut self) {
        let mut input = [0u32; 16];
        input[..4].copy_from_slice(&SIGMA);
        input[4..12].copy_from_slice(&self.key);
        input[12] = self.block as u32;
        input[13] = (self.block >> 32) as u32;
        input[14] = self.nonce as u32;
        input[15] = (self.nonce >> 32) as u32;
        let mut x = input;
        for _ in 0..4 {
            quarter(&mut x, 0, 4, 8, 12);
            quarter(&mut x, 1, 5, 9, 13);
            quarter(&mut x, 2, 6, 10, 14);
            quarter(&mut x, 3, 7, 11, 15);
            quarter(&mut x, 0, 5, 10, 15);
            quarter(&mut x, 1, 6, 11, 12);
            quarter(&mut x, 2, 7, 8, 13);
            quarter(&mut x, 3, 4, 9, 14);
        }
        for (o, (a, b)) in self.buf.iter_mut().zip(x.iter().zip(input.iter())) {
            *o = a.wrapping_add(*b);
        }
        self.block = self.block.wrapping_add(1);
        self.index = 0;
    }
}

#[inline(always)]
fn quarter(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

impl TryRng for Stream {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.next_word())
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let lo = self.next_word();
        let hi = self.next_word();
        Ok(u64::from(hi) << 32 | u64::from(lo))
    }

    /// Whole words in order, little-endian; a partial last word is used and the rest of it
    /// discarded (as rand_core's block buffer does).
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(4) {
            let w = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// Folds several ids into one entity number (splitmix64 finaliser per step). Collisions are
/// as unlikely as for any 64-bit hash and would only correlate two decisions.
pub fn entity(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for &p in parts {
        h = mix(h ^ p.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }
    h
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let s = Streams::new(7);
        let a: Vec<u64> = (0..4)
            .map(|_| s.rng(Purpose::Reads, 1).next_u64())
            .collect();
        assert!(
            a.windows(2).all(|w| w[0] == w[1]),
            "same stream, same first draw"
        );
        let mut r1 = s.rng(Purpose::Reads, 1);
        let mut r2 = s.rng(Purpose::Reads, 2);
        let mut r3 = s.rng(Purpose::Pulls, 1);
        let mut r4 = Streams::new(8).rng(Purpose::Reads, 1);
        let x = r1.next_u64();
        assert_ne!(x, r2.next_u64());
        assert_ne!(x, r3.next_u64());
        assert_ne!(x, r4.next_u64());
    }

    /// The reference: the generator streams were drawn from before `Stream`.
    fn chacha(seed: u64, purpose: Purpose, entity: u64) -> rand_chacha::ChaCha8Rng {
        use rand::SeedableRng;
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&(purpose as u64).to_le_bytes());
        key[16..24].copy_from_slice(b"readsim1");
        let mut rng = rand_chacha::ChaCha8Rng::from_seed(key);
        rng.set_stream(entity);
        rng
    }

    /// Mixed draws (u32, u64 across block edges, odd byte fills, rand's sampling) give
    /// the same values from both generators.
    fn same_draws(a: &mut Stream, b: &mut rand_chacha::ChaCha8Rng) {
        use rand::RngExt;
        for i in 0..300u32 {
            match i % 6 {
                0 => assert_eq!(a.next_u32(), b.next_u32()),
                1 | 2 => assert_eq!(a.next_u64(), b.next_u64()),
                3 => {
                    let n = (i % 11) as usize;
                    let (mut x, mut y) = ([0u8; 11], [0u8; 11]);
                    a.fill_bytes(&mut x[..n]);
                    b.fill_bytes(&mut y[..n]);
                    assert_eq!(x, y);
                }
                4 => assert_eq!(a.random_bool(0.3), b.random_bool(0.3)),
                _ => assert_eq!(a.random_range(0..=1_000u64), b.random_range(0..=1_000u64)),
            }
        }
    }

    #[test]
    fn streams_are_chacha8_word_for_word() {
        for seed in [0, 1, 7, u64::MAX] {
            for purpose in [Purpose::Reads, Purpose::NetUp, Purpose::Watch] {
                for e in [0, 1, 5 << 32 | 3, entity(&[9, 9]), u64::MAX] {
                    let mut a = Streams::new(seed).rng(purpose, e);
                    same_draws(&mut a, &mut chacha(seed, purpose, e));
                    // Random access at a block, as the network reads frame k of a link.
                    let mut b = chacha(seed, purpose, 0);
                    b.set_stream(e ^ 1);
                    b.set_word_pos(u128::from(e % 1000) * 64);
                    a.seek(e ^ 1, e % 1000 * 4);
                    same_draws(&mut a, &mut b);
                }
            }
        }
    }

    #[test]
    fn a_stream_resumes_at_its_word_position() {
        use rand::RngExt;
        let streams = Streams::new(3);
        let mut a = streams.rng(Purpose::Pulls, 42);
        for n in 0..40u32 {
            // Odd mixes of u32 and u64 draws leave positions mid-block and at block edges.
            for _ in 0..n % 5 {
                let _ = a.next_u32();
            }
            let pos = a.word_pos();
            let mut b = streams.rng(Purpose::Pulls, 42);
            b.set_word_pos(pos);
            assert_eq!(b.word_pos(), pos);
            assert_eq!(a.next_u64(), b.next_u64(), "at word {pos}");
            assert_eq!(a.random::<f64>(), b.random::<f64>());
        }
    }

    #[test]
    fn entity_depends_on_order_and_values() {
        assert_ne!(entity(&[1, 2]), entity(&[2, 1]));
        assert_ne!(entity(&[1, 2]), entity(&[1, 3]));
        assert_eq!(entity(&[5, 6, 7]), entity(&[5, 6, 7]));
    }
}
