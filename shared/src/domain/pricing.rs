//! Pricing: `cost_units = duration × tier multiplier × feature multiplier`, where the feature
//! multiplier is the product of the features asked for (camera control, sound).

use crate::domain::task::CostUnits;

/// Multipliers in hundredths (100 = ×1.0), from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceTable {
    pub std_tier: u64,
    pub pro_tier: u64,
    pub no_feature: u64,
    pub camera_control: u64,
    pub audio: u64,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            std_tier: 100,
            pro_tier: 160,
            no_feature: 100,
            camera_control: 130,
            audio: 150,
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
    pub duration_seconds: u32,
    pub pro: bool,
    pub camera_control: bool,
    pub audio: bool,
}

pub fn price(table: &PriceTable, req: Priced) -> Breakdown {
    let Priced {
        duration_seconds,
        pro,
        camera_control,
        audio,
    } = req;
    let tier = if pro { table.pro_tier } else { table.std_tier };
    let mut feature = table.no_feature;
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
                duration_seconds: d,
                pro,
                camera_control: cam,
                audio,
            };
            assert_eq!(price(&t, req).cost, CostUnits(want), "{req:?}");
        }
    }
}
