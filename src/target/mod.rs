//! The `Target` trait: what a driver talks to. The simulator drives any in-process target
//! (the model, or a test-only faulty one) through it; the network target of the reference
//! server adapts the same vocabulary (`protocol.rs`) to the wire. Checkers never see which
//! target produced a history.

pub mod faulty;

use crate::model::{Delivery, Model};
use crate::protocol::{AdminRequest, Micros, Request, Response, UserId};

/// A system under test that processes one request at a time at a given (virtual) time.
pub trait Target {
    /// Short name for reports, e.g. "model".
    fn name(&self) -> &str;

    /// Applies an administrative request (provisioning, configuration).
    fn admin(&mut self, now: Micros, req: &AdminRequest) -> Response;

    /// Applies `req` on behalf of `user`; pushes to deliver are appended to `out`.
    fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response;

    /// `user` opened a new connection (after a cut or a crash). The model keeps no
    /// per-connection state; a test-only faulty target may misbehave here.
    fn on_connect(&mut self, _now: Micros, _user: UserId) {}

    /// The server restarts after a crash: whatever it acknowledged must still be there.
    /// The model commits every request it answers, so it loses nothing.
    fn restart(&mut self, _now: Micros) {}
}

/// The reference model as a target.
#[derive(Clone, Debug, Default)]
pub struct ModelTarget {
    pub model: Model,
}

impl ModelTarget {
    pub fn new(model: Model) -> ModelTarget {
        ModelTarget { model }
    }
}

impl Target for ModelTarget {
    fn name(&self) -> &str {
        "model"
    }

    fn admin(&mut self, _now: Micros, req: &AdminRequest) -> Response {
        self.model.admin(req)
    }

    fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response {
        self.model.apply(now, user, req, out)
    }
}
