//! Process plumbing every function uses; imports no other layer.

pub mod config;
pub mod deadline;
pub mod metrics;
pub mod net;
pub mod outbound;
pub mod telemetry;
