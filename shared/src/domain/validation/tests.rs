use super::*;
use serde_json::json;

fn body(v: Value) -> CreateVideoBody {
    serde_json::from_value(v).unwrap()
}

#[test]
fn accepts_minimal_requests() {
    let spec = validate(&body(
        json!({"type": "text_to_video", "prompt": "a red fox in snow"}),
    ))
    .unwrap();
    assert_eq!(spec.duration, 5);
    assert_eq!(spec.aspect_ratio, Some(AspectRatio::Landscape));
    assert_eq!(spec.quality, Quality::Standard);
    assert_eq!(spec.negative_prompt, DEFAULT_NEGATIVE_PROMPT);
    let spec = validate(&body(json!({"type": "image_to_video", "image": {"upload_id": "0f3c-9a"},
        "image_tail": {"url": "https://example.com/end.png"}, "rights_confirmed": true, "duration": 10,
        "camera_control": {"type": "down_back"}, "model": "kling-v3", "cfg_scale": 0.4})))
    .unwrap();
    assert_eq!(spec.image, Some(ImageRef::Upload("0f3c-9a".into())));
    assert_eq!(
        spec.image_tail,
        Some(ImageRef::Url("https://example.com/end.png".into()))
    );
    assert_eq!(spec.aspect_ratio, None);
    assert_eq!(spec.prompt, None);
}

