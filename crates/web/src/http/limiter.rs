//! Throttling, counted in the database so that every node behind the proxy sees the
//! same counts: login attempts per account and client address, and public
//! submissions (the report form, a finder's report, a subscription) per client
//! address, each over a sliding window. A database error lets the request through
//! and is logged: throttling must not become the outage.

use std::time::Duration;

use renkei_core::Store;
use renkei_core::nodes::{rate_clear, rate_give_back, rate_take};

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

/// One login attempt, counted before the password is checked; given back if the
/// password was right.
pub struct LoginTicket {
    keys: Vec<String>,
    at: Option<String>,
}

impl LoginLimiter {
    pub fn new(store: Store, max: u32, window_len: Duration) -> Self {
        LoginLimiter {
            store,
            max: i64::from(max),
            window: window(window_len),
        }
    }

    /// The keys an attempt counts under: the account from this source (the one that
    /// throttles), and the source over every account (a host guessing many accounts,
    /// allowed four times as many).
    fn keys(&self, client: &str, email: &str) -> [(String, i64); 2] {
        let account = email.trim().to_lowercase();
        [
            (format!("login:{account}|{client}"), self.max),
            (format!("login-ip:{client}"), self.max.saturating_mul(4)),
        ]
    }

    /// Counts an attempt before the password is checked, atomically with the check
    /// of the allowance; `None` when this source has used up its tries for the
    /// account (or for all accounts). Nobody elsewhere can use up the rightful
    /// user's tries: they are counted per source.
    pub async fn attempt(&self, client: &str, email: &str) -> Option<LoginTicket> {
        let keys = self.keys(client, email);
        let limits: Vec<(&str, i64)> = keys.iter().map(|(k, m)| (k.as_str(), *m)).collect();
        match rate_take(&self.store, &limits, self.window).await {
            Ok(Some(at)) => Some(LoginTicket {
                keys: keys.into_iter().map(|(k, _)| k).collect(),
                at: Some(at),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the login throttle could not be read; letting the attempt through");
                Some(LoginTicket {
                    keys: Vec::new(),
                    at: None,
                })
            }
        }
    }

    /// The password was right: the attempt does not count, and this source starts
    /// afresh for this account.
    pub async fn succeeded(&self, ticket: LoginTicket) {
        let Some(at) = ticket.at else { return };
        for (i, key) in ticket.keys.iter().enumerate() {
            let r = if i == 0 {
                rate_clear(&self.store, key).await
            } else {
                rate_give_back(&self.store, key, &at).await
            };
            or_pass(r, ());
        }
    }

    /// The slower path for a source held back on an account: one try per window
    /// with the password and a second factor together, so that someone behind the
    /// same address as an attacker still gets in. True when this try may go ahead.
    pub async fn slow_attempt(&self, client: &str, email: &str) -> bool {
        let key = format!("login-slow:{}|{client}", email.trim().to_lowercase());
        or_pass(
            rate_take(&self.store, &[(&key, 1)], self.window)
                .await
                .map(|t| t.is_some()),
            false,
        )
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

    /// Counts one event for `key`, checked and recorded at once; false when the key
    /// is over its allowance.
    pub async fn allow(&self, key: &str) -> bool {
        let key = format!("{}:{key}", self.prefix);
        or_pass(
            rate_take(&self.store, &[(&key, self.max)], self.window)
                .await
                .map(|t| t.is_some()),
            true,
        )
    }
}
