//! Throttling, counted in the database so that every node behind the proxy sees the
//! same counts: failed logins per client address and per account name, and public
//! submissions (the report form, a finder's report, a subscription) per client
//! address, each over a sliding window. A database error lets the request through
//! and is logged: throttling must not become the outage.

use std::time::Duration;

use renkei_core::Store;
use renkei_core::nodes::{rate_clear, rate_count, rate_record};

fn window(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

fn or_pass<T>(r: renkei_core::Result<T>, fallback: T) -> T {
    r.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the rate limit could not be read; letting the request through");
        fallback
    })
}

pub struct LoginLimiter {
    store: Store,
    max: i64,
    window: chrono::Duration,
}

impl LoginLimiter {
    pub fn new(store: Store, max: u32, window_len: Duration) -> Self {
        LoginLimiter {
            store,
            max: i64::from(max),
            window: window(window_len),
        }
    }

    fn keys(client: &str, email: &str) -> [String; 2] {
        [
            format!("login-ip:{client}"),
            format!("login-account:{}", email.trim().to_lowercase()),
        ]
    }

    /// True when another attempt from this client or for this account must wait.
    pub async fn is_blocked(&self, client: &str, email: &str) -> bool {
        for k in Self::keys(client, email) {
            if or_pass(rate_count(&self.store, &k, self.window).await, 0) >= self.max {
                return true;
            }
        }
        false
    }

    pub async fn record_failure(&self, client: &str, email: &str) {
        for k in Self::keys(client, email) {
            or_pass(rate_record(&self.store, &k, self.window).await, ());
        }
    }

    pub async fn record_success(&self, email: &str) {
        let [_, account] = Self::keys("", email);
        or_pass(rate_clear(&self.store, &account).await, ());
    }
}

/// At most `max` events per key in a sliding window.
pub struct RateLimiter {
    store: Store,
    prefix: &'static str,
    max: i64,
    window: chrono::Duration,
}

impl RateLimiter {
    pub fn new(store: Store, prefix: &'static str, max: u32, window_len: Duration) -> Self {
        RateLimiter {
            store,
            prefix,
            max: i64::from(max),
            window: window(window_len),
        }
    }

    /// Counts one event for `key`; false when the key is over its allowance.
    pub async fn allow(&self, key: &str) -> bool {
        let key = format!("{}:{key}", self.prefix);
        if or_pass(rate_count(&self.store, &key, self.window).await, 0) >= self.max {
            return false;
        }
        or_pass(rate_record(&self.store, &key, self.window).await, ());
        true
    }
}
