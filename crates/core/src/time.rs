//! Timestamps as the store keeps them: UTC, fixed-width RFC 3339 text, so that they
//! sort as strings and read the same on SQLite and PostgreSQL.

use chrono::{DateTime, SecondsFormat, Utc};

/// The time as Renkei sees it: what records are stamped with and what rules that
/// depend on time (sessions, embargoes, deadlines, scheduled publication) read. It is
/// the system clock shifted by an offset, shared by every copy, so that a test can
/// move a whole server past an embargo without waiting and `renkei demo seed` can
/// write a past quarter through the very code paths people use. The store carries
/// one ([`crate::Store::clock`]); nothing else reads the system time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_micros: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        let offset = self
            .offset_micros
            .load(std::sync::atomic::Ordering::Relaxed);
        Utc::now() + chrono::Duration::microseconds(offset)
    }

    pub fn now_str(&self) -> String {
        format(self.now())
    }

    /// Moves this clock (and every copy of it) forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.offset_micros
            .fetch_add(secs * 1_000_000, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets this clock (and every copy of it) to `at`; it keeps running from there.
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = (at - Utc::now()).num_microseconds().unwrap_or(0);
        self.offset_micros
            .store(offset, std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A time as a person reads it: in the team's zone, to the minute, with the offset
/// (`2026-12-07 21:05 +09:00`).
pub fn shown(t: DateTime<Utc>, zone: chrono::FixedOffset) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

/// A stored time as a person reads it ([`shown`]); text that is not a time stays
/// as it is.
pub fn shown_str(stored: &str, zone: chrono::FixedOffset) -> String {
    parse(stored)
        .map(|t| shown(t, zone))
        .unwrap_or_else(|| stored.to_string())
}

/// The day a stored time falls on in the team's zone (`2026-12-07`).
pub fn day_str(stored: &str, zone: chrono::FixedOffset) -> String {
    parse(stored)
        .map(|t| t.with_timezone(&zone).format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| stored.chars().take(10).collect())
}

/// A time as a person types it: RFC 3339 with its offset, or a plain
/// `2024-01-15 07:22[:18]` (a `T` may stand for the space, as browsers send it),
/// taken to be in `zone`. `None` for anything else.
pub fn typed(s: &str, zone: chrono::FixedOffset) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = parse(s) {
        return Some(t);
    }
    let plain = s.replacen('T', " ", 1);
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(&plain, f).ok())
    .and_then(|t| t.and_local_timezone(zone).single())
    .map(|t| t.with_timezone(&Utc))
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
    fn times_are_shown_in_the_team_zone_with_the_offset() {
        let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        assert_eq!(
            shown_str("2026-12-06T15:05:59.123456Z", jst),
            "2026-12-07 00:05 +09:00"
        );
        assert_eq!(day_str("2026-12-06T15:05:59.123456Z", jst), "2026-12-07");
        assert_eq!(shown_str("not a time", jst), "not a time");
    }

    #[test]
    fn a_typed_time_without_an_offset_is_the_team_zone_s() {
        let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let want = parse("2024-01-14T22:22:00Z").unwrap();
        assert_eq!(typed("2024-01-15 07:22", jst), Some(want));
        assert_eq!(typed("2024-01-15T07:22", jst), Some(want));
        assert_eq!(typed("2024/01/15 07:22:00", jst), Some(want));
        assert_eq!(typed("2024-01-15T07:22:00+09:00", jst), Some(want));
        assert_eq!(typed("yesterday evening", jst), None);
        assert_eq!(typed("2024-13-40 07:22", jst), None);
    }

    #[test]
    fn stored_timestamps_sort_as_strings_in_time_order() {
        let a = format(parse("2007-10-01T00:00:00Z").unwrap());
        let b = format(parse("2007-10-01T00:00:00.5Z").unwrap());
        let c = format(parse("2007-12-31T23:59:59+09:00").unwrap());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.len(), c.len());
    }

    #[test]
    fn a_clock_set_or_advanced_moves_every_copy_and_keeps_running() {
        let clock = Clock::system();
        let copy = clock.clone();
        let at = parse("2007-10-01T00:00:00Z").unwrap();
        clock.set(at);
        let seen = copy.now();
        assert!(
            seen >= at && seen - at < chrono::Duration::seconds(5),
            "{seen}"
        );
        copy.advance(86_400);
        let later = clock.now();
        assert!(later - at >= chrono::Duration::days(1), "{later}");
        assert!(later - at < chrono::Duration::days(1) + chrono::Duration::seconds(5));
        assert!(
            Clock::system().now() - later > chrono::Duration::days(365),
            "others keep the system time"
        );
    }
}
