//! The Kling client for its two API surfaces (`docs/providers.md`): the legacy `/v1/` video
//! API and the 2026 standard one, behind one provider adapter chosen by `KLING_API_STYLE`.

pub mod adapter;
mod bill;
mod client;
mod config;
mod error;
mod jwt;
pub mod lip_sync;
pub mod standard;
mod standard_map;
mod wire;
mod wire_check;

pub use adapter::{KlingCallbacks, KlingProvider};
pub use client::{
    Clock, Deadline, KlingClient, TaskRef, VideoKind, backoff, deadline_from_epoch_ms, system_clock,
};
pub use config::{KlingAuth, KlingConfig, RetryPolicy, Surface};
pub use error::{ErrorKind, KlingError};
pub use jwt::{JwtMinter, TOKEN_TTL_SECS};
pub use wire::{
    CameraConfig, CameraControl, CameraType, DynamicMask, ElementRef, Extras, Image2VideoRequest,
    ImageInput, KlingTask, ProviderStatus, ShotPrompt, TaskInfo, TaskOutcome, TaskResult,
    Text2VideoRequest, TrajectoryPoint, VideoResult,
};
