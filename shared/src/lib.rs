//! Domain code shared by every kling-lambda function: the task schema and its state machine,
//! validation, pricing, identity, the HTTP error envelope, the Kling client, and the ports
//! (traits) with their AWS adapters.

pub mod auth;
pub mod aws;
pub mod billing;
pub mod breaker;
pub mod cdn;
pub mod config;
pub mod deadline;
pub mod envelope;
pub mod fal;
pub mod http_util;
pub mod images;
pub mod kling;
pub mod metrics;
pub mod moderation;
pub mod mp4_probe;
pub mod net;
pub mod notice;
pub mod plans;
pub mod ports;
pub mod pricing;
pub mod provider;
pub mod providers;
pub mod ratelimit;
pub mod state;
pub mod sync;
pub mod task;
pub mod telemetry;
pub mod templates;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod time_util;
pub mod validation;
pub mod view;
pub mod webhook_token;
