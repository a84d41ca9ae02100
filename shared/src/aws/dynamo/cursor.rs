//! The list cursor: the GSI's last key, opaque to apps, checked to name the caller's own
//! partition.

use super::*;

/// The cursor is the GSI's last key, opaque to apps. It must name the caller's own partition.
pub(super) fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor this store issued to this user: anything else (forged, another user's, with
/// parts a key cannot have) is refused before it reaches DynamoDB.
const MAX_CURSOR_LEN: usize = 2048;

pub fn decode_cursor(cursor: &str, user_id: &str) -> Result<Item, StoreError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let plain: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let expected = ["gsi1pk", "gsi1sk", "pk", "sk"];
    if plain.len() != expected.len()
        || !expected.iter().all(|k| plain.contains_key(*k))
        || plain.get("gsi1pk") != Some(&user_pk(user_id))
        || plain.get("sk").map(String::as_str) != Some("TASK")
        || !plain
            .get("pk")
            .and_then(|pk| pk.strip_prefix("TASK#"))
            .is_some_and(crate::domain::task::TaskId::well_formed)
        || plain.values().any(|v| v.is_empty() || v.len() > 1024)
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_ownership() {
        let key: Item = [
            ("pk", "TASK#t1"),
            ("sk", "TASK"),
            ("gsi1pk", "USER#alice"),
            ("gsi1sk", "2026-01-01T00:00:00.000Z#t1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), s(v)))
        .collect();
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor(&c, "alice").unwrap(), key);
        assert!(matches!(
            decode_cursor(&c, "mallory"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("%%%", "alice"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("e30", "alice"),
            Err(StoreError::InvalidCursor)
        ));
    }

    /// Forged cursors whose key parts DynamoDB would refuse (a 500 on AWS) are refused here.
    #[test]
    fn forged_cursors_with_impossible_keys() {
        let forge = |pk: &str, sk: &str, gsi1sk: &str| {
            let plain = serde_json::json!({"pk": pk, "sk": sk, "gsi1pk": "USER#alice",
                "gsi1sk": gsi1sk});
            URL_SAFE_NO_PAD.encode(plain.to_string())
        };
        let long = "x".repeat(2000);
        let cases = [
            forge("", "TASK", "2026#t1"),
            forge("TASK#", "TASK", "2026#t1"),
            forge("USER#bob", "TASK", "2026#t1"),
            forge("TASK#t1", "", "2026#t1"),
            forge("TASK#t1", "ACCOUNT", "2026#t1"),
            forge("TASK#t1", "TASK", ""),
            forge("TASK#t1", "TASK", &long),
            forge(&format!("TASK#{long}"), "TASK", "2026#t1"),
            "A".repeat(5000),
        ];
        for c in cases {
            assert!(
                matches!(decode_cursor(&c, "alice"), Err(StoreError::InvalidCursor)),
                "{c}"
            );
        }
        assert!(decode_cursor(&forge("TASK#t1", "TASK", "2026#t1"), "alice").is_ok());
    }
}
