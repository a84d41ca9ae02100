//! Per-task callback tokens: HMAC-SHA256 of the task id under the webhook secret, carried in
//! the callback URL path. Kling's legacy callbacks are unsigned, so this token is what makes a
//! forged callback for someone else's task impossible to write without the secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], task_id: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(b"kling-callback:");
    mac.update(task_id.as_bytes());
    mac
}

pub fn token_for(secret: &[u8], task_id: &str) -> String {
    hex::encode(mac(secret, task_id).finalize().into_bytes())
}

/// Constant-time check of a token taken from the URL.
pub fn verify(secret: &[u8], task_id: &str, token: &str) -> bool {
    match hex::decode(token) {
        Ok(bytes) => mac(secret, task_id).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// The callback URL registered with Kling for one task.
pub fn callback_url(base_url: &str, secret: &[u8], task_id: &str) -> String {
    format!(
        "{}/webhooks/kling/{task_id}/{}",
        base_url.trim_end_matches('/'),
        token_for(secret, task_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_secret_and_task() {
        let t = token_for(b"secret-a-0123456789", "task-1");
        assert!(verify(b"secret-a-0123456789", "task-1", &t));
        assert!(!verify(b"secret-a-0123456789", "task-2", &t));
        assert!(!verify(b"secret-b-0123456789", "task-1", &t));
        assert!(!verify(b"secret-a-0123456789", "task-1", "zz"));
        assert!(!verify(b"secret-a-0123456789", "task-1", &t[..10]));
    }

    #[test]
    fn callback_url_shape() {
        let url = callback_url("https://api.example.com/", b"k-0123456789abcdef", "t1");
        assert!(url.starts_with("https://api.example.com/webhooks/kling/t1/"));
        assert_eq!(url.rsplit('/').next().map(str::len), Some(64));
    }
}
