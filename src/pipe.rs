//! An observer that hands events, in order and in batches, to observers running on their own
//! thread, so checking and metrics overlap with driving. The consumer sees exactly the same
//! ordered stream as a direct observer would, so results (and determinism) are unchanged.
//! It lives outside the deterministic core (model, sim, workload, check, history), which
//! stays single-threaded; only the runner wires it in.

use crate::history::{Event, Observer, OwnedEvent};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Events per batch: large enough to make channel costs vanish, small enough to keep both
/// threads busy.
const BATCH: usize = 4096;

pub struct Pipe<O: Observer + Send + 'static> {
    batch: Vec<OwnedEvent>,
    tx: Option<SyncSender<Vec<OwnedEvent>>>,
    worker: Option<JoinHandle<O>>,
}

impl<O: Observer + Send + 'static> Pipe<O> {
    /// Starts the consumer thread running `inner`.
    pub fn new(mut inner: O) -> Pipe<O> {
        let (tx, rx) = sync_channel::<Vec<OwnedEvent>>(8);
        let worker = std::thread::Builder::new()
            .name("readsim-observers".into())
            .spawn(move || {
                for batch in rx {
                    for ev in batch {
                        inner.observe_owned(ev);
                    }
                }
                inner
            })
            .expect("can start the observer thread");
        Pipe {
            batch: Vec::with_capacity(BATCH),
            tx: Some(tx),
            worker: Some(worker),
        }
    }

    fn push(&mut self, ev: OwnedEvent) {
        self.batch.push(ev);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            // A send fails only if the consumer died; `finish` reports its panic.
            let _ = tx.send(batch);
        }
    }

    /// Delivers what is left, stops the thread and returns the observers.
    pub fn finish(mut self) -> O {
        self.flush();
        self.tx = None;
        match self.worker.take().expect("finished once").join() {
            Ok(o) => o,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<O: Observer + Send + 'static> Observer for Pipe<O> {
    fn observe(&mut self, ev: &Event<'_>) {
        self.push(OwnedEvent::from(ev));
    }

    fn observe_owned(&mut self, ev: OwnedEvent) {
        self.push(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::TraceHash;

    #[test]
    fn delivers_every_event_in_order() {
        let mut direct = TraceHash::default();
        let mut pipe = Pipe::new(TraceHash::default());
        for t in 0..10_000u64 {
            let ev = Event::Quiet { t: t * 7 % 13 };
            direct.observe(&ev);
            pipe.observe(&ev);
        }
        let piped = pipe.finish();
        assert_eq!(piped.events, 10_000);
        assert_eq!(piped.value(), direct.value());
    }
}
