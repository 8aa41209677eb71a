//! Live runs through the real binary against a child `readsim serve`: the live smoke, the
//! fault scenario with proxy cuts, stalls and crash-restarts, and the live smoke finding
//! each planted server bug (`planted_server`). One test binary. Also the Matrix pieces
//! against a real Synapse (`matrix_synapse`).

mod conform;
mod devices;
mod faults;
mod fleet;
mod matrix_synapse;
mod planted_server;
mod server;
