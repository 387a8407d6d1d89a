//! Trend notes, each kept with the numbers that justify it:
//!
//! - **first seen**: scans on a port that had none in the `first_seen_days` before,
//!   and never before that;
//! - **back**: the same after a silence, for a port that had traffic once;
//! - **surge**: a day's distinct sources far above the trailing baseline
//!   (`baseline_days`), scored in baseline deviations, seen by enough sensors;
//! - **calmed**: a surged port back near its pre-surge baseline for `calm_days`;
//!   or any port whose sources held a high level for a week (no surge recorded,
//!   say, because it rose slowly) and have stayed at a third of it or less for
//!   `calm_days`.
//!
//! Distinct sources, not packets, drive surges: one noisy scanner is not a trend.
//! Days are recomputed when batches touch them (late batches from a sensor's disk
//! buffer included) and the days after, whose baselines they change.

use std::collections::{BTreeMap, HashMap};

use renkei_core::Store;
use renkei_core::row::JsonText;
use renkei_formats::packet::Proto;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use crate::stats::Period;
use crate::{Result, Settings, day_number, day_string};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trend {
    pub day: String,
    pub proto: &'static str,
    pub port: u16,
    pub kind: String,
    pub score: f64,
    pub evidence: Value,
}

#[derive(Clone, Copy, Default)]
struct DayCount {
    packets: i64,
    sources: i64,
    sensors: i64,
}

