//! The three quality presets (draft, standard, pro): which model and mode a quality tier means,
//! from configuration (`KLING_PRESET_*`), each checked against the catalogue for the surface
//! that will serve it. Kling and a platform hosting Kling's models read the same settings.

use crate::domain::catalogue::{self, Surface};
use crate::domain::generation::ModelChoice;
use crate::domain::task::{Mode, Quality};
use crate::runtime::config::{ConfigError, Source};

/// Model and mode behind a quality preset; configuration, never code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub model: String,
    pub mode: String,
}

impl Preset {
    pub fn parse(name: &'static str, raw: &str, surface: Surface) -> Result<Self, ConfigError> {
        let (model, mode) = raw.split_once(':').ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("'{raw}' must be MODEL:MODE, e.g. kling-v2-5-turbo:std"),
        })?;
        if model.is_empty() || !matches!(mode, "std" | "pro") {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("'{raw}' must be MODEL:MODE with MODE std or pro"),
            });
        }
        // A retired model would fail every task of the tier only once Kling is asked.
        let on_surface = catalogue::model(model).and_then(|m| m.name_on(surface));
        if on_surface.is_none() {
            return Err(ConfigError::Invalid {
                name,
                reason: format!(
                    "'{model}' is not a current video model on {}",
                    surface.label()
                ),
            });
        }
        Ok(Self {
            model: model.to_string(),
            mode: mode.to_string(),
        })
    }
}

/// The model and price tier for a quality from the three presets (draft, standard, pro), or an
/// override the plan allowed.
pub fn choose(
    presets: &[Preset; 3],
    quality: Quality,
    model_override: Option<&str>,
) -> ModelChoice {
    let preset = match quality {
        Quality::Draft => &presets[0],
        Quality::Standard => &presets[1],
        Quality::Pro => &presets[2],
    };
    let mode = match preset.mode.as_str() {
        "pro" => Mode::Pro,
        _ => Mode::Std,
    };
    ModelChoice {
        model: model_override.unwrap_or(&preset.model).to_string(),
        mode,
    }
}

/// The draft preset when none is configured: Kling 3.0 Turbo where the standard API is (it is
/// sold there only, billed per second, `docs/providers.md` §Standard API), else 2.5 Turbo.
pub fn default_draft(surface: Surface) -> &'static str {
    match surface {
        Surface::KlingStandard => "kling-3.0-turbo:std",
        Surface::KlingLegacy | Surface::Fal => "kling-v2-5-turbo:std",
    }
}

/// The three quality presets (`KLING_PRESET_*`), each a current model on `surface`. A hosting
/// platform serving Kling's models reads the same ones.
pub fn presets(src: &impl Source, surface: Surface) -> Result<[Preset; 3], ConfigError> {
    let preset = |name: &'static str, default: &str| -> Result<Preset, ConfigError> {
        let raw = src.optional(name).unwrap_or_else(|| default.to_string());
        Preset::parse(name, &raw, surface)
    };
    Ok([
        preset("KLING_PRESET_DRAFT", default_draft(surface))?,
        preset("KLING_PRESET_STANDARD", "kling-v3:std")?,
        preset("KLING_PRESET_PRO", "kling-v3:pro")?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_draft_preset_is_kling_3_0_turbo_where_the_standard_api_is_configured() {
        let none: HashMap<&str, &str> = HashMap::new();
        let cases = [
            (Surface::KlingStandard, "kling-3.0-turbo"),
            (Surface::KlingLegacy, "kling-v2-5-turbo"),
            (Surface::Fal, "kling-v2-5-turbo"),
        ];
        for (surface, want) in cases {
            let [draft, ..] = presets(&none, surface).unwrap();
            assert_eq!(draft.model, want, "{surface:?}");
            assert_eq!(draft.mode, "std");
        }
    }
}
