//! Takedowns: a phishing or malware site the team asked to have taken down, tracked
//! until it is gone (the seeds count 攻撃関連サイト等の閉鎖). A takedown is
//! *requested*, then *down* at the first check that finds the site gone, then
//! *verified* when a later check finds it still gone. Every check is kept with who
//! made it and when. A site that comes back (a check finds it up once it was down)
//! is requested again and reopens its incident.
//!
//! Checks are recorded by coordinators (or by a script through the API): Renkei does
//! not visit the sites itself, since a request from the team's address tells the
//! criminals they have been found.

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use serde::Serialize;
use serde_json::json;

use crate::incidents::{self, State};
use crate::{IncidentError, Result};

/// Where a takedown stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Requested,
    Down,
    Verified,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Requested, Stage::Down, Stage::Verified];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Requested => "requested",
            Stage::Down => "down",
            Stage::Verified => "verified",
        }
    }

    pub fn parse(s: &str) -> Result<Stage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| IncidentError::invalid("stage", format!("unknown stage {s:?}")))
    }

    /// Where a check leaves a takedown: gone moves it on, up brings it back to the
    /// start (and says it came back, when it had been down).
    pub fn after(self, up: bool) -> (Stage, bool) {
        match (self, up) {
            (Stage::Requested, false) => (Stage::Down, false),
            (Stage::Down | Stage::Verified, false) => (Stage::Verified, false),
            (Stage::Requested, true) => (Stage::Requested, false),
            (Stage::Down | Stage::Verified, true) => (Stage::Requested, true),
        }
    }
}

impl TryFrom<String> for Stage {
    type Error = IncidentError;
    fn try_from(s: String) -> Result<Stage> {
        Stage::parse(&s)
    }
}

renkei_core::text_column!(Stage);

/// One check of a site.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Check {
    pub id: i64,
    #[serde(skip)]
    pub takedown_id: i64,
    pub checked_at: String,
    pub checked_by: String,
    /// "up" or "down".
    pub result: String,
    pub note: String,
}

/// A site the team asked to have taken down.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Takedown {
    pub id: i64,
    pub incident_id: i64,
    pub url: String,
    pub stage: Stage,
    pub requested_at: String,
    pub requested_by: String,
    pub down_at: Option<String>,
    pub verified_at: Option<String>,
    /// How many times the site came back after it was down.
    pub returns: i64,
    #[sqlx(skip)]
    pub checks: Vec<Check>,
}

const COLUMNS: &str =
    "id, incident_id, url, stage, requested_at, requested_by, down_at, verified_at, returns";

/// A site address as the team writes it: http(s), a host, no spaces or controls.
fn site(url: &str) -> Result<String> {
    let url = url.trim();
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(IncidentError::invalid(
            "url",
            "the site's address, starting with http:// or https://",
        ));
    }
    Ok(url.to_string())
}

pub async fn get(store: &Store, id: i64) -> Result<Takedown> {
    let t: Takedown = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM takedowns WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(IncidentError::NotFound("takedown"))?;
    Ok(with_checks(store, vec![t]).await?.remove(0))
}

/// The takedowns of some incidents, with their checks, oldest first.
pub async fn of_incidents(store: &Store, incidents: &[i64]) -> Result<Vec<Takedown>> {
    let mut out = Vec::new();
    for chunk in incidents.chunks(200) {
        let mut q = sqlx::query_as::<_, Takedown>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM takedowns WHERE incident_id IN ({}) ORDER BY id",
            renkei_core::store::placeholders(1, chunk.len())
        )));
        for i in chunk {
            q = q.bind(i);
        }
        out.extend(q.fetch_all(store.pool()).await?);
    }
    out.sort_by_key(|t| t.id);
    with_checks(store, out).await
}

/// Fills in the checks of takedowns, read together rather than one query each.
async fn with_checks(store: &Store, mut takedowns: Vec<Takedown>) -> Result<Vec<Takedown>> {
    let ids: Vec<i64> = takedowns.iter().map(|t| t.id).collect();
    for chunk in ids.chunks(200) {
        let mut q = sqlx::query_as::<_, Check>(sqlx::AssertSqlSafe(format!(
            "SELECT id, takedown_id, checked_at, checked_by, result, note FROM takedown_checks WHERE takedown_id IN ({}) ORDER BY id",
            renkei_core::store::placeholders(1, chunk.len())
        )));
        for i in chunk {
            q = q.bind(i);
        }
        for c in q.fetch_all(store.pool()).await? {
            if let Some(t) = takedowns.iter_mut().find(|t| t.id == c.takedown_id) {
                t.checks.push(c);
            }
        }
    }
    Ok(takedowns)
}

