//! The Kling client for the legacy `/v1/` video API (`../shared/kling-api.md`).

mod client;
mod config;
mod error;
mod jwt;
mod wire;

pub use client::{KlingClient, TaskRef};
pub use config::{KlingConfig, Preset};
pub use error::KlingError;
pub use jwt::{JwtMinter, TOKEN_TTL_SECS};
pub use wire::{KlingTask, ProviderStatus, TaskInfo, TaskResult, Text2VideoRequest, VideoResult};
