use serde_json::json;

use super::*;

fn parts(v: Value) -> PromptParts {
    serde_json::from_value(v).unwrap()
}

#[test]
fn the_frame_composes_one_prompt_the_same_way_every_time() {
    let cases = [
        (
            json!({"subject": "a red fox", "action": "runs through snow"}),
            Some("a red fox runs through snow."),
        ),
        (
            json!({"subject": "a red fox", "action": "runs", "scene": "a birch forest.", "camera": "low tracking shot",
                   "lighting": "blue hour", "mood": "quiet", "style": "35mm film"}),
            Some(
                "a red fox runs. a birch forest. Camera: low tracking shot. Lighting: blue hour. Mood: quiet. Style: 35mm film.",
            ),
        ),
        (
            json!({"scene": "  a   market  ", "style": "anime"}),
            Some("a market. Style: anime."),
        ),
        (json!({"subject": "   "}), None),
        (json!({}), None),
    ];
    for (input, want) in cases {
        assert_eq!(compose(&parts(input.clone())).as_deref(), want, "{input}");
    }
}

#[test]
fn prompt_parts_are_checked() {
    let long = "x".repeat(MAX_PART_LEN + 1);
    let cases = [
        (json!({"subject": "a fox"}), None),
        (json!({"action": "waves", "camera": "close-up"}), None),
        (json!({"camera": "close-up"}), Some("invalid_prompt_parts")),
        (
            json!({"subject": "a fox", "colour": "red"}),
            Some("invalid_prompt_parts"),
        ),
        (json!({"subject": 7}), Some("invalid_prompt_parts")),
        (json!({"subject": long}), Some("invalid_prompt_parts")),
        (json!("a fox"), Some("invalid_prompt_parts")),
    ];
    for (input, want) in cases {
        assert_eq!(parse_parts(&input).err().map(|e| e.code), want, "{input}");
    }
}

fn shipped() -> Vec<VideoTemplate> {
    parse_file(DEFAULT_TEMPLATES_JSON).unwrap()
}

fn product_ad() -> VideoTemplate {
    shipped()
        .into_iter()
        .find(|t| t.id == "product-ad")
        .unwrap()
}

#[test]
fn fields_are_checked_against_the_slots() {
    let t = product_ad();
    let ok = json!({"product": "a ceramic mug", "setting": "a sunny kitchen", "mood": "calm"});
    let cases = [
        (ok.clone(), None),
        (
            json!({"product": "a mug", "setting": "a kitchen", "mood": "calm", "price": "9"}),
            Some("template.fields.price"),
        ),
        (
            json!({"setting": "a kitchen", "mood": "calm"}),
            Some("template.fields.product"),
        ),
        (
            json!({"product": "  ", "setting": "a kitchen", "mood": "calm"}),
            Some("template.fields.product"),
        ),
        (
            json!({"product": "a mug", "setting": "a kitchen", "mood": "sad"}),
            Some("template.fields.mood"),
        ),
        (
            json!({"product": "m".repeat(81), "setting": "a kitchen", "mood": "calm"}),
            Some("template.fields.product"),
        ),
        (
            json!({"product": ["a mug"], "setting": "a kitchen", "mood": "calm"}),
            Some("template.fields.product"),
        ),
    ];
    for (fields, want) in cases {
        let got = check_fields(&t, fields.as_object().unwrap()).err();
        assert_eq!(
            got.as_ref().and_then(|e| e.field.as_deref()),
            want,
            "{fields}"
        );
        if let Some(e) = got {
            assert_eq!(e.code, "invalid_template_fields");
        }
    }
}

#[test]
fn filling_replaces_each_placeholder_once_and_leaves_other_braces() {
    let mut t = product_ad();
    t.frame.style = Some("{unknown} braces stay, {product} twice: {product}".into());
    t.slots.retain(|s| s.name != "setting");
    t.frame.scene = None;
    let values = vec![
        ("product".to_string(), "a {mood} mug".to_string()),
        ("mood".to_string(), "calm".to_string()),
    ];
    let filled = fill(&t, &values);
    assert_eq!(
        filled.subject.as_deref(),
        Some("a {mood} mug on a clean pedestal")
    );
    assert_eq!(filled.mood.as_deref(), Some("calm"));
    assert_eq!(
        filled.style.as_deref(),
        Some("{unknown} braces stay, a {mood} mug twice: a {mood} mug")
    );
}

