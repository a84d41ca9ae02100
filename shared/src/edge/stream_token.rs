//! Status-stream tokens: the API (JWT-authorized, owner only) hands an app a link to its task's
//! status stream, and the stream function, behind a function URL with no authorizer, accepts it
//! only with this token: `{expiry}.{hmac}`, the HMAC-SHA256 of task, owner and expiry under the
//! stream secret. Browsers' `EventSource` cannot send an `Authorization` header, so the link
//! itself must carry the right, and only for a while.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], task_id: &str, user_id: &str, expires: i64) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(format!("stream:{task_id}:{expires}:").as_bytes());
    mac.update(user_id.as_bytes());
    mac
}

pub fn token_for(secret: &[u8], task_id: &str, user_id: &str, expires: i64) -> String {
    let tag = mac(secret, task_id, user_id, expires)
        .finalize()
        .into_bytes();
    format!("{expires}.{}", hex::encode(tag))
}

/// Why a stream link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Expired,
    Forged,
}

/// Constant-time check of a token for this task and owner at `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    task_id: &str,
    user_id: &str,
    token: &str,
    now: i64,
) -> Result<(), Refusal> {
    let (expires, tag) = token.split_once('.').ok_or(Refusal::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| Refusal::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| Refusal::Malformed)?;
    mac(secret, task_id, user_id, expires)
        .verify_slice(&tag)
        .map_err(|_| Refusal::Forged)?;
    if expires < now {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// The stream link of one task: `{base}/v1/videos/{id}/events?token=…`. The owner is not in
/// the link: the stream function reads it from the task, and the token holds only for them.
pub fn stream_url(base: &str, secret: &[u8], task_id: &str, user_id: &str, expires: i64) -> String {
    format!(
        "{}/v1/videos/{task_id}/events?token={}",
        base.trim_end_matches('/'),
        token_for(secret, task_id, user_id, expires)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"stream-secret-0123456789";

    #[test]
    fn tokens_bind_secret_task_owner_and_expiry() {
        let t = token_for(KEY, "t1", "alice", 1000);
        assert_eq!(verify(KEY, "t1", "alice", &t, 999), Ok(()));
        assert_eq!(verify(KEY, "t1", "alice", &t, 1000), Ok(()));
        let later = t.replacen("1000", "9000", 1);
        let cases = [
            (KEY, "t1", "alice", t.as_str(), 1001, Refusal::Expired),
            (KEY, "t2", "alice", t.as_str(), 0, Refusal::Forged),
            (KEY, "t1", "bob", t.as_str(), 0, Refusal::Forged),
            (
                b"another-secret-0123456".as_slice(),
                "t1",
                "alice",
                t.as_str(),
                0,
                Refusal::Forged,
            ),
            (KEY, "t1", "alice", later.as_str(), 0, Refusal::Forged),
            (KEY, "t1", "alice", "1000", 0, Refusal::Malformed),
            (KEY, "t1", "alice", "x.ab", 0, Refusal::Malformed),
            (KEY, "t1", "alice", "1000.zz", 0, Refusal::Malformed),
            (KEY, "t1", "alice", "", 0, Refusal::Malformed),
        ];
        for (key, task, user, token, now, want) in cases {
            assert_eq!(
                verify(key, task, user, token, now),
                Err(want),
                "{task} {user} {token}"
            );
        }
    }

    #[test]
    fn the_url_carries_the_token_not_the_owner() {
        let url = stream_url("https://s.example/", KEY, "t1", "alice", 1000);
        let token = url.split_once("?token=").map(|(_, t)| t).unwrap();
        assert!(url.starts_with("https://s.example/v1/videos/t1/events?token=1000."));
        assert!(!url.contains("alice"));
        assert_eq!(verify(KEY, "t1", "alice", token, 0), Ok(()));
    }
}
