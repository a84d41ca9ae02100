//! Lip-sync on Kling's `/v1` (`docs/providers.md` §Job kinds): two calls. `identify-face` is
//! synchronous and creates no task (a session, valid 24 h, and the faces it found with when
//! each is on screen); `advanced-lip-sync` then makes the task for one face and the audio.
//! Which face, and which stretch of the audio goes where, is [`choose_face`].

use serde::{Deserialize, Serialize};

use super::error::KlingError;

/// The shortest stretch of audio Kling lip-syncs, and the shortest overlap with the face.
pub const MIN_SYNC_MS: u64 = 2_000;

/// `POST /v1/videos/identify-face`: exactly one of Kling's video id and a URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentifyFace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
}

/// Its answer's `data`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Faces {
    pub session_id: String,
    #[serde(default)]
    pub face_data: Vec<Face>,
}

/// A face and when it is on screen (ms from the video's start).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Face {
    pub face_id: String,
    pub start_time: u64,
    pub end_time: u64,
}

/// `face_choose[]`'s one item: the face, the audio by URL, the stretch of it used
/// (`sound_start_time`..`sound_end_time`) and where in the video it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceChoose {
    pub face_id: String,
    pub sound_file: String,
    pub sound_start_time: u64,
    pub sound_end_time: u64,
    pub sound_insert_time: u64,
}

/// `POST /v1/videos/advanced-lip-sync`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LipSyncRequest {
    pub session_id: String,
    pub face_choose: Vec<FaceChoose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

/// What a lip-sync needs before Kling has named the faces.
#[derive(Debug, Clone, PartialEq)]
pub struct LipSyncJob {
    pub video: IdentifyFace,
    pub sound_file: String,
    pub audio_ms: u64,
    pub video_ms: u64,
    pub callback_url: Option<String>,
    pub external_task_id: Option<String>,
}

/// The face whose time on screen the audio covers longest, the audio laid from the moment it
/// appears: as much of the audio as fits before the video ends. Refused when no face is on
/// screen for 2 s of it (Kling's minimum).
pub fn choose_face(
    faces: &[Face],
    audio_ms: u64,
    video_ms: u64,
) -> Result<(&Face, u64), KlingError> {
    let fit = |f: &Face| {
        let length = audio_ms.min(video_ms.saturating_sub(f.start_time));
        let overlap = length.min(f.end_time.saturating_sub(f.start_time));
        (length, overlap)
    };
    let best = faces.iter().max_by_key(|f| fit(f).1);
    match best.map(|f| (f, fit(f))) {
        Some((face, (length, overlap))) if overlap >= MIN_SYNC_MS => Ok((face, length)),
        _ => Err(KlingError::InvalidInput(format!(
            "no face is on screen for {} s of the audio ({} found)",
            MIN_SYNC_MS / 1000,
            faces.len()
        ))),
    }
}

impl LipSyncJob {
    /// The task's request for the faces Kling found.
    pub fn request(&self, faces: &Faces) -> Result<LipSyncRequest, KlingError> {
        let (face, length) = choose_face(&faces.face_data, self.audio_ms, self.video_ms)?;
        Ok(LipSyncRequest {
            session_id: faces.session_id.clone(),
            face_choose: vec![FaceChoose {
                face_id: face.face_id.clone(),
                sound_file: self.sound_file.clone(),
                sound_start_time: 0,
                sound_end_time: length,
                sound_insert_time: face.start_time,
            }],
            callback_url: self.callback_url.clone(),
            external_task_id: self.external_task_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(id: &str, start: u64, end: u64) -> Face {
        Face {
            face_id: id.into(),
            start_time: start,
            end_time: end,
        }
    }

    #[test]
    fn the_face_the_audio_covers_longest_from_when_it_appears() {
        let (a, b, c) = (
            face("a", 0, 5_000),
            face("b", 4_000, 10_000),
            face("c", 0, 1_500),
        );
        type Case = (Vec<Face>, u64, u64, Option<(&'static str, u64)>);
        let cases: [Case; 7] = [
            (vec![a.clone()], 4_000, 5_000, Some(("a", 4_000))),
            (vec![a.clone()], 9_000, 5_000, Some(("a", 5_000))),
            (
                vec![a.clone(), b.clone()],
                9_000,
                10_000,
                Some(("b", 6_000)),
            ),
            (vec![c.clone(), a], 3_000, 5_000, Some(("a", 3_000))),
            (vec![c], 3_000, 5_000, None),
            (vec![b], 3_000, 5_500, None),
            (vec![], 3_000, 5_000, None),
        ];
        for (faces, audio, video, want) in cases {
            let got = choose_face(&faces, audio, video)
                .ok()
                .map(|(f, len)| (f.face_id.as_str(), len));
            assert_eq!(got, want, "{faces:?} audio {audio} video {video}");
        }
    }

    #[test]
    fn the_request_lays_the_audio_where_the_face_appears() {
        let job = LipSyncJob {
            video: IdentifyFace {
                video_id: None,
                video_url: Some("https://x/v.mp4".into()),
            },
            sound_file: "https://x/a.wav".into(),
            audio_ms: 3_500,
            video_ms: 6_000,
            callback_url: None,
            external_task_id: Some("t-1".into()),
        };
        let faces = Faces {
            session_id: "s-1".into(),
            face_data: vec![face("0", 1_000, 6_000)],
        };
        let got = serde_json::to_value(job.request(&faces).unwrap()).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"session_id": "s-1", "external_task_id": "t-1", "face_choose": [{
                "face_id": "0", "sound_file": "https://x/a.wav", "sound_start_time": 0,
                "sound_end_time": 3_500, "sound_insert_time": 1_000}]})
        );
    }
}