#[test]
fn each_rule_has_its_code() {
    let long = "x".repeat(2501);
    let t = |extra: Value| {
        let mut b = json!({"type": "text_to_video", "prompt": "p"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let i = |extra: Value| {
        let mut b = json!({"type": "image_to_video", "image": {"upload_id": "u1"}, "rights_confirmed": true});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        (json!({"prompt": "p"}), "type_required", "type"),
        (
            json!({"type": "movie", "prompt": "p"}),
            "invalid_type",
            "type",
        ),
        (json!({"type": 3, "prompt": "p"}), "invalid_type", "type"),
        (
            json!({"type": "text_to_video"}),
            "prompt_required",
            "prompt",
        ),
        (t(json!({"prompt": "   "})), "prompt_required", "prompt"),
        (t(json!({"prompt": 7})), "invalid_prompt", "prompt"),
        (t(json!({"prompt": long})), "prompt_too_long", "prompt"),
        (
            t(json!({"negative_prompt": long})),
            "negative_prompt_too_long",
            "negative_prompt",
        ),
        (
            t(json!({"negative_prompt": []})),
            "invalid_negative_prompt",
            "negative_prompt",
        ),
        (t(json!({"duration": 2})), "invalid_duration", "duration"),
        (t(json!({"duration": 16})), "invalid_duration", "duration"),
        (t(json!({"audio": "yes"})), "invalid_audio", "audio"),
        (t(json!({"seed": -1})), "invalid_seed", "seed"),
        (t(json!({"seed": 4294967296u64})), "invalid_seed", "seed"),
        (
            t(json!({"element_ids": "e1"})),
            "invalid_element_ids",
            "element_ids",
        ),
        (
            t(json!({"element_ids": ["../x"]})),
            "invalid_element_ids",
            "element_ids",
        ),
        (
            t(json!({"element_ids": ["a", "b", "c", "d"]})),
            "too_many_elements",
            "element_ids",
        ),
        (t(json!({"shots": []})), "invalid_shots", "shots"),
        (
            t(json!({"shots": [{"prompt": "a"}]})),
            "invalid_shots",
            "shots",
        ),
        (
            t(json!({"shots": [{"prompt": "a", "duration": 0}]})),
            "invalid_shots",
            "shots",
        ),
        (
            t(json!({"shots": [{"prompt": "x".repeat(513), "duration": 2}]})),
            "invalid_shots",
            "shots",
        ),
        (
            t(json!({"shots": vec![json!({"prompt": "a", "duration": 1}); 7], "duration": 7})),
            "too_many_shots",
            "shots",
        ),
        (
            t(
                json!({"shots": [{"prompt": "a", "duration": 2}, {"prompt": "b", "duration": 2}], "duration": 5}),
            ),
            "shots_duration_mismatch",
            "shots",
        ),
        (t(json!({"duration": "5"})), "invalid_duration", "duration"),
        (t(json!({"duration": 5.5})), "invalid_duration", "duration"),
        (
            t(json!({"aspect_ratio": "4:3"})),
            "invalid_aspect_ratio",
            "aspect_ratio",
        ),
        (
            i(json!({"aspect_ratio": "16:9"})),
            "aspect_ratio_not_supported",
            "aspect_ratio",
        ),
        (t(json!({"quality": "ultra"})), "invalid_quality", "quality"),
        (t(json!({"model": ""})), "invalid_model", "model"),
        (t(json!({"model": "kling-v9"})), "unknown_model", "model"),
        (
            t(json!({"cfg_scale": 1.5})),
            "invalid_cfg_scale",
            "cfg_scale",
        ),
        (
            t(json!({"cfg_scale": "high"})),
            "invalid_cfg_scale",
            "cfg_scale",
        ),
        (
            t(json!({"image": {"upload_id": "u1"}, "rights_confirmed": true})),
            "image_not_supported",
            "image",
        ),
        (
            json!({"type": "image_to_video", "rights_confirmed": true}),
            "image_required",
            "image",
        ),
        (
            i(json!({"image": "https://example.com/a.png"})),
            "invalid_image",
            "image",
        ),
        (
            i(json!({"image": {"upload_id": "u1", "url": "https://x"}})),
            "invalid_image",
            "image",
        ),
        (
            i(json!({"image": {"upload_id": "../../etc"}})),
            "invalid_upload_id",
            "image",
        ),
        (
            i(json!({"image_tail": {"url": "not a url"}})),
            "invalid_image_url",
            "image_tail",
        ),
        (
            i(json!({"rights_confirmed": false})),
            "consent_required",
            "rights_confirmed",
        ),
        (
            i(json!({"rights_confirmed": null})),
            "consent_required",
            "rights_confirmed",
        ),
        (
            i(json!({"rights_confirmed": "yes"})),
            "invalid_rights_confirmed",
            "rights_confirmed",
        ),
        (
            t(json!({"camera_control": {"type": "orbit"}})),
            "invalid_camera_control",
            "camera_control",
        ),
        (
            t(json!({"camera_control": {"type": "simple"}})),
            "invalid_camera_control",
            "camera_control",
        ),
        (
            t(json!({"camera_control": {"type": "simple", "config": {"zoom": 11}}})),
            "invalid_camera_control",
            "camera_control",
        ),
        (
            t(json!({"camera_control": {"type": "simple", "config": {"zoom": 1, "pan": 2}}})),
            "invalid_camera_control",
            "camera_control",
        ),
        (
            t(json!({"camera_control": {"type": "down_back", "config": {"zoom": 1}}})),
            "invalid_camera_control",
            "camera_control",
        ),
        (
            t(json!({"camera_control": {"type": "simple", "config": {"zoom": 1}, "speed": 2}})),
            "invalid_camera_control",
            "camera_control",
        ),
    ];
    for (input, code, field) in cases {
        let err = validate(&body(input.clone())).unwrap_err();
        assert_eq!(
            (err.status, err.code, err.field.as_deref()),
            (422, code, Some(field)),
            "{input}"
        );
        assert!(!err.message.is_empty());
    }
}

#[test]
fn shots_set_the_duration_and_may_stand_in_for_the_prompt() {
    let spec = validate(&body(
        json!({"type": "text_to_video", "audio": true, "seed": 42,
        "element_ids": ["el-1"], "shots": [{"prompt": "a door opens", "duration": 4},
        {"prompt": "a cat walks in", "duration": 8}]}),
    ))
    .unwrap();
    assert_eq!((spec.duration, spec.audio, spec.seed), (12, true, Some(42)));
    assert_eq!(spec.element_ids, ["el-1"]);
    assert_eq!(
        spec.texts().collect::<Vec<_>>(),
        ["a door opens", "a cat walks in"]
    );
    let plain = validate(&body(
        json!({"type": "text_to_video", "prompt": "p", "duration": 12}),
    ));
    assert_eq!(plain.map(|s| s.duration), Ok(12));
}

#[test]
fn prompt_length_counts_characters_not_bytes() {
    let prompt = "é".repeat(2500);
    assert!(validate(&body(json!({"type": "text_to_video", "prompt": prompt}))).is_ok());
}

#[test]
fn unknown_fields_are_refused_by_the_parser() {
    assert!(
        serde_json::from_value::<CreateVideoBody>(json!({"type": "text_to_video", "promt": "x"}))
            .is_err()
    );
}

#[test]
fn an_effect_takes_a_scene_and_one_photo_and_refuses_the_model_kinds_fields() {
    let ok = json!({"type": "effect", "scene": "pet_lion_pro",
        "image": {"upload_id": "0f3c-9a"}, "rights_confirmed": true});
    let spec = validate(&body(ok.clone())).unwrap();
    assert_eq!(spec.video_type, VideoType::Effect);
    assert_eq!(spec.scene.as_deref(), Some("pet_lion_pro"));
    assert_eq!((spec.duration, spec.prompt.as_deref()), (5, None));
    assert_eq!(spec.negative_prompt, "");
    let request = GenerationRequest::for_spec(
        &spec,
        ModelChoice {
            model: "kling-v3".into(),
            mode: crate::domain::generation::Mode::Std,
        },
        "t1",
    );
    assert_eq!(
        (request.scene.as_deref(), request.negative_prompt),
        (Some("pet_lion_pro"), None)
    );
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let cases = [
        (with("scene", Value::Null), "scene", "scene_required"),
        (with("scene", json!("Pet Lion")), "scene", "invalid_scene"),
        (
            with("scene", json!("x".repeat(65))),
            "scene",
            "invalid_scene",
        ),
        (with("scene", json!(7)), "scene", "invalid_scene"),
        (with("image", Value::Null), "image", "image_required"),
        (with("image", json!("https://x")), "image", "invalid_image"),
        (
            with("rights_confirmed", json!(false)),
            "rights_confirmed",
            "consent_required",
        ),
        (
            with("prompt", json!("a lion")),
            "prompt",
            "field_not_for_kind",
        ),
        (with("audio", json!(true)), "audio", "field_not_for_kind"),
        (
            with("image_tail", json!({"upload_id": "a"})),
            "image_tail",
            "field_not_for_kind",
        ),
        (with("shots", json!([])), "shots", "field_not_for_kind"),
        (with("duration", json!(99)), "duration", "invalid_duration"),
        (
            json!({"type": "text_to_video", "prompt": "p", "scene": "pet_lion_pro"}),
            "scene",
            "field_not_for_kind",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}

#[test]
fn sound_for_a_video_takes_a_source_and_short_prompts_and_nothing_else() {
    let ok = json!({"type": "video_to_audio", "source": {"video_id": "01a2-b3"},
        "prompt": "rain on a tin roof", "music_prompt": "slow piano"});
    let spec = validate(&body(ok.clone())).unwrap();
    assert_eq!(spec.video_type, VideoType::VideoToAudio);
    assert_eq!(spec.source, Some(SourceRef::Video("01a2-b3".into())));
    assert_eq!(
        spec.texts().collect::<Vec<_>>(),
        ["rain on a tin roof", "slow piano"],
        "both prompts are moderated"
    );
    let bare = json!({"type": "video_to_audio", "source": {"upload_id": "u-1"}});
    assert_eq!(
        validate(&body(bare)).map(|s| s.source),
        Ok(Some(SourceRef::Upload("u-1".into()))),
        "an uploaded video, and prompts are optional"
    );
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let long = json!("x".repeat(201));
    let cases = [
        (with("source", Value::Null), "source", "source_required"),
        (with("source", json!("t1")), "source", "invalid_source"),
        (
            with("source", json!({"video_id": ""})),
            "source",
            "invalid_source",
        ),
        (
            with("source", json!({"video_id": "a/b"})),
            "source",
            "invalid_source",
        ),
        (
            with("source", json!({"video_id": "t1", "url": "https://x"})),
            "source",
            "invalid_source",
        ),
        (
            with("source", json!({"url": "https://x"})),
            "source",
            "invalid_source",
        ),
        (
            with("orientation", json!("video")),
            "orientation",
            "field_not_for_kind",
        ),
        (with("prompt", long.clone()), "prompt", "prompt_too_long"),
        (
            with("music_prompt", long),
            "music_prompt",
            "prompt_too_long",
        ),
        (
            with("music_prompt", json!(3)),
            "music_prompt",
            "invalid_prompt",
        ),
        (with("duration", json!(5)), "duration", "field_not_for_kind"),
        (
            with("quality", json!("pro")),
            "quality",
            "field_not_for_kind",
        ),
        (
            with("image", json!({"upload_id": "a"})),
            "image",
            "field_not_for_kind",
        ),
        (
            json!({"type": "text_to_video", "prompt": "p", "source": {"video_id": "t1"}}),
            "source",
            "field_not_for_kind",
        ),
        (
            json!({"type": "text_to_video", "prompt": "p", "music_prompt": "piano"}),
            "music_prompt",
            "field_not_for_kind",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}

#[test]
fn motion_control_takes_a_photo_a_reference_video_and_an_orientation() {
    let ok = json!({"type": "motion_control", "image": {"upload_id": "p-1"},
        "source": {"upload_id": "v-1"}, "rights_confirmed": true, "quality": "pro"});
    let spec = validate(&body(ok.clone())).unwrap();
    assert_eq!(spec.video_type, VideoType::MotionControl);
    assert_eq!(spec.source, Some(SourceRef::Upload("v-1".into())));
    assert_eq!(
        spec.orientation,
        Some(Orientation::Video),
        "the reference's by default"
    );
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let image = validate(&body(with("orientation", json!("image")))).unwrap();
    assert_eq!(image.orientation, Some(Orientation::Image));
    let cases = [
        (with("image", Value::Null), "image", "image_required"),
        (with("source", Value::Null), "source", "source_required"),
        (
            with("orientation", json!("left")),
            "orientation",
            "invalid_orientation",
        ),
        (
            with("rights_confirmed", json!(false)),
            "rights_confirmed",
            "consent_required",
        ),
        (
            with("duration", json!(10)),
            "duration",
            "field_not_for_kind",
        ),
        (with("audio", json!(true)), "audio", "field_not_for_kind"),
        (
            with("prompt", json!("x".repeat(2501))),
            "prompt",
            "prompt_too_long",
        ),
        (
            json!({"type": "image_to_video", "image": {"upload_id": "p"}, "rights_confirmed": true,
                "orientation": "image"}),
            "orientation",
            "field_not_for_kind",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}

#[test]
fn an_avatar_takes_a_photo_and_an_uploaded_voice() {
    let ok = json!({"type": "avatar", "image": {"upload_id": "p-1"}, "voice": {"upload_id": "a-1"},
        "prompt": "smiling, nodding", "rights_confirmed": true});
    let spec = validate(&body(ok.clone())).unwrap();
    assert_eq!(spec.video_type, VideoType::Avatar);
    assert_eq!(spec.voice.as_deref(), Some("a-1"));
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let cases = [
        (with("voice", Value::Null), "voice", "voice_required"),
        (with("voice", json!("a-1")), "voice", "invalid_voice"),
        (
            with("voice", json!({"url": "https://x"})),
            "voice",
            "invalid_voice",
        ),
        (with("image", Value::Null), "image", "image_required"),
        (
            with("rights_confirmed", json!(false)),
            "rights_confirmed",
            "consent_required",
        ),
        (with("duration", json!(5)), "duration", "field_not_for_kind"),
        (
            with("source", json!({"upload_id": "v"})),
            "source",
            "field_not_for_kind",
        ),
        (
            json!({"type": "text_to_video", "prompt": "p", "voice": {"upload_id": "a"}}),
            "voice",
            "field_not_for_kind",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}

#[test]
fn an_omni_edit_takes_a_video_a_prompt_and_an_optional_reference_photo() {
    let ok = json!({"type": "omni_edit", "source": {"video_id": "t-1"},
        "prompt": "make it snow", "rights_confirmed": true});
    let spec = validate(&body(ok.clone())).unwrap();
    assert_eq!(spec.video_type, VideoType::OmniEdit);
    assert_eq!(spec.source, Some(SourceRef::Video("t-1".into())));
    assert_eq!(spec.image, None);
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let photo = validate(&body(with("image", json!({"upload_id": "p-1"})))).unwrap();
    assert_eq!(photo.image, Some(ImageRef::Upload("p-1".into())));
    let cases = [
        (with("prompt", Value::Null), "prompt", "prompt_required"),
        (with("source", Value::Null), "source", "source_required"),
        (with("source", json!("t-1")), "source", "invalid_source"),
        (
            with("rights_confirmed", json!(false)),
            "rights_confirmed",
            "consent_required",
        ),
        (with("duration", json!(5)), "duration", "field_not_for_kind"),
        (with("audio", json!(true)), "audio", "field_not_for_kind"),
        (
            with("voice", json!({"upload_id": "a"})),
            "voice",
            "field_not_for_kind",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}

#[test]
fn a_lip_sync_takes_a_video_and_an_uploaded_voice() {
    let ok = json!({"type": "lip_sync", "source": {"upload_id": "v-1"},
        "voice": {"upload_id": "a-1"}, "rights_confirmed": true});
    let spec = validate(&body(ok.clone())).unwrap();
    assert_eq!(spec.video_type, VideoType::LipSync);
    assert_eq!(
        (spec.source, spec.voice.as_deref()),
        (Some(SourceRef::Upload("v-1".into())), Some("a-1"))
    );
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let cases = [
        (with("source", Value::Null), "source", "source_required"),
        (with("voice", Value::Null), "voice", "voice_required"),
        (
            with("voice", json!({"video_id": "t"})),
            "voice",
            "invalid_voice",
        ),
        (
            with("rights_confirmed", Value::Null),
            "rights_confirmed",
            "consent_required",
        ),
        (
            with("prompt", json!("sing")),
            "prompt",
            "field_not_for_kind",
        ),
        (
            with("image", json!({"upload_id": "p"})),
            "image",
            "field_not_for_kind",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}

#[test]
fn a_two_photo_effect_takes_images_left_and_right() {
    let two = json!({"type": "effect", "scene": "hug_pro", "rights_confirmed": true,
        "images": [{"upload_id": "left"}, {"upload_id": "right"}]});
    let spec = validate(&body(two.clone())).unwrap();
    assert_eq!(
        (spec.image, spec.image_tail),
        (
            Some(ImageRef::Upload("left".into())),
            Some(ImageRef::Upload("right".into()))
        )
    );
    let with = |field: &str, v: Value| {
        let mut b = two.clone();
        b[field] = v;
        b
    };
    let cases = [
        (
            with("images", json!([{"upload_id": "a"}])),
            "images",
            "invalid_image",
        ),
        (
            with("images", json!({"upload_id": "a"})),
            "images",
            "invalid_image",
        ),
        (
            with("image", json!({"upload_id": "a"})),
            "images",
            "invalid_image",
        ),
        (
            with("images", json!([{"upload_id": "a"}, "x"])),
            "images",
            "invalid_image",
        ),
    ];
    for (b, field, code) in cases {
        let err = validate(&body(b.clone())).expect_err(&b.to_string());
        assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{b}");
    }
}
