//! Timestamps as the store keeps them: UTC, fixed-width RFC 3339 text, so that they
//! sort as strings and read the same on SQLite and PostgreSQL.

use chrono::{DateTime, SecondsFormat, Utc};

/// How far this process's "now" is from the system clock, in microseconds.
static SHIFT_MICROS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The time every record is stamped with: the system clock, unless this process was
/// moved with [`set_process_time`].
pub fn now() -> DateTime<Utc> {
    let shift = SHIFT_MICROS.load(std::sync::atomic::Ordering::Relaxed);
    Utc::now() + chrono::Duration::microseconds(shift)
}

/// Moves this whole process's "now" to `at` (the clock keeps running from there).
/// Only `renkei demo seed` does this: it writes a past quarter through the very
/// code paths people use, so that every record carries a date in that quarter.
pub fn set_process_time(at: DateTime<Utc>) {
    let shift = (at - Utc::now()).num_microseconds().unwrap_or(0);
    SHIFT_MICROS.store(shift, std::sync::atomic::Ordering::Relaxed);
}

/// The time as rules that depend on it see it: embargoes, deadlines, scheduled
/// publication. It is the system clock shifted by an offset, so that tests can move
/// every node's idea of "now" forward without waiting.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_secs: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        let offset = self.offset_secs.load(std::sync::atomic::Ordering::Relaxed);
        now() + chrono::Duration::seconds(offset)
    }

    pub fn now_str(&self) -> String {
        format(self.now())
    }

    /// Moves this clock (and every copy of it) forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.offset_secs
            .fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn now_str() -> String {
    format(now())
}

pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_sort_as_strings_in_time_order() {
        let a = format(parse("2007-10-01T00:00:00Z").unwrap());
        let b = format(parse("2007-10-01T00:00:00.5Z").unwrap());
        let c = format(parse("2007-12-31T23:59:59+09:00").unwrap());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.len(), c.len());
    }
}
