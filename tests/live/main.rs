//! Live runs through the real binary against a child `readsim serve`: the live smoke, and the
//! fault scenario with proxy cuts, stalls and crash-restarts. One test binary. Also the
//! Matrix pieces against a real Synapse (`matrix_synapse`).

mod faults;
mod fleet;
mod matrix_synapse;
mod server;
