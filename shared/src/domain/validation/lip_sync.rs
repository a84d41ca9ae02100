//! The `lip_sync` body: a video with a face (`source`: one of the caller's, or an upload), the
//! audio its lips are to follow (`voice`: an uploaded MP3/WAV/M4A/AAC, 2-60 s), and
//! `rights_confirmed` (a person's face and voice). The video's and the audio's lengths are
//! read from the files at admission; the task is as long as the video.

use super::source::{source, voice};
use super::{CreateVideoBody, VideoSpec, only_fields, rights_confirmed};
use crate::domain::error::ApiError;
use crate::domain::task::VideoType;

pub(super) fn validate_lip_sync(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let takes = ["source", "voice", "rights_confirmed"];
    only_fields(body, VideoType::LipSync, &takes)?;
    let source = source(body, VideoType::LipSync)?;
    let voice = voice(body, VideoType::LipSync)?;
    rights_confirmed(body)?;
    Ok(VideoSpec {
        source: Some(source),
        voice: Some(voice),
        ..VideoSpec::bare(VideoType::LipSync)
    })
}
