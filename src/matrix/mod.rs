//! Matrix (client-server API v3) for the live driver's Matrix adapter: the room events readsim
//! reads out of `/sync` ([`events`]) and the parser that produces them ([`sync`]), the
//! per-client view that derives readsim's pushes, counts and member lists from them
//! ([`view`]), the run's shared message numbering it reads seqs from ([`timeline`]), readsim
//! users as Matrix users ([`names`]), the HTTP client ([`client`], its errors in [`error`]),
//! shared-secret registration ([`register`]) and the Synapse launcher ([`synapse`], its config
//! files in [`synapse_config`]). docs/matrix.md has the mapping, operation by operation, and
//! the Matrix semantics profile.

pub mod client;
pub mod error;
pub mod events;
pub mod names;
pub mod register;
pub mod synapse;
pub mod synapse_config;
pub mod sync;
pub mod timeline;
pub mod view;
