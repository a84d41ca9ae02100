//! Per-task callback tokens: HMAC-SHA256 of the provider and the task id under the webhook
//! secret, carried in the callback URL path (`/webhooks/{provider}/{task_id}/{token}`). Kling's
//! legacy callbacks are unsigned, so this token is what makes a forged callback for someone
//! else's task impossible to write without the secret. The message is
//! `{provider}-callback:{task_id}`, which for `kling` is what tokens were before tasks named
//! their provider, so callback URLs of tasks already in flight keep working.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Provider names in callback URLs: lowercase letters and digits only, so the MAC message
/// cannot be read two ways.
pub fn valid_provider(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn mac(secret: &[u8], provider: &str, task_id: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(provider.as_bytes());
    mac.update(b"-callback:");
    mac.update(task_id.as_bytes());
    mac
}

pub fn token_for(secret: &[u8], provider: &str, task_id: &str) -> String {
    hex::encode(mac(secret, provider, task_id).finalize().into_bytes())
}

/// Constant-time check of a token taken from the URL.
pub fn verify(secret: &[u8], provider: &str, task_id: &str, token: &str) -> bool {
    if !valid_provider(provider) {
        return false;
    }
    match hex::decode(token) {
        Ok(bytes) => mac(secret, provider, task_id).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// The callback URL registered with the provider for one task.
pub fn callback_url(base_url: &str, secret: &[u8], provider: &str, task_id: &str) -> String {
    format!(
        "{}/webhooks/{provider}/{task_id}/{}",
        base_url.trim_end_matches('/'),
        token_for(secret, provider, task_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"secret-a-0123456789";

    #[test]
    fn tokens_bind_secret_provider_and_task() {
        let t = token_for(KEY, "kling", "task-1");
        assert!(verify(KEY, "kling", "task-1", &t));
        let refused = [
            (KEY, "kling", "task-2", t.as_str()),
            (KEY, "fal", "task-1", t.as_str()),
            (b"secret-b-0123456789", "kling", "task-1", t.as_str()),
            (KEY, "kling", "task-1", "zz"),
            (KEY, "kling", "task-1", &t[..10]),
            (KEY, "Kling", "task-1", t.as_str()),
        ];
        for (key, provider, task, token) in refused {
            assert!(
                !verify(key, provider, task, token),
                "{provider} {task} {token}"
            );
        }
    }

    /// Tokens minted before tasks named their provider: HMAC of `kling-callback:{task}`.
    #[test]
    fn kling_urls_of_tasks_in_flight_keep_working() {
        let mut legacy = <HmacSha256 as Mac>::new_from_slice(KEY).unwrap();
        legacy.update(b"kling-callback:task-1");
        let old = hex::encode(legacy.finalize().into_bytes());
        assert!(verify(KEY, "kling", "task-1", &old));
    }

    #[test]
    fn callback_url_shape() {
        let url = callback_url(
            "https://api.example.com/",
            b"k-0123456789abcdef",
            "kling",
            "t1",
        );
        assert!(url.starts_with("https://api.example.com/webhooks/kling/t1/"));
        assert_eq!(url.rsplit('/').next().map(str::len), Some(64));
    }
}
