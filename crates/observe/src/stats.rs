//! What the public and the coordinators read: ports ranked by the per-sensor
//! average over a period, per-day series for chosen ports (packets per sensor,
//! distinct sources, sensors that saw it), the ICMP types, and the coordinators'
//! annotations. The per-sensor average of a day is the day's total divided by the
//! sensors that reported that day, so a dead sensor does not drag it down.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use renkei_core::Store;
use renkei_core::access::Principal;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::row::JsonText;
use renkei_formats::packet::{Class, Proto};
use serde::Serialize;
use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::{ObserveError, Result, day_number, day_string};

/// A span of observation days, both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: String,
    pub to: String,
}

impl Period {
    /// `2007Q4`, `2007`, `2007-10` or `2007-10-01..2007-12-31`.
    pub fn parse(s: &str) -> Result<Period> {
        let s = s.trim();
        let bad = || {
            ObserveError::invalid(
                "period",
                format!("{s:?}: expected 2007Q4, 2007, 2007-10 or 2007-10-01..2007-12-31"),
            )
        };
        if let Some((a, b)) = s.split_once("..") {
            return Period::between(a, b);
        }
        if let Some((y, q)) = s.split_once(['Q', 'q']) {
            let (y, q): (i32, u32) = (y.parse().map_err(|_| bad())?, q.parse().map_err(|_| bad())?);
            if !(1..=4).contains(&q) {
                return Err(bad());
            }
            let from = NaiveDate::from_ymd_opt(y, (q - 1) * 3 + 1, 1).ok_or_else(bad)?;
            let to = if q == 4 {
                NaiveDate::from_ymd_opt(y, 12, 31)
            } else {
                NaiveDate::from_ymd_opt(y, q * 3 + 1, 1).and_then(|d| d.pred_opt())
            }
            .ok_or_else(bad)?;
            return Ok(Period::of(from, to));
        }
        if let Some((y, m)) = s.split_once('-') {
            let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            let from = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
            let to = if m == 12 {
                NaiveDate::from_ymd_opt(y, 12, 31)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1).and_then(|d| d.pred_opt())
            }
            .ok_or_else(bad)?;
            return Ok(Period::of(from, to));
        }
        let y: i32 = s.parse().map_err(|_| bad())?;
        let from = NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(bad)?;
        let to = NaiveDate::from_ymd_opt(y, 12, 31).ok_or_else(bad)?;
        Ok(Period::of(from, to))
    }

    pub fn between(from: &str, to: &str) -> Result<Period> {
        let (Some(a), Some(b)) = (day_number(from), day_number(to)) else {
            return Err(ObserveError::invalid(
                "period",
                "from and to are days such as 2007-10-01",
            ));
        };
        if b < a {
            return Err(ObserveError::invalid("period", "to is before from"));
        }
        if b - a > 3 * 366 {
            return Err(ObserveError::invalid(
                "period",
                "at most three years at once",
            ));
        }
        Ok(Period {
            from: day_string(a),
            to: day_string(b),
        })
    }

    fn of(from: NaiveDate, to: NaiveDate) -> Period {
        Period {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
        }
    }

    /// The quarter holding `day`.
    pub fn quarter_of(day: NaiveDate) -> Period {
        let q = (day.month() - 1) / 3 + 1;
        Period::parse(&format!("{}Q{q}", day.year())).unwrap_or_else(|_| Period::of(day, day))
    }

    pub fn days(&self) -> Vec<String> {
        let (a, b) = (
            day_number(&self.from).unwrap_or(0),
            day_number(&self.to).unwrap_or(0),
        );
        (a..=b).map(day_string).collect()
    }
}

/// The latest day any sensor reported traffic, if any: pages open on a period that
/// has data.
pub async fn latest_day(store: &Store) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT MAX(day) FROM port_totals")
        .fetch_one(store.pool())
        .await?)
}

