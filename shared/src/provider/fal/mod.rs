//! Kling through fal.ai's queue (`docs/providers.md` §fal): a hosting platform with one key, its
//! own queue and webhooks signed with Ed25519.
//!
//! fal's own retries are left on (no `x-fal-no-retry`): they re-run a request inside fal's queue
//! after 503/504/429 or a lost runner, under the same request id, so they never duplicate a
//! video, and fal does not bill 5xx failures. Turning them off would only move those failures
//! to us, where a retry is a second submit.

mod adapter;
mod bill;
mod client;
mod config;
pub mod kinds;
pub mod lost;
pub mod webhook;

pub use adapter::{FalProvider, NAME, endpoints, fal_model_id, input, parse_callback};
pub use client::{FalClient, FalError, Handle, Listed, Listing};
pub use config::FalConfig;