#[test]
fn an_optional_slot_left_out_leaves_no_gap() {
    let t = shipped()
        .into_iter()
        .find(|t| t.id == "travel-reel")
        .unwrap();
    let fields = json!({"place": "Lisbon", "time_of_day": "golden hour"});
    let values = check_fields(&t, fields.as_object().unwrap()).unwrap();
    let prompt = compose(&fill(&t, &values)).unwrap();
    assert_eq!(
        prompt,
        "Lisbon revealed from above as the camera glides forward. Lisbon at golden hour. \
         Camera: aerial drone shot, slow forward dolly. Lighting: natural golden hour light. \
         Mood: wanderlust, inviting. Style: cinematic travel film."
    );
}

#[test]
fn settings_outside_the_template_are_refused() {
    let t = product_ad();
    let cases = [
        (Quality::Standard, 5, None),
        (Quality::Pro, 10, None),
        (Quality::Standard, 7, Some("duration")),
    ];
    for (quality, duration, want) in cases {
        let got = check_settings(&t, quality, duration).err();
        assert_eq!(got.as_ref().and_then(|e| e.field.as_deref()), want);
    }
    let mut draft_only = t.clone();
    draft_only.qualities = vec![Quality::Draft];
    let refused = check_settings(&draft_only, Quality::Pro, 5).unwrap_err();
    assert_eq!(
        (refused.code, refused.field.as_deref()),
        ("template_setting_not_allowed", Some("quality"))
    );
}

#[test]
fn the_templates_file_is_checked() {
    assert_eq!(shipped().len(), 3);
    let mut dup: Value = serde_json::from_str(DEFAULT_TEMPLATES_JSON).unwrap();
    let first = dup["templates"][0].clone();
    dup["templates"].as_array_mut().unwrap().push(first);
    assert!(matches!(
        parse_file(&dup.to_string()),
        Err(TemplateFileError::Duplicate(..))
    ));
    let mut orphan: Value = serde_json::from_str(DEFAULT_TEMPLATES_JSON).unwrap();
    orphan["templates"][0]["slots"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "unused"}));
    assert!(matches!(
        parse_file(&orphan.to_string()),
        Err(TemplateFileError::Slots(..))
    ));
    let mut undeclared: Value = serde_json::from_str(DEFAULT_TEMPLATES_JSON).unwrap();
    undeclared["templates"][0]["frame"]["style"] = json!("{brand} style");
    assert!(matches!(
        parse_file(&undeclared.to_string()),
        Err(TemplateFileError::Slots(..))
    ));
}

#[test]
fn a_request_gets_the_version_it_names_or_the_newest() {
    let v1 = product_ad();
    let v2 = VideoTemplate {
        version: 2,
        ..v1.clone()
    };
    let versions = [v1, v2];
    let cases = [
        (None, Some(2)),
        (Some(1), Some(1)),
        (Some(2), Some(2)),
        (Some(3), None),
    ];
    for (asked, want) in cases {
        assert_eq!(pick(&versions, asked).map(|t| t.version), want, "{asked:?}");
    }
    assert!(pick(&[], None).is_none());
    let travel = shipped()
        .into_iter()
        .find(|t| t.id == "travel-reel")
        .unwrap();
    assert!(travel.allows_plan("pro") && !travel.allows_plan("free"));
    assert!(versions[0].allows_plan("free"));
}

#[test]
fn a_template_targets_a_kind_only_as_that_kind_allows() {
    let base = from_source(&std::collections::HashMap::<&str, &str>::new()).unwrap();
    let effect = base.iter().find(|t| t.id == "pet-lion").unwrap().clone();
    assert!(check_template(&effect).is_ok());
    let prompt = base[0].clone();
    let with = |f: &dyn Fn(&mut VideoTemplate)| {
        let mut t = effect.clone();
        f(&mut t);
        t
    };
    let broken = [
        with(&|t| t.scene = Some("hug".into())),
        with(&|t| t.scene = None),
        with(&|t| t.frame = prompt.frame.clone()),
        with(&|t| t.kind = Some(VideoType::Avatar)),
        with(&|t| t.kind = None),
    ];
    for t in broken {
        assert!(
            matches!(check_template(&t), Err(TemplateFileError::Kind(..))),
            "{t:?}"
        );
    }
}
