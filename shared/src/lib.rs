//! The library every kling-lambda function shares, in layers; each imports only the layers
//! above it in this list (`tests/layers.rs` checks it, and that no module imports itself back):
//!
//! - [`runtime`]: process plumbing — settings, the one HTTP/TLS stack, logs, metrics, deadlines.
//! - [`domain`]: what the product is — tasks and their state machine, the model catalogue,
//!   validation, pricing, plans, moderation, templates, notifications' rules. Pure.
//! - [`ports`]: one trait per capability the functions need from the outside world.
//! - [`provider`]: the provider port, the configured composite, and one adapter per provider.
//! - [`lifecycle`]: the steps several functions share (sync with the provider, fail and refund).
//! - [`edge`]: the HTTP edge — the error envelope, identity, views, webhook tokens, signing.
//! - [`aws`]: the ports on the AWS SDK.
//! - `testing` (feature `test-util`): in-memory ports for in-process handler tests.

pub mod runtime;

pub mod domain;

pub mod ports;

pub mod provider;

pub mod lifecycle;

pub mod edge;

pub mod aws;

#[cfg(feature = "test-util")]
pub mod testing;