/// Computes the notes of `day` (replacing earlier ones) and returns them.
pub async fn compute_day(store: &Store, settings: &Settings, day: &str) -> Result<Vec<Trend>> {
    let cfg = &settings.observe;
    let d = day_number(day)
        .ok_or_else(|| crate::ObserveError::invalid("day", "a day such as 2007-10-01"))?;
    let look_back = cfg.first_seen_days.max(cfg.baseline_days).max(60);
    let window = Period {
        from: day_string(d - look_back),
        to: day_string(d),
    };
    let reporting: BTreeMap<i64, i64> = crate::stats::reporting(store, &window)
        .await?
        .into_iter()
        .filter_map(|(k, v)| Some((day_number(&k)?, v)))
        .collect();
    let first_day: Option<String> = sqlx::query_scalar("SELECT MIN(day) FROM sensor_buckets")
        .fetch_one(store.pool())
        .await?;
    let history = first_day
        .as_deref()
        .and_then(day_number)
        .map(|f| d - f)
        .unwrap_or(0);

    let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, proto, port, packets, sources_est, sensors FROM port_totals WHERE class = 'scan' AND day >= $1 AND day <= $2",
    )
    .bind(&window.from)
    .bind(&window.to)
    .fetch_all(store.pool())
    .await?;
    let mut ports: HashMap<(Proto, u16), BTreeMap<i64, DayCount>> = HashMap::new();
    for (day, proto, port, packets, sources, sensors) in rows {
        let (Some(proto), Some(n)) = (Proto::parse(&proto), day_number(&day)) else {
            continue;
        };
        ports.entry((proto, port as u16)).or_default().insert(
            n,
            DayCount {
                packets,
                sources,
                sensors,
            },
        );
    }
    let silence_from = d - cfg.first_seen_days;
    let seen_before: HashMap<(Proto, u16), String> = {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT proto, port, MAX(day) AS last FROM port_totals WHERE class = 'scan' AND day < $1 AND packets > 0 GROUP BY proto, port",
        )
        .bind(day_string(silence_from))
        .fetch_all(store.pool())
        .await?;
        let mut m = HashMap::new();
        for (proto, port, last) in rows {
            if let Some(p) = Proto::parse(&proto) {
                m.insert((p, port as u16), last);
            }
        }
        m
    };
    let reporting_today = reporting.get(&d).copied().unwrap_or(0);
    let mut notes = Vec::new();

    for (&(proto, port), days) in &ports {
        let Some(today) = days.get(&d).copied().filter(|c| c.packets > 0) else {
            continue;
        };
        let label = (proto.as_str(), port);
        // First seen / back after silence.
        let quiet = days.range(silence_from..d).all(|(_, c)| c.packets == 0);
        if quiet && history >= cfg.first_seen_days {
            let before = seen_before.get(&(proto, port));
            notes.push(Trend {
                day: day.to_string(),
                proto: label.0,
                port,
                kind: if before.is_some() {
                    "back"
                } else {
                    "first_seen"
                }
                .into(),
                score: today.sources as f64,
                evidence: json!({
                    "packets": today.packets, "sources": today.sources, "sensors": today.sensors,
                    "silent_days": cfg.first_seen_days, "last_seen_before": before,
                }),
            });
        }
        // Surge against the trailing baseline (days some sensor reported).
        let base: Vec<f64> = (d - cfg.baseline_days..d)
            .filter(|n| reporting.get(n).copied().unwrap_or(0) > 0)
            .map(|n| days.get(&n).map(|c| c.sources as f64).unwrap_or(0.0))
            .collect();
        // A port silent through the baseline is news of another kind (first seen,
        // back), not a surge.
        if base.len() >= 7 && base.iter().any(|&x| x > 0.0) {
            let (mean, sd) = mean_sd(&base);
            let spread = sd.max(mean.max(1.0).sqrt());
            let score = (today.sources as f64 - mean) / spread;
            let need_sensors = cfg.surge_min_sensors.min(reporting_today).max(1);
            if score >= cfg.surge_threshold
                && today.sources >= cfg.surge_min_sources
                && today.sensors >= need_sensors
            {
                notes.push(Trend {
                    day: day.to_string(),
                    proto: label.0,
                    port,
                    kind: "surge".into(),
                    score: (score * 100.0).round() / 100.0,
                    evidence: json!({
                        "sources": today.sources, "packets": today.packets, "sensors": today.sensors,
                        "reporting": reporting_today, "baseline_mean": round2(mean), "baseline_sd": round2(sd),
                        "baseline_days": base.len(), "threshold": cfg.surge_threshold,
                    }),
                });
            }
        }
    }

    // Calmed: surges in the last 60 days not yet followed by a calm note, whose
    // sources stayed near the pre-surge baseline for the last calm_days days.
    let surges: Vec<(String, String, i64, JsonText)> = sqlx::query_as(
        "SELECT s.day AS day, s.proto AS proto, s.port AS port, s.evidence AS evidence FROM port_trends s WHERE s.kind = 'surge' AND s.day >= $1 AND s.day < $2 \
         AND NOT EXISTS (SELECT 1 FROM port_trends c WHERE c.kind = 'calmed' AND c.proto = s.proto AND c.port = s.port AND c.day > s.day AND c.day < $2) \
         AND NOT EXISTS (SELECT 1 FROM port_trends l WHERE l.kind = 'surge' AND l.proto = s.proto AND l.port = s.port AND l.day > s.day AND l.day < $2) ORDER BY s.day",
    )
    .bind(day_string(d - 60))
    .bind(day)
    .fetch_all(store.pool())
    .await?;
    for (surge_day, proto, port, evidence) in surges {
        let Some(proto) = Proto::parse(&proto) else {
            continue;
        };
        let port = port as u16;
        let Some(sd_n) = day_number(&surge_day) else {
            continue;
        };
        if d - sd_n < cfg.calm_days {
            continue;
        }
        let ev: Value = evidence.read();
        let mean = ev["baseline_mean"].as_f64().unwrap_or(0.0);
        let sd = ev["baseline_sd"].as_f64().unwrap_or(0.0);
        let ceiling = mean + 2.0 * sd.max(mean.max(1.0).sqrt());
        let empty = BTreeMap::new();
        let days = ports.get(&(proto, port)).unwrap_or(&empty);
        let recent: Vec<i64> = (d - cfg.calm_days + 1..=d)
            .map(|n| days.get(&n).map(|c| c.sources).unwrap_or(0))
            .collect();
        if recent.iter().all(|&x| (x as f64) <= ceiling) {
            notes.push(Trend {
                day: day.to_string(),
                proto: proto.as_str(),
                port,
                kind: "calmed".into(),
                score: recent.last().copied().unwrap_or(0) as f64,
                evidence: json!({
                    "surge_day": surge_day, "surge_sources": ev["sources"], "baseline_mean": mean,
                    "ceiling": round2(ceiling), "last_days_sources": recent,
                }),
            });
        }
    }

    // Calmed after a sustained high level, surge or not: noted on the first day
    // the level has held low, so that recomputing a day never notes it twice.
    for (&(proto, port), days) in &ports {
        if notes
            .iter()
            .any(|n| n.kind == "calmed" && n.proto == proto.as_str() && n.port == port)
        {
            continue;
        }
        let Some((high, low)) = calmed_from_level(days, d, cfg.calm_days, cfg.surge_min_sources)
        else {
            continue;
        };
        if calmed_from_level(days, d - 1, cfg.calm_days, cfg.surge_min_sources).is_some() {
            continue;
        }
        notes.push(Trend {
            day: day.to_string(),
            proto: proto.as_str(),
            port,
            kind: "calmed".into(),
            score: round2(low),
            evidence: json!({
                "level_sources": round2(high), "level_days": LEVEL_DAYS,
                "recent_sources": round2(low), "calm_days": cfg.calm_days,
            }),
        });
    }

    notes.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(b.score.total_cmp(&a.score))
            .then(a.port.cmp(&b.port))
    });
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM port_trends WHERE day = $1")
        .bind(day)
        .execute(tx.conn())
        .await?;
    let now = store.now_str();
    for n in &notes {
        sqlx::query(
            "INSERT INTO port_trends (day, proto, port, kind, score, evidence, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&n.day)
        .bind(n.proto)
        .bind(i64::from(n.port))
        .bind(&n.kind)
        .bind(n.score)
        .bind(n.evidence.to_string())
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(notes)
}

/// The days a high level must have held before a calm is noted after it.
const LEVEL_DAYS: i64 = 7;

/// Whether day `d` ends `calm_days` days of calm after a sustained high level: the
/// `LEVEL_DAYS` before them averaged at least `min_sources` distinct sources, most
/// of those days at half that or more (a level, not a spike), and every calm day
/// at a third of it or less. Returns the level and the calm days' average.
fn calmed_from_level(
    days: &BTreeMap<i64, DayCount>,
    d: i64,
    calm_days: i64,
    min_sources: i64,
) -> Option<(f64, f64)> {
    let sources = |n: i64| days.get(&n).map(|c| c.sources as f64).unwrap_or(0.0);
    let level: Vec<f64> = (d - calm_days - LEVEL_DAYS + 1..=d - calm_days)
        .map(sources)
        .collect();
    let calm: Vec<f64> = (d - calm_days + 1..=d).map(sources).collect();
    let high = level.iter().sum::<f64>() / level.len() as f64;
    let held = level.iter().filter(|&&x| x >= high / 2.0).count() as i64;
    let low = calm.iter().sum::<f64>() / calm.len().max(1) as f64;
    (high >= min_sources as f64 && held >= LEVEL_DAYS - 2 && calm.iter().all(|&x| x <= high / 3.0))
        .then_some((high, low))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Recomputes the days batches touched since the last run, and the days after them
/// up to `today` (at most a week on), in order. Returns how many days were computed.
pub async fn run_due(store: &Store, settings: &Settings, today: &str) -> Result<usize> {
    let dirty: Vec<(String, i64)> =
        sqlx::query_as("SELECT day, marked FROM observe_dirty_days ORDER BY day")
            .fetch_all(store.pool())
            .await?;
    if dirty.is_empty() {
        return Ok(0);
    }
    let today_n = day_number(today).unwrap_or(i64::MAX);
    let mut days = std::collections::BTreeSet::new();
    for (day, _) in &dirty {
        if let Some(n) = day_number(day) {
            for k in n..=(n + 7).min(today_n.max(n)) {
                days.insert(k);
            }
        }
    }
    for n in &days {
        compute_day(store, settings, &day_string(*n)).await?;
    }
    for (day, marked) in dirty {
        store
            .write(
                sqlx::query("DELETE FROM observe_dirty_days WHERE day = $1 AND marked = $2")
                    .bind(day)
                    .bind(marked),
            )
            .await?;
    }
    Ok(days.len())
}

/// The notes of a period, optionally of one port, newest first.
pub async fn list(
    store: &Store,
    period: &Period,
    port: Option<(Proto, u16)>,
) -> Result<Vec<Trend>> {
    let mut sql = String::from(
        "SELECT day, proto, port, kind, score, evidence FROM port_trends WHERE day >= $1 AND day <= $2",
    );
    if port.is_some() {
        sql.push_str(" AND proto = $3 AND port = $4");
    }
    sql.push_str(" ORDER BY day DESC, kind, score DESC, port");
    let mut q =
        sqlx::query_as::<_, (String, String, i64, String, f64, JsonText)>(AssertSqlSafe(sql))
            .bind(&period.from)
            .bind(&period.to);
    if let Some((p, n)) = port {
        q = q.bind(p.as_str()).bind(i64::from(n));
    }
    let mut out = Vec::new();
    for (day, proto, port, kind, score, evidence) in q.fetch_all(store.pool()).await? {
        let Some(proto) = Proto::parse(&proto) else {
            continue;
        };
        out.push(Trend {
            day,
            proto: proto.as_str(),
            port: port as u16,
            kind,
            score,
            evidence: evidence.read(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod level_tests {
    use super::*;

    fn days(sources: &[i64]) -> BTreeMap<i64, DayCount> {
        sources
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                (
                    i as i64,
                    DayCount {
                        packets: s * 3,
                        sources: s,
                        sensors: 4,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_port_calms_after_a_week_at_a_high_level_without_any_surge() {
        // A slow rise to about 60 sources a day for a week, then down to 5.
        let d = days(&[10, 20, 30, 45, 60, 58, 62, 61, 59, 60, 63, 5, 4, 6, 5]);
        // Day 13 is the third calm day: the first day the calm holds.
        assert!(calmed_from_level(&d, 13, 3, 10).is_some());
        assert!(
            calmed_from_level(&d, 12, 3, 10).is_none(),
            "two calm days are not yet a calm"
        );
        let (high, low) = calmed_from_level(&d, 13, 3, 10).unwrap();
        assert!(high > 50.0 && low < 6.0, "{high} {low}");
    }

    #[test]
    fn a_single_spike_is_not_a_level_and_a_low_level_is_not_high() {
        let spike = days(&[2, 2, 2, 300, 2, 2, 2, 1, 1, 1]);
        assert!(calmed_from_level(&spike, 9, 3, 10).is_none());
        let low = days(&[6, 7, 6, 7, 6, 7, 6, 1, 1, 1]);
        assert!(calmed_from_level(&low, 9, 3, 10).is_none());
    }
}
