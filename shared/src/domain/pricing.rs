//! Pricing: `cost_units = duration × tier multiplier × feature multiplier`, where the feature
//! multiplier is the product of the features asked for (camera control, sound); a kind priced
//! per generation (effects, `catalogue::PriceBasis`) costs its configured price instead. A kind
//! without a mode (video-to-audio: per second of its video) is priced at the std tier; a kind's
//! own multiplier (motion control ×1.3, `catalogue::KindOffer`) joins the feature multiplier.

use crate::domain::catalogue::{self, PriceBasis};
use crate::domain::task::{CostUnits, VideoType};

/// Multipliers in hundredths (100 = ×1.0), from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceTable {
    pub std_tier: u64,
    pub pro_tier: u64,
    /// 4K output, in place of the std/pro tier (`tier_multipliers."4k"`).
    pub four_k_tier: u64,
    pub no_feature: u64,
    pub camera_control: u64,
    pub audio: u64,
    /// One effect video, whatever its length, in hundredths of a unit
    /// (`pricing.per_generation.effect`, in units).
    pub effect_per_generation: u64,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            std_tier: 100,
            pro_tier: 160,
            four_k_tier: 500,
            no_feature: 100,
            camera_control: 130,
            audio: 150,
            effect_per_generation: 500,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakdown {
    pub duration_seconds: u32,
    pub tier_multiplier: u64,
    pub feature_multiplier: u64,
    pub cost: CostUnits,
}

/// What a request asks for that the price depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Priced {
    pub kind: VideoType,
    pub duration_seconds: u32,
    pub pro: bool,
    pub four_k: bool,
    pub camera_control: bool,
    pub audio: bool,
}

pub fn price(table: &PriceTable, req: Priced) -> Breakdown {
    let Priced {
        kind,
        duration_seconds,
        pro,
        four_k,
        camera_control,
        audio,
    } = req;
    let offer = catalogue::kind(kind);
    if offer.price == PriceBasis::PerGeneration {
        return Breakdown {
            duration_seconds,
            tier_multiplier: 100,
            feature_multiplier: 100,
            cost: CostUnits(table.effect_per_generation),
        };
    }
    let tier = match (four_k, pro && offer.tiered) {
        (true, _) => table.four_k_tier,
        (false, true) => table.pro_tier,
        (false, false) => table.std_tier,
    };
    // The kind's own multiplier counts as a feature (motion control ×1.3).
    let mut feature = table.no_feature * offer.multiplier / 100;
    for (asked, multiplier) in [(camera_control, table.camera_control), (audio, table.audio)] {
        if asked {
            feature = feature * multiplier / 100;
        }
    }
    // Multipliers are in hundredths, so the product carries 10^4; divide once, rounding half up.
    let raw = u64::from(duration_seconds) * tier * feature;
    Breakdown {
        duration_seconds,
        tier_multiplier: tier,
        feature_multiplier: feature,
        cost: CostUnits((raw + 50) / 100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_table() {
        let t = PriceTable::default();
        let cases = [
            (5, false, false, false, 500),
            (3, false, false, false, 300),
            (10, false, false, false, 1000),
            (5, true, false, false, 800),
            (10, true, false, false, 1600),
            (5, false, true, false, 650),
            (10, true, true, false, 2080),
            (5, false, false, true, 750),
            (12, true, false, true, 2880),
            (5, false, true, true, 975),
        ];
        for (d, pro, cam, audio, want) in cases {
            let req = Priced {
                kind: VideoType::TextToVideo,
                duration_seconds: d,
                pro,
                four_k: false,
                camera_control: cam,
                audio,
            };
            assert_eq!(price(&t, req).cost, CostUnits(want), "{req:?}");
            let image = Priced {
                kind: VideoType::ImageToVideo,
                ..req
            };
            assert_eq!(price(&t, image).cost, CostUnits(want), "{image:?}");
        }
    }

    /// 4K replaces the std/pro tier (Kling bills it one rate either way); features still
    /// multiply, and an Omni edit's seconds are priced the same way.
    #[test]
    fn four_k_takes_the_place_of_the_tier() {
        let t = PriceTable::default();
        let cases = [
            (VideoType::TextToVideo, 5, false, false, 2500),
            (VideoType::TextToVideo, 5, true, false, 2500),
            (VideoType::TextToVideo, 10, true, true, 7500),
            (VideoType::ImageToVideo, 15, false, false, 7500),
            (VideoType::OmniEdit, 7, true, false, 3500),
        ];
        for (kind, d, pro, audio, want) in cases {
            let req = Priced {
                kind,
                duration_seconds: d,
                pro,
                four_k: true,
                camera_control: false,
                audio,
            };
            assert_eq!(price(&t, req).cost, CostUnits(want), "{req:?}");
            assert_eq!(price(&t, req).tier_multiplier, 500);
        }
    }

    #[test]
    fn an_effect_costs_its_configured_price_whatever_it_asks() {
        let t = PriceTable {
            effect_per_generation: 420,
            ..PriceTable::default()
        };
        for (d, pro, audio) in [(5, false, false), (5, true, false), (10, true, true)] {
            let req = Priced {
                kind: VideoType::Effect,
                duration_seconds: d,
                pro,
                four_k: pro,
                camera_control: false,
                audio,
            };
            assert_eq!(price(&t, req).cost, CostUnits(420), "{req:?}");
        }
    }

    #[test]
    fn sound_for_a_video_costs_its_seconds_at_the_std_tier_whatever_the_mode() {
        let t = PriceTable::default();
        for (d, pro, want) in [(5, false, 500), (5, true, 500), (17, true, 1700)] {
            let req = Priced {
                kind: VideoType::VideoToAudio,
                duration_seconds: d,
                pro,
                ..Priced::default()
            };
            assert_eq!(price(&t, req).cost, CostUnits(want), "{req:?}");
        }
    }

    #[test]
    fn motion_control_costs_its_seconds_times_1_3_and_its_tier() {
        let t = PriceTable::default();
        for (d, pro, want) in [(5, false, 650), (10, false, 1300), (5, true, 1040)] {
            let req = Priced {
                kind: VideoType::MotionControl,
                duration_seconds: d,
                pro,
                ..Priced::default()
            };
            assert_eq!(price(&t, req).cost, CostUnits(want), "{req:?}");
        }
    }

    #[test]
    fn an_avatar_costs_its_seconds_of_audio_times_1_5_and_its_tier() {
        let t = PriceTable::default();
        for (d, pro, want) in [(2, false, 300), (300, false, 45000), (10, true, 2400)] {
            let req = Priced {
                kind: VideoType::Avatar,
                duration_seconds: d,
                pro,
                ..Priced::default()
            };
            assert_eq!(price(&t, req).cost, CostUnits(want), "{req:?}");
        }
    }
}
