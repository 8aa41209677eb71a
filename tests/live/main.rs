//! Live runs through the real binary against a child `readsim serve`: the live smoke, and the
//! fault scenario with proxy cuts, stalls and crash-restarts. One test binary.

mod faults;
mod server;