/// Sensors that reported, per day of the period.
pub async fn reporting(store: &Store, period: &Period) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT day, COUNT(DISTINCT sensor_id) AS n FROM sensor_buckets WHERE day >= $1 AND day <= $2 GROUP BY day",
    )
    .bind(&period.from)
    .bind(&period.to)
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().collect())
}

/// A port's place in a ranking.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortRank {
    pub rank: usize,
    pub proto: &'static str,
    pub port: u16,
    /// Σ over the period's days of (packets that day / sensors reporting that day).
    pub per_sensor: f64,
    pub packets: i64,
}

/// Which protocols a ranking covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// TCP and UDP destination ports.
    Ports,
    Icmp,
}

/// Ranks ports for `class` over the period by per-sensor average; `ranks` are
/// 1-based and inclusive (1..=5, 6..=10).
pub async fn top(
    store: &Store,
    period: &Period,
    class: Class,
    family: Family,
    ranks: std::ops::RangeInclusive<usize>,
) -> Result<Vec<PortRank>> {
    let protos = match family {
        Family::Ports => "'tcp', 'udp'",
        Family::Icmp => "'icmp', 'icmpv6'",
    };
    let limit = *ranks.end() as i64;
    let sql = format!(
        "SELECT t.proto AS proto, t.port AS port, SUM(CAST(t.packets AS DOUBLE PRECISION) / d.n) AS score, CAST(SUM(t.packets) AS BIGINT) AS packets \
         FROM port_totals t JOIN (SELECT day, COUNT(DISTINCT sensor_id) AS n FROM sensor_buckets WHERE day >= $2 AND day <= $3 GROUP BY day) d ON d.day = t.day \
         WHERE t.class = $1 AND t.day >= $2 AND t.day <= $3 AND t.proto IN ({protos}) \
         GROUP BY t.proto, t.port ORDER BY score DESC, t.proto, t.port LIMIT $4"
    );
    let rows: Vec<(String, i64, f64, i64)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(class.as_str())
        .bind(&period.from)
        .bind(&period.to)
        .bind(limit)
        .fetch_all(store.pool())
        .await?;
    let mut out = Vec::new();
    for (i, (proto, port, per_sensor, packets)) in rows.into_iter().enumerate() {
        let rank = i + 1;
        if !ranks.contains(&rank) {
            continue;
        }
        let Some(proto) = Proto::parse(&proto) else {
            continue;
        };
        out.push(PortRank {
            rank,
            proto: proto.as_str(),
            port: port as u16,
            per_sensor,
            packets,
        });
    }
    Ok(out)
}

/// One port's days.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortSeries {
    pub proto: &'static str,
    pub port: u16,
    pub class: &'static str,
    pub label: String,
    /// Per day of the period: packets per reporting sensor.
    pub per_sensor: Vec<f64>,
    pub packets: Vec<i64>,
    /// Distinct sources across all sensors that day.
    pub sources: Vec<i64>,
    /// Sensors that saw the port that day.
    pub sensors: Vec<i64>,
}

/// Several ports' series over one period, with the sensors reporting each day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chart {
    pub period: Period,
    pub class: &'static str,
    pub days: Vec<String>,
    pub reporting: Vec<i64>,
    pub series: Vec<PortSeries>,
}

/// A port as tables, charts and legends print it: `TCP 80 (http)`, with the IANA
/// registry's service name when it has one.
pub fn label(proto: Proto, port: u16) -> String {
    use renkei_formats::services::{Transport, port_with_name};
    match proto {
        Proto::Tcp => format!("TCP {}", port_with_name(Transport::Tcp, port)),
        Proto::Udp => format!("UDP {}", port_with_name(Transport::Udp, port)),
        Proto::Icmp => format!("ICMP type {port}"),
        Proto::Icmpv6 => format!("ICMPv6 type {port}"),
    }
}

