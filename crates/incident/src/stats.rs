//! Statistics for any period, in the shapes the quarterly report prints: reports
//! received, incidents counted by address, reports by category per month, reporters by
//! top-level domain, scanned ports (with comprehensive scans counted apart), inquiries.
//! The counts come from [`crate::summaries`]; takedowns and referrals, a handful a
//! day, from their rows.

use std::collections::BTreeMap;

use renkei_core::Store;
use serde::Serialize;

use crate::Result;
use crate::summaries::{self, dim, key};

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
}

/// Reports received in each month (UTC) before `to`, counted as [`statistics`]
/// counts them (mails that joined a thread, reports not yet read and inquiries left
/// out), oldest first: a figure's history, to name a record.
pub async fn reports_by_month(store: &Store, to: &str) -> Result<Vec<(String, i64)>> {
    let Some(first) = earliest_report_at(store).await? else {
        return Ok(Vec::new());
    };
    let mut months: BTreeMap<String, i64> = BTreeMap::new();
    for ((month, _), n) in summaries::read(store, &first, to).await?.by_month {
        *months.entry(month).or_default() += n;
    }
    Ok(months.into_iter().filter(|(_, n)| *n > 0).collect())
}

/// The statistics of `[from, to)` (RFC 3339), added up from the day and month
/// summaries where they are up to date and from the rows where they are not
/// ([`summaries::read`]).
pub async fn statistics(store: &Store, from: &str, to: &str) -> Result<Statistics> {
    let t = summaries::read(store, from, to).await?;
    let sorted = |dim: &str| {
        let mut v: Vec<Count> = t
            .of(dim)
            .filter(|(_, n)| *n != 0)
            .map(|(key, count)| Count {
                key: key.to_string(),
                count,
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        v
    };
    let mut scanned: Vec<PortCount> = t
        .of(dim::PORT)
        .filter_map(|(port, count)| {
            Some(PortCount {
                port: port.parse().ok()?,
                count,
            })
        })
        .filter(|p| p.count != 0)
        .collect();
    scanned.sort_by(|a, b| b.count.cmp(&a.count).then(a.port.cmp(&b.port)));
    let spread = |dim: &str| {
        let h = t.histogram(dim);
        Spread {
            count: h.iter().map(|(_, n)| n).sum(),
            median_secs: summaries::percentile(&h, 50.0),
            p90_secs: summaries::percentile(&h, 90.0),
        }
    };
    let referrals = sqlx::query_as::<_, (String, i64)>(
        "SELECT o.name, COUNT(*) FROM message_referrals m JOIN organizations o ON o.id = m.org_id
         WHERE m.created_at >= $1 AND m.created_at < $2 GROUP BY o.name",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut referrals: Vec<Count> = referrals
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    referrals.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    Ok(Statistics {
        from: from.to_string(),
        to: to.to_string(),
        reports: t.get(dim::TOTAL, key::REPORTS),
        incidents: t.get(dim::TOTAL, key::INCIDENTS),
        inquiries: t.get(dim::TOTAL, key::INQUIRIES),
        by_category: sorted(dim::CATEGORY),
        by_month: t
            .by_month
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((month, category), count)| MonthCategory {
                month: month.clone(),
                category: category.clone(),
                count: *count,
            })
            .collect(),
        reporter_tlds: sorted(dim::TLD),
        scanned_ports: scanned,
        comprehensive_scans: t.get(dim::TOTAL, key::COMPREHENSIVE),
        needs_review: t.get(dim::TOTAL, key::NEEDS_REVIEW),
        by_channel: sorted(dim::CHANNEL),
        by_intake_address: sorted(dim::INTAKE),
        time_to_first_response: spread(dim::FIRST_RESPONSE),
        time_to_close: spread(dim::CLOSE),
        takedowns: crate::takedowns::counts(store, from, to).await?,
        referrals,
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
