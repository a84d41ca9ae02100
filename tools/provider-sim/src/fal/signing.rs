//! fal's webhook signature: Ed25519 over `request_id\nuser_id\ntimestamp\nhex(sha256(body))`,
//! hex-encoded; the public keys as a JWKS (`kty: OKP`, `crv: Ed25519`, `x` base64url).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The hex signature fal puts in `X-Fal-Webhook-Signature`.
pub fn sign(
    seed: &[u8; 32],
    request_id: &str,
    user_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let message = format!(
        "{request_id}\n{user_id}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    );
    hex::encode(
        SigningKey::from_bytes(seed)
            .sign(message.as_bytes())
            .to_bytes(),
    )
}

/// The JWKS for these keys.
pub fn jwks(seeds: &[[u8; 32]]) -> Value {
    let keys: Vec<Value> = seeds
        .iter()
        .enumerate()
        .map(|(n, seed)| {
            let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
            json!({"kty": "OKP", "crv": "Ed25519", "kid": format!("fal-sim-{n}"),
                "x": URL_SAFE_NO_PAD.encode(public)})
        })
        .collect();
    json!({ "keys": keys })
}
