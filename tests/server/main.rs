//! The reference server (`readsim serve`) from outside: the protocol end to end, bad frames,
//! durability across restarts, and the server against the model. One test binary.

mod doors;
mod durability;
mod e2e;
mod frames;
mod model_diff;
mod model_state_machine;
mod probes;
mod server_common;
mod sockets;