/// Per-day series of the given ports for `class`.
pub async fn chart(
    store: &Store,
    period: &Period,
    class: Class,
    ports: &[(Proto, u16)],
) -> Result<Chart> {
    let days = period.days();
    let index: BTreeMap<&str, usize> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let reporting_by_day = reporting(store, period).await?;
    let reporting: Vec<i64> = days
        .iter()
        .map(|d| reporting_by_day.get(d).copied().unwrap_or(0))
        .collect();
    let mut series = Vec::new();
    for &(proto, port) in ports {
        let mut s = PortSeries {
            proto: proto.as_str(),
            port,
            class: class.as_str(),
            label: label(proto, port),
            per_sensor: vec![0.0; days.len()],
            packets: vec![0; days.len()],
            sources: vec![0; days.len()],
            sensors: vec![0; days.len()],
        };
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT day, packets, sources_est, sensors FROM port_totals WHERE proto = $1 AND port = $2 AND class = $3 AND day >= $4 AND day <= $5",
        )
        .bind(proto.as_str())
        .bind(i64::from(port))
        .bind(class.as_str())
        .bind(&period.from)
        .bind(&period.to)
        .fetch_all(store.pool())
        .await?;
        for (day, packets, sources, sensors) in rows {
            let Some(&i) = index.get(day.as_str()) else {
                continue;
            };
            s.packets[i] = packets;
            s.sources[i] = sources;
            s.sensors[i] = sensors;
            if reporting[i] > 0 {
                s.per_sensor[i] = packets as f64 / reporting[i] as f64;
            }
        }
        series.push(s);
    }
    Ok(Chart {
        period: period.clone(),
        class: class.as_str(),
        days,
        reporting,
        series,
    })
}

/// The ports ranked `ranks` for `class` over a period, with their series: the
/// top 1-5 and 6-10 graphs of the pages and the quarterly report.
pub async fn top_chart(
    store: &Store,
    period: &Period,
    class: Class,
    ranks: std::ops::RangeInclusive<usize>,
) -> Result<(Vec<PortRank>, Chart)> {
    let ranked = top(store, period, class, Family::Ports, ranks).await?;
    let ports: Vec<(Proto, u16)> = ranked
        .iter()
        .filter_map(|r| Some((Proto::parse(r.proto)?, r.port)))
        .collect();
    let chart = chart(store, period, class, &ports).await?;
    Ok((ranked, chart))
}

/// The five most frequent ICMP types for a period, per day, over every class: the
/// ICMP graph is what arrives, echo requests and errors alike.
pub async fn icmp_chart(store: &Store, period: &Period) -> Result<Chart> {
    let mut all: Vec<(Proto, u16)> = Vec::new();
    for class in Class::ALL {
        for r in top(store, period, class, Family::Icmp, 1..=5).await? {
            if let Some(p) = Proto::parse(r.proto)
                && !all.contains(&(p, r.port))
            {
                all.push((p, r.port));
            }
        }
    }
    let mut merged = chart(store, period, Class::Scan, &all).await?;
    for class in [Class::Backscatter, Class::Other] {
        let more = chart(store, period, class, &all).await?;
        for (s, m) in merged.series.iter_mut().zip(more.series) {
            for i in 0..s.packets.len() {
                s.packets[i] += m.packets[i];
                s.per_sensor[i] += m.per_sensor[i];
                s.sources[i] = s.sources[i].max(m.sources[i]);
                s.sensors[i] = s.sensors[i].max(m.sensors[i]);
            }
        }
    }
    merged.class = "all";
    merged
        .series
        .sort_by_key(|s| std::cmp::Reverse(s.packets.iter().sum::<i64>()));
    merged.series.truncate(5);
    Ok(merged)
}

