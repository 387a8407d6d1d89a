//! Statistics for any period, in the shapes the quarterly report prints: reports
//! received, incidents counted by address, reports by category per month, reporters by
//! top-level domain, scanned ports (with comprehensive scans counted apart), inquiries.

use std::collections::BTreeMap;

use renkei_core::Store;
use serde::Serialize;
use sqlx::Row;

use crate::Result;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MonthCategory {
    pub month: String,
    pub category: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortCount {
    pub port: u16,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Statistics {
    /// The period, [from, to), as RFC 3339 UTC.
    pub from: String,
    pub to: String,
    /// Incident reports received (inquiries and mails that joined a thread excluded).
    pub reports: i64,
    /// Incidents, one per source address.
    pub incidents: i64,
    pub inquiries: i64,
    pub by_category: Vec<Count>,
    pub by_month: Vec<MonthCategory>,
    /// Reporters by the top-level domain of their mail address ("jp", "com", …).
    pub reporter_tlds: Vec<Count>,
    /// Destination ports named in scan reports, each report counting once per port;
    /// comprehensive scans are left out here and counted below.
    pub scanned_ports: Vec<PortCount>,
    pub comprehensive_scans: i64,
    /// Reports that could not be read and wait for a person.
    pub needs_review: i64,
    /// Reports (inquiries included) by how they came: web, mail, phone, fax, API…
    pub by_channel: Vec<Count>,
    /// Mail reports by the intake address they reached.
    pub by_intake_address: Vec<Count>,
    /// How soon incidents created in the period were first answered, and closed.
    pub time_to_first_response: Spread,
    pub time_to_close: Spread,
    /// Sites asked to be taken down, found down (closed), and come back.
    pub takedowns: crate::takedowns::Counts,
    /// People pointed to referral organizations (police, consumer centres…), by
    /// organization.
    pub referrals: Vec<Count>,
}

/// How long something took across many incidents, in seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Spread {
    /// Incidents it happened to (the others are still waiting).
    pub count: i64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

impl Spread {
    /// Seconds as hours with one decimal, as the statistics print them.
    pub fn hours(secs: Option<i64>) -> Option<String> {
        secs.map(|s| format!("{:.1}", s as f64 / 3600.0))
    }

    fn of(sorted: &[i64]) -> Spread {
        Spread {
            count: sorted.len() as i64,
            median_secs: crate::clocks::percentile(sorted, 50.0),
            p90_secs: crate::clocks::percentile(sorted, 90.0),
        }
    }
}

/// Reports received in each month (UTC) before `to`, counted as [`statistics`]
/// counts them (mails that joined a thread, reports not yet read and inquiries left
/// out), oldest first: a figure's history, to name a record.
pub async fn reports_by_month(store: &Store, to: &str) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT substr(received_at, 1, 7) AS month, COUNT(*) AS n FROM reports
         WHERE received_at < $1 AND status NOT IN ('threaded', 'needs_review', 'received')
         AND exercise = 0 AND COALESCE(category, proposed_category, 'other') <> 'inquiry'
         GROUP BY substr(received_at, 1, 7) ORDER BY month",
    )
    .bind(to)
    .fetch_all(store.pool())
    .await?)
}

pub async fn statistics(store: &Store, from: &str, to: &str) -> Result<Statistics> {
    let rows = sqlx::query(
        "SELECT received_at, status, COALESCE(category, proposed_category) AS category, reporter_tld, scanned_ports, comprehensive_scan,
                channel, intake_address
         FROM reports WHERE received_at >= $1 AND received_at < $2 AND exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_month: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut tlds: BTreeMap<String, i64> = BTreeMap::new();
    let mut ports: BTreeMap<u16, i64> = BTreeMap::new();
    let mut channels: BTreeMap<String, i64> = BTreeMap::new();
    let mut intake: BTreeMap<String, i64> = BTreeMap::new();
    let (mut reports, mut inquiries, mut comprehensive, mut needs_review) = (0, 0, 0, 0);
    for r in &rows {
        let status: String = r.try_get("status")?;
        match status.as_str() {
            "threaded" => continue,
            "needs_review" | "received" => {
                needs_review += 1;
                continue;
            }
            _ => {}
        }
        let category: String = r
            .try_get::<Option<String>, _>("category")?
            .unwrap_or_else(|| "other".into());
        *channels.entry(r.try_get("channel")?).or_default() += 1;
        if let Some(a) = r.try_get::<Option<String>, _>("intake_address")? {
            *intake.entry(a).or_default() += 1;
        }
        if category == "inquiry" {
            inquiries += 1;
            continue;
        }
        reports += 1;
        let received: String = r.try_get("received_at")?;
        *by_category.entry(category.clone()).or_default() += 1;
        *by_month
            .entry((
                received.get(..7).unwrap_or("").to_string(),
                category.clone(),
            ))
            .or_default() += 1;
        let tld = r
            .try_get::<Option<String>, _>("reporter_tld")?
            .unwrap_or_else(|| "(unknown)".into());
        *tlds.entry(tld).or_default() += 1;
        if category == "scan" {
            if r.try_get::<i64, _>("comprehensive_scan")? != 0 {
                comprehensive += 1;
            } else {
                let list: Vec<u16> =
                    serde_json::from_str(&r.try_get::<String, _>("scanned_ports")?)
                        .unwrap_or_default();
                for p in list {
                    *ports.entry(p).or_default() += 1;
                }
            }
        }
    }
    let incidents: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM incidents i JOIN reports r ON r.id = i.report_id WHERE r.received_at >= $1 AND r.received_at < $2 AND i.exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    let sorted = |m: BTreeMap<String, i64>| {
        let mut v: Vec<Count> = m
            .into_iter()
            .map(|(key, count)| Count { key, count })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        v
    };
    let mut scanned: Vec<PortCount> = ports
        .into_iter()
        .map(|(port, count)| PortCount { port, count })
        .collect();
    scanned.sort_by(|a, b| b.count.cmp(&a.count).then(a.port.cmp(&b.port)));
    let times = crate::clocks::durations(store, from, to).await?;
    Ok(Statistics {
        from: from.to_string(),
        to: to.to_string(),
        reports,
        incidents,
        inquiries,
        by_category: sorted(by_category),
        by_month: by_month
            .into_iter()
            .map(|((month, category), count)| MonthCategory {
                month,
                category,
                count,
            })
            .collect(),
        reporter_tlds: sorted(tlds),
        scanned_ports: scanned,
        comprehensive_scans: comprehensive,
        needs_review,
        by_channel: sorted(channels),
        by_intake_address: sorted(intake),
        time_to_first_response: Spread::of(&times.first_response),
        time_to_close: Spread::of(&times.close),
        takedowns: crate::takedowns::counts(store, from, to).await?,
        referrals: sorted(
            sqlx::query_as::<_, (String, i64)>(
                "SELECT o.name, COUNT(*) FROM message_referrals m JOIN organizations o ON o.id = m.org_id
                 WHERE m.created_at >= $1 AND m.created_at < $2 GROUP BY o.name",
            )
            .bind(from)
            .bind(to)
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect(),
        ),
    })
}

/// When the latest report came in, if any: pages that show a period open on the one
/// that has data.
pub async fn latest_report_at(store: &Store) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT MAX(received_at) FROM reports")
        .fetch_one(store.pool())
        .await?)
}

/// When the first report came in, if any: how far back a period picker reaches.
pub async fn earliest_report_at(store: &Store) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT MIN(received_at) FROM reports")
        .fetch_one(store.pool())
        .await?)
}