/// Records that the team asked for a site to be taken down.
pub async fn request(store: &Store, actor: &Actor, incident: i64, url: &str) -> Result<Takedown> {
    let url = site(url)?;
    incidents::get(store, incident).await?;
    let mut tx = store.begin().await?;
    let now = tx.now_str();
    let open: Option<i64> =
        sqlx::query_scalar("SELECT id FROM takedowns WHERE incident_id = $1 AND url = $2")
            .bind(incident)
            .bind(&url)
            .fetch_optional(tx.conn())
            .await?;
    if let Some(id) = open {
        return Err(IncidentError::invalid(
            "url",
            format!("takedown #{id} already tracks this site for the incident"),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO takedowns (incident_id, url, stage, requested_at, requested_by, returns, updated_at)
         VALUES ($1, $2, 'requested', $3, $4, 0, $3) RETURNING id",
    )
    .bind(incident)
    .bind(&url)
    .bind(&now)
    .bind(&actor.label)
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "incident.takedown_requested",
            object_type: "incident",
            object_id: incident.to_string(),
            changes: json!({"takedown": id, "url": url}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await
}

/// Records a check of the site: `up` (still there, or back) or not. Moves the
/// takedown on, and a site that came back reopens its incident.
pub async fn check(
    store: &Store,
    actor: &Actor,
    id: i64,
    up: bool,
    note: &str,
) -> Result<Takedown> {
    let note = note.trim();
    if note.chars().count() > 2000 {
        return Err(IncidentError::invalid("note", "at most 2,000 characters"));
    }
    let before = get(store, id).await?;
    let (stage, back) = before.stage.after(up);
    let incident = incidents::get(store, before.incident_id).await?;
    let mut tx = store.begin().await?;
    let now = tx.now_str();
    sqlx::query(
        "INSERT INTO takedown_checks (takedown_id, checked_at, checked_by, result, note, back) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&now)
    .bind(&actor.label)
    .bind(if up { "up" } else { "down" })
    .bind(note)
    .bind(i64::from(back))
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE takedowns SET stage = $1, updated_at = $2,
            down_at = CASE WHEN $1 = 'requested' THEN NULL WHEN down_at IS NULL THEN $2 ELSE down_at END,
            verified_at = CASE WHEN $1 = 'verified' THEN COALESCE(verified_at, $2) ELSE NULL END,
            returns = returns + $3
         WHERE id = $4",
    )
    .bind(stage.as_str())
    .bind(&now)
    .bind(i64::from(back))
    .bind(id)
    .execute(tx.conn())
    .await?;
    let mut events = vec![Event {
        action: if back {
            "incident.takedown_back"
        } else {
            "incident.takedown_checked"
        },
        object_type: "incident",
        object_id: before.incident_id.to_string(),
        changes: json!({
            "takedown": id,
            "url": before.url,
            "result": if up { "up" } else { "down" },
            "stage": {"old": before.stage.as_str(), "new": stage.as_str()},
            "note": note,
        }),
    }];
    // The site is back: the work is not done, whatever the incident said.
    if back && matches!(incident.state, State::Resolved | State::Closed) {
        sqlx::query("UPDATE incidents SET state = 'coordinating', updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(before.incident_id)
            .execute(tx.conn())
            .await?;
        events.push(Event {
            action: "incident.state_changed",
            object_type: "incident",
            object_id: before.incident_id.to_string(),
            changes: json!({"state": {"old": incident.state.as_str(), "new": "coordinating"}, "because": {"takedown": id}}),
        });
    }
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    get(store, id).await
}

/// Takedowns in a period, as the seeds count them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Requested in the period.
    pub requested: i64,
    /// Found down in the period (the sites closed).
    pub down: i64,
    /// Came back in the period.
    pub returned: i64,
}

pub async fn counts(store: &Store, from: &str, to: &str) -> Result<Counts> {
    let requested: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM takedowns t JOIN incidents i ON i.id = t.incident_id
         WHERE t.requested_at >= $1 AND t.requested_at < $2 AND i.exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    // A site counts once as closed, at the first check that found it gone.
    let down: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT takedown_id, MIN(checked_at) AS first FROM takedown_checks WHERE result = 'down' GROUP BY takedown_id) f
         JOIN takedowns t ON t.id = f.takedown_id JOIN incidents i ON i.id = t.incident_id
         WHERE f.first >= $1 AND f.first < $2 AND i.exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    let returned: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM takedown_checks c JOIN takedowns t ON t.id = c.takedown_id JOIN incidents i ON i.id = t.incident_id
         WHERE c.back = 1 AND c.checked_at >= $1 AND c.checked_at < $2 AND i.exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    Ok(Counts {
        requested,
        down,
        returned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_goes_down_is_verified_and_a_return_starts_it_again() {
        assert_eq!(Stage::Requested.after(false), (Stage::Down, false));
        assert_eq!(Stage::Down.after(false), (Stage::Verified, false));
        assert_eq!(Stage::Verified.after(false), (Stage::Verified, false));
        assert_eq!(Stage::Requested.after(true), (Stage::Requested, false));
        assert_eq!(Stage::Down.after(true), (Stage::Requested, true));
        assert_eq!(Stage::Verified.after(true), (Stage::Requested, true));
    }

    #[test]
    fn only_web_addresses_are_tracked() {
        assert!(site("https://phish.example/login").is_ok());
        assert!(site("http://198.51.100.7/a").is_ok());
        for bad in [
            "phish.example",
            "https://",
            "javascript:alert(1)",
            "https://a b",
            "https://a\r\nb",
        ] {
            assert!(site(bad).is_err(), "{bad}");
        }
    }
}
