//! In-memory implementations of every port, for in-process handler tests (feature `test-util`).
//! They keep the same rules as the AWS adapters (one atomic charge, state-machine moves, a
//! terminal move frees the slot and a failure refunds), so a handler test exercises the real
//! logic with nothing running.

mod blobs;
mod erasure;
mod http;
mod live;
mod notify;
mod provider;
mod store;

pub use blobs::*;
pub use http::*;
pub use live::MemoryLivePush;
pub use notify::{MemoryBus, MemoryOutbox, MemoryPush};
pub use provider::*;
pub use store::*;
