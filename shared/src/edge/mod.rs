//! The HTTP edge: the error envelope and JSON answers, identity, request helpers, the task's
//! view, throttling, webhook URL tokens and CDN signing.

pub mod auth;
pub mod cdn;
pub mod envelope;
pub mod ratelimit;
pub mod request;
pub mod stream_token;
pub mod view;
pub mod webhook_token;
