//! Per-entity random streams kept as word positions instead of generators. A `Stream` is
//! ~128 bytes (key and one block); a million users' pull streams or a few
//! hundred thousand conversations' send streams held live would cost hundreds of MB. Here
//! each entity keeps only the position of its next word, and one generator is live at a
//! time: switching entities parks the live one (its word position) and resumes the other by
//! seeking its stream there. ChaCha's output is a pure function of (key, stream, word
//! position), so a resumed stream draws exactly what the held one would have.

use crate::rng::{Purpose, Stream, Streams};

/// One purpose's streams, indexed by a dense entity index.
pub(super) struct ParkedStreams {
    streams: Streams,
    purpose: Purpose,
    /// Next word of each entity's stream (0: never drawn from).
    pos: Vec<u64>,
    /// The generator in use and the index it belongs to.
    live: Option<(usize, Stream)>,
}

impl ParkedStreams {
    /// `len` entities, none drawn from yet.
    pub(super) fn new(streams: Streams, purpose: Purpose, len: usize) -> ParkedStreams {
        ParkedStreams {
            streams,
            purpose,
            pos: vec![0; len],
            live: None,
        }
    }

    /// The stream of entity `index`, whose stream id is `stream` (the id the generator was
    /// always keyed by; callers map the index to it).
    pub(super) fn get(&mut self, index: usize, stream: u64) -> &mut Stream {
        let hit = matches!(&self.live, Some((i, _)) if *i == index);
        if !hit {
            if let Some((i, rng)) = &self.live {
                // Positions stay far below 2^64 words (that is 2^70 bytes drawn).
                self.pos[*i] = rng.word_pos();
            }
            let mut rng = self.streams.rng(self.purpose, stream);
            let at = self.pos[index];
            if at > 0 {
                rng.set_word_pos(at);
            }
            self.live = Some((index, rng));
        }
        match &mut self.live {
            Some((_, rng)) => rng,
            None => unreachable!("a stream was made live above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt};

    #[test]
    fn interleaved_parked_streams_draw_what_held_streams_draw() {
        let streams = Streams::new(9);
        // Held streams never park; `rng.rs` holds `Stream` to rand_chacha's output.
        let mut held: Vec<Stream> = (0..3)
            .map(|i| streams.rng(Purpose::Pulls, 100 + i))
            .collect();
        let mut parked = ParkedStreams::new(streams, Purpose::Pulls, 3);
        // Mixed word sizes and counts, so positions land mid-block and across the 16-word
        // block boundary, where a u64 straddles two blocks.
        for step in 0..400u64 {
            let i = (step * 7 % 3) as usize;
            let n = (step % 5) as usize;
            for k in 0..n {
                let (a, b) = if k % 2 == 0 {
                    (held[i].next_u64(), parked.get(i, 100 + i as u64).next_u64())
                } else {
                    let a = u64::from(held[i].next_u32());
                    (a, u64::from(parked.get(i, 100 + i as u64).next_u32()))
                };
                assert_eq!(a, b, "step {step}, stream {i}");
            }
            let x: f64 = held[i].random();
            assert_eq!(x, parked.get(i, 100 + i as u64).random::<f64>());
        }
    }
}
