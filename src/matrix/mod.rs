//! Matrix (client-server API v3) for the live driver's Matrix adapter: the room events readsim
//! reads out of `/sync` ([`events`]), the per-client view that derives readsim's pushes,
//! counts and member lists from them (`view`), the HTTP client (`client`), shared-secret
//! registration (`register`) and the Synapse launcher (`synapse`). docs/matrix.md has the
//! mapping, operation by operation, and the Matrix semantics profile.

pub mod events;