impl Chart {
    /// One row per day; per series its per-sensor average, packets and sources.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("day,reporting_sensors");
        for s in &self.series {
            let l = format!("{}_{}", s.proto, s.port);
            out.push_str(&format!(
                ",{l}_per_sensor,{l}_packets,{l}_sources,{l}_sensors"
            ));
        }
        out.push('\n');
        for (i, d) in self.days.iter().enumerate() {
            out.push_str(&format!("{d},{}", self.reporting[i]));
            for s in &self.series {
                out.push_str(&format!(
                    ",{:.2},{},{},{}",
                    s.per_sensor[i], s.packets[i], s.sources[i], s.sensors[i]
                ));
            }
            out.push('\n');
        }
        out
    }
}

/// A coordinator's note on a port from a day on, linking what explains the traffic.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Annotation {
    pub id: i64,
    pub proto: &'static str,
    pub port: u16,
    pub day: String,
    pub text_ja: String,
    pub text_en: String,
    pub note_id: Option<String>,
    pub cve: Option<String>,
    /// The alert that explains the traffic, by its number.
    pub alert: Option<String>,
    pub created_at: String,
}

pub struct NewAnnotation {
    pub proto: Proto,
    pub port: u16,
    pub day: String,
    pub text_ja: String,
    pub text_en: String,
    pub note_id: Option<String>,
    pub cve: Option<String>,
    pub alert: Option<String>,
}

pub async fn annotate(
    store: &Store,
    principal: &Principal,
    new: NewAnnotation,
) -> Result<Annotation> {
    let user = principal
        .user()
        .filter(|u| u.role.is_staff())
        .ok_or(ObserveError::Core(renkei_core::CoreError::Forbidden))?;
    let day = day_number(&new.day)
        .map(day_string)
        .ok_or_else(|| ObserveError::invalid("day", "a day such as 2007-08-20"))?;
    let (ja, en) = (
        new.text_ja.trim().to_string(),
        new.text_en.trim().to_string(),
    );
    if ja.is_empty() && en.is_empty() || ja.chars().count() > 2000 || en.chars().count() > 2000 {
        return Err(ObserveError::invalid(
            "text",
            "give the annotation in Japanese or English, up to 2,000 characters",
        ));
    }
    let cve = new
        .cve
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty());
    if let Some(c) = &cve
        && !renkei_formats::cve5::valid_cve_id(c)
    {
        return Err(ObserveError::invalid(
            "cve",
            format!("{c:?} is not a CVE ID such as CVE-2007-2967"),
        ));
    }
    let note_id = new
        .note_id
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note_id.as_ref().is_some_and(|n| n.len() > 40) {
        return Err(ObserveError::invalid("note_id", "at most 40 characters"));
    }
    let alert = new
        .alert
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if alert
        .as_ref()
        .is_some_and(|n| n.len() > 40 || n.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(ObserveError::invalid(
            "alert",
            "an alert's number, at most 40 characters without spaces",
        ));
    }
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO port_annotations (proto, port, day, text_ja, text_en, note_id, cve, author_id, created_at, alert) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(new.proto.as_str())
    .bind(i64::from(new.port))
    .bind(&day)
    .bind(&ja)
    .bind(&en)
    .bind(&note_id)
    .bind(&cve)
    .bind(user.id)
    .bind(store.now_str())
    .bind(&alert)
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "port.annotate",
            object_type: "port",
            object_id: format!("{}/{}", new.proto.as_str(), new.port),
            changes: json!({"annotation": id, "day": day, "note_id": note_id, "cve": cve, "alert": alert}),
        },
    )
    .await?;
    tx.commit().await?;
    annotations(
        store,
        Some((new.proto, new.port)),
        None,
        &renkei_core::access::ShowAll,
    )
    .await?
    .into_iter()
    .find(|a| a.id == id)
    .ok_or(ObserveError::NotFound("annotation"))
}

