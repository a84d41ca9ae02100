//! The product's rules, pure: no I/O beyond what a rule needs to read (an image header, an MP4's
//! boxes). Imports only `runtime`.

pub mod audio_probe;
pub mod bill;
pub mod breaker;
pub mod catalogue;
pub mod error;
pub mod generation;
pub mod images;
pub mod live;
pub mod moderation;
pub mod mp4_probe;
pub mod notice;
pub mod pace;
pub mod plans;
pub mod pool;
pub mod pricing;
pub mod source;
pub mod state;
pub mod task;
pub mod templates;
pub mod timestamp;
pub mod validation;
