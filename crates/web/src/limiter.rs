//! Login throttling: failed attempts counted per client address and per account name
//! over a sliding window. Kept in memory: it protects each node, and a restart only
//! forgets recent failures, which the audit log still holds.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        LoginLimiter {
            max: max as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(client: &str, email: &str) -> [String; 2] {
        [
            format!("ip:{client}"),
            format!("account:{}", email.trim().to_lowercase()),
        ]
    }

    /// True when another attempt from this client or for this account must wait.
    pub fn is_blocked(&self, client: &str, email: &str) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        Self::keys(client, email).iter().any(|k| {
            map.get_mut(k).is_some_and(|q| {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    q.pop_front();
                }
                q.len() >= self.max
            })
        })
    }

    pub fn record_failure(&self, client: &str, email: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
        for k in Self::keys(client, email) {
            let q = map.entry(k).or_default();
            q.push_back(now);
            while q.len() > self.max {
                q.pop_front();
            }
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("account:{}", email.trim().to_lowercase()));
    }
}

/// At most `max` events per key in a sliding window (the public report form, per
/// client address).
pub struct RateLimiter {
    max: usize,
    window: Duration,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max: max as usize,
            window,
            events: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`; false when the key is over its allowance.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut map = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
        let q = map.entry(key.to_string()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            return false;
        }
        q.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_blocks_by_address_and_by_account() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        assert!(!l.is_blocked("1.1.1.1", "a@x.org"));
        l.record_failure("1.1.1.1", "a@x.org");
        l.record_failure("1.1.1.1", "b@x.org");
        assert!(l.is_blocked("1.1.1.1", "c@x.org"), "same address");
        l.record_failure("2.2.2.2", "c@x.org");
        l.record_failure("3.3.3.3", "c@x.org");
        assert!(l.is_blocked("4.4.4.4", "C@x.org"), "same account");
        assert!(!l.is_blocked("4.4.4.4", "d@x.org"));
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let l = LoginLimiter::new(1, Duration::from_millis(1));
        l.record_failure("1.1.1.1", "a@x.org");
        std::thread::sleep(Duration::from_millis(5));
        assert!(!l.is_blocked("1.1.1.1", "a@x.org"));
    }
}
