//! Pricing: `cost_units = duration × tier multiplier × feature multiplier`.

use crate::task::CostUnits;

/// Multipliers in hundredths (100 = ×1.0), from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceTable {
    pub std_tier: u64,
    pub pro_tier: u64,
    pub no_feature: u64,
    pub camera_control: u64,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            std_tier: 100,
            pro_tier: 160,
            no_feature: 100,
            camera_control: 130,
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

pub fn price(
    table: &PriceTable,
    duration_seconds: u32,
    pro: bool,
    camera_control: bool,
) -> Breakdown {
    let tier = if pro { table.pro_tier } else { table.std_tier };
    let feature = if camera_control {
        table.camera_control
    } else {
        table.no_feature
    };
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
            (5, false, false, 500),
            (10, false, false, 1000),
            (5, true, false, 800),
            (10, true, false, 1600),
            (5, false, true, 650),
            (10, true, true, 2080),
        ];
        for (d, pro, cam, want) in cases {
            assert_eq!(
                price(&t, d, pro, cam).cost,
                CostUnits(want),
                "{d}s pro={pro} cam={cam}"
            );
        }
    }
}