/// Annotations of one port (or all), within a period if given, with the note IDs
/// and CVEs that `disclosure` allows (the rest read as none).
pub async fn annotations(
    store: &Store,
    port: Option<(Proto, u16)>,
    period: Option<&Period>,
    disclosure: &dyn renkei_core::access::NoteDisclosure,
) -> Result<Vec<Annotation>> {
    let (from, to) = period
        .map(|p| (p.from.clone(), p.to.clone()))
        .unwrap_or_else(|| ("0000-00-00".into(), "9999-99-99".into()));
    /// A note as stored: the protocol is checked as it is read.
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        proto: String,
        port: i64,
        day: String,
        text_ja: String,
        text_en: String,
        note_id: Option<String>,
        cve: Option<String>,
        alert: Option<String>,
        created_at: String,
    }
    let rows: Vec<Stored> = match port {
        Some((proto, port)) => sqlx::query_as(
            "SELECT id, proto, port, day, text_ja, text_en, note_id, cve, alert, created_at FROM port_annotations WHERE proto = $1 AND port = $2 AND day >= $3 AND day <= $4 ORDER BY day, id",
        )
        .bind(proto.as_str())
        .bind(i64::from(port))
        .bind(&from)
        .bind(&to)
        .fetch_all(store.pool())
        .await?,
        None => sqlx::query_as(
            "SELECT id, proto, port, day, text_ja, text_en, note_id, cve, alert, created_at FROM port_annotations WHERE day >= $1 AND day <= $2 ORDER BY day, id",
        )
        .bind(&from)
        .bind(&to)
        .fetch_all(store.pool())
        .await?,
    };
    let mut out = Vec::new();
    for r in rows {
        let Some(proto) = Proto::parse(&r.proto) else {
            continue;
        };
        out.push(Annotation {
            id: r.id,
            proto: proto.as_str(),
            port: r.port as u16,
            day: r.day,
            text_ja: r.text_ja,
            text_en: r.text_en,
            note_id: r.note_id.filter(|k| disclosure.note_key(k)),
            cve: r.cve.filter(|c| disclosure.cve(c)),
            alert: r.alert.filter(|n| disclosure.alert(n)),
            created_at: r.created_at,
        });
    }
    Ok(out)
}

/// The heaviest sources of a port on a day, across sensors (staff only: these are
/// addresses, and where they hit shows where the sensors are).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SensorPortDay {
    pub sensor: String,
    pub packets: i64,
    pub sources: u64,
    pub top: Vec<crate::top::TopSource>,
}

pub async fn port_day_by_sensor(
    store: &Store,
    proto: Proto,
    port: u16,
    class: Class,
    day: &str,
) -> Result<Vec<SensorPortDay>> {
    let rows: Vec<(String, i64, Vec<u8>, JsonText)> = sqlx::query_as(
        "SELECT s.name AS name, p.packets AS packets, p.sources AS sources, p.top AS top FROM port_days p JOIN sensors s ON s.id = p.sensor_id \
         WHERE p.proto = $1 AND p.port = $2 AND p.class = $3 AND p.day = $4 ORDER BY p.packets DESC, s.name",
    )
    .bind(proto.as_str())
    .bind(i64::from(port))
    .bind(class.as_str())
    .bind(day)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(sensor, packets, sources, top)| SensorPortDay {
            sensor,
            packets,
            sources: crate::sketch::Sketch::from_bytes(&sources)
                .map(|s| s.estimate())
                .unwrap_or(0),
            top: top.read(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_as_quarters_years_months_and_ranges() {
        assert_eq!(
            Period::parse("2007Q4").unwrap(),
            Period {
                from: "2007-10-01".into(),
                to: "2007-12-31".into()
            }
        );
        assert_eq!(Period::parse("2008Q1").unwrap().to, "2008-03-31");
        assert_eq!(Period::parse("2007").unwrap().to, "2007-12-31");
        assert_eq!(Period::parse("2008-02").unwrap().to, "2008-02-29");
        assert_eq!(
            Period::parse("2006-11-01..2007-12-31")
                .unwrap()
                .days()
                .len(),
            426
        );
        assert!(Period::parse("2007Q5").is_err());
        assert!(Period::parse("2007-12-31..2007-01-01").is_err());
        assert!(Period::parse("yesterday").is_err());
    }
}
