//! The audit log: who did what to which object, and what changed.
//!
//! Rows are written inside the same transaction as the change they describe, so a
//! change without its audit row cannot be committed. Each row's hash covers its
//! content and the previous row's hash; [`verify`] walks the chain and names the first
//! row that no longer fits. The database additionally refuses UPDATE and DELETE on the
//! table, so tampering needs someone who can drop triggers, and still shows.
//!
//! Someone who can write the database file can still cut rows off the end (and wind
//! the head back), or rewrite a row and every hash after it; the chain alone cannot
//! tell. [`Checkpoint`]s close that: the head's row and hash, signed with the team's
//! key and kept outside the database (a file, a mail, the system log).
//! [`check_against`] then finds both rewrites.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use crate::store::{Dialect, Tx};
use crate::{Result, Store};

/// Who acted: a user, or the system itself (a command, a scheduler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub label: String,
}

impl Actor {
    pub fn user(id: i64, email: &str) -> Actor {
        Actor {
            user_id: Some(id),
            label: email.to_string(),
        }
    }

    pub fn system(what: &str) -> Actor {
        Actor {
            user_id: None,
            label: format!("system:{what}"),
        }
    }

    pub fn anonymous(from: &str) -> Actor {
        Actor {
            user_id: None,
            label: format!("anonymous:{from}"),
        }
    }
}

/// One audited event, as it is handed to [`record`].
pub struct Event<'a> {
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    /// What changed, as JSON: new values, or `{"field": [old, new]}`.
    pub changes: Value,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    #[sqlx(try_from = "Changes")]
    pub changes: Value,
    pub hash: String,
}

/// A row's changes as stored: JSON, or (from before they were JSON) plain text,
/// which reads as a JSON string.
struct Changes(String);

impl From<String> for Changes {
    fn from(s: String) -> Changes {
        Changes(s)
    }
}

crate::text_column!(Changes);

impl From<Changes> for Value {
    fn from(c: Changes) -> Value {
        serde_json::from_str(&c.0).unwrap_or(Value::String(c.0))
    }
}

/// Serializes appenders across nodes on PostgreSQL; any constant works as long as
/// it is only used here.
/// "RENKEI" in ASCII.
const AUDIT_LOCK_KEY: i64 = 0x5245_4e4b_4549;

/// The fields a row's hash covers.
struct Chained<'a> {
    prev_hash: &'a str,
    seq: i64,
    at: &'a str,
    actor_user_id: Option<i64>,
    actor: &'a str,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    changes: &'a str,
}

impl Chained<'_> {
    fn hash(&self) -> String {
        // A JSON array is an unambiguous encoding of the fields: no separator games.
        let canonical = serde_json::json!([
            self.prev_hash,
            self.seq,
            self.at,
            self.actor_user_id,
            self.actor,
            self.action,
            self.object_type,
            self.object_id,
            self.changes
        ])
        .to_string();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// Appends one event inside the caller's transaction and returns its sequence number.
pub async fn record(tx: &mut Tx, actor: &Actor, event: Event<'_>) -> Result<i64> {
    record_many(tx, actor, vec![event]).await
}

/// Appends several events in order, in few statements: one read of the chain's head,
/// multi-row inserts, one update of the head. Returns the last sequence number.
pub async fn record_many(tx: &mut Tx, actor: &Actor, events: Vec<Event<'_>>) -> Result<i64> {
    if tx.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK_KEY)
            .execute(tx.conn())
            .await?;
    }
    let (mut seq, mut prev_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(tx.conn())
            .await?;
    if events.is_empty() {
        return Ok(seq);
    }
    let at = tx.now_str();
    // (seq, changes, prev_hash, hash) per event; the rest is shared or borrowed.
    let mut rows: Vec<(i64, String, String, String)> = Vec::with_capacity(events.len());
    for event in &events {
        seq += 1;
        let changes = event.changes.to_string();
        let hash = Chained {
            prev_hash: &prev_hash,
            seq,
            at: &at,
            actor_user_id: actor.user_id,
            actor: &actor.label,
            action: event.action,
            object_type: event.object_type,
            object_id: &event.object_id,
            changes: &changes,
        }
        .hash();
        rows.push((
            seq,
            changes,
            std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        ));
    }
    // One JSON parameter a thousand rows, not ten values a row: SQLite finds each
    // `$N` by a linear search of the statement's parameter names, so wide
    // statements cost quadratic time, and narrow ones a round trip each.
    use crate::store::JsonCol::{Int, Text};
    const COLUMNS: [(&str, crate::store::JsonCol); 7] = [
        ("seq", Int),
        ("action", Text),
        ("object_type", Text),
        ("object_id", Text),
        ("changes", Text),
        ("prev_hash", Text),
        ("hash", Text),
    ];
    let sql = format!(
        "INSERT INTO audit_log (seq, at, actor_user_id, actor, action, object_type, object_id, changes, prev_hash, hash)
         SELECT j.seq, $2, CAST($3 AS BIGINT), $4, j.action, j.object_type, j.object_id, j.changes, j.prev_hash, j.hash FROM {}",
        crate::store::json_rows(tx.dialect(), 1, &COLUMNS)
    );
    for (chunk_events, chunk_rows) in events.chunks(1000).zip(rows.chunks(1000)) {
        let json: Vec<serde_json::Value> = chunk_events
            .iter()
            .zip(chunk_rows)
            .map(|(event, (seq, changes, prev, hash))| {
                serde_json::json!({
                    "seq": seq, "action": event.action, "object_type": event.object_type,
                    "object_id": event.object_id, "changes": changes, "prev_hash": prev, "hash": hash,
                })
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(serde_json::Value::Array(json).to_string())
            .bind(&at)
            .bind(actor.user_id)
            .bind(&actor.label)
            .execute(tx.conn())
            .await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev_hash)
        .execute(tx.conn())
        .await?;
    Ok(seq)
}

/// Records an event that is itself the whole change (a failed login, say).
pub async fn record_alone(store: &Store, actor: &Actor, event: Event<'_>) -> Result<i64> {
    let mut tx = store.begin().await?;
    let seq = record(&mut tx, actor, event).await?;
    tx.commit().await?;
    Ok(seq)
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    Intact { rows: i64, head: String },
    Broken { first_bad_seq: i64, reason: String },
}

/// Walks the whole chain and reports the first row that was altered, inserted out of
/// order or removed.
pub async fn verify(store: &Store) -> Result<Verdict> {
    use futures_util::TryStreamExt as _;

    /// A row as stored, to be hashed again.
    #[derive(sqlx::FromRow)]
    struct Stored {
        seq: i64,
        at: String,
        actor_user_id: Option<i64>,
        actor: String,
        action: String,
        object_type: String,
        object_id: String,
        changes: String,
        prev_hash: String,
        hash: String,
    }
    let mut rows = sqlx::query_as::<_, Stored>(
        "SELECT seq, at, actor_user_id, actor, action, object_type, object_id, changes, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )
    .fetch(store.pool());
    let mut expected_seq = 1i64;
    let mut prev_hash = String::new();
    while let Some(row) = rows.try_next().await? {
        let seq = row.seq;
        if seq != expected_seq {
            return Ok(Verdict::Broken {
                first_bad_seq: expected_seq,
                reason: format!("row {expected_seq} is missing (next row is {seq})"),
            });
        }
        let computed = Chained {
            prev_hash: &prev_hash,
            seq,
            at: &row.at,
            actor_user_id: row.actor_user_id,
            actor: &row.actor,
            action: &row.action,
            object_type: &row.object_type,
            object_id: &row.object_id,
            changes: &row.changes,
        }
        .hash();
        let stored_hash = row.hash;
        if row.prev_hash != prev_hash || computed != stored_hash {
            return Ok(Verdict::Broken {
                first_bad_seq: seq,
                reason: format!("row {seq} does not match its hash: it was altered"),
            });
        }
        prev_hash = stored_hash;
        expected_seq += 1;
    }
    drop(rows);
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(store.pool())
            .await?;
    let last = expected_seq - 1;
    if head_seq != last || head_hash != prev_hash {
        return Ok(Verdict::Broken {
            first_bad_seq: last + 1,
            reason: format!(
                "the log ends at row {last} but its head records row {head_seq}: rows were removed from the end"
            ),
        });
    }
    Ok(Verdict::Intact {
        rows: last,
        head: prev_hash,
    })
}

/// The audit head at a moment, as kept outside the database.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// The team key's detached OpenPGP signature over [`Checkpoint::statement`].
    pub signature: Option<String>,
}

impl Checkpoint {
    /// The text a checkpoint's signature covers.
    pub fn statement(&self) -> String {
        format!(
            "renkei audit checkpoint\nseq {}\nhash {}\nat {}\n",
            self.seq, self.hash, self.at
        )
    }

    /// Checkpoints kept one JSON object a line; blank lines are skipped.
    pub fn parse_lines(text: &str) -> std::result::Result<Vec<Checkpoint>, String> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
            .collect()
    }
}

/// The head now: the last row and its hash (row 0 and "" for an empty log).
pub async fn head(store: &Store) -> Result<Checkpoint> {
    let (seq, hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(store.pool())
            .await?;
    Ok(Checkpoint {
        seq,
        hash,
        at: store.now_str(),
        signature: None,
    })
}

/// Holds the log against checkpoints taken earlier (their signatures checked by
/// the caller): each checkpoint's row must still be there with the same hash. Run it
/// after [`verify`]: together they find rows removed from the end (and the head
/// wound back), and a row rewritten with every later hash recomputed.
pub async fn check_against(store: &Store, checkpoints: &[Checkpoint]) -> Result<Verdict> {
    let mut ordered: Vec<&Checkpoint> = checkpoints.iter().collect();
    ordered.sort_by_key(|c| c.seq);
    for c in ordered {
        if c.seq == 0 {
            continue;
        }
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(c.seq)
            .fetch_optional(store.pool())
            .await?;
        match hash {
            None => {
                return Ok(Verdict::Broken {
                    first_bad_seq: c.seq,
                    reason: format!(
                        "the checkpoint of {} names row {}, which the log no longer has: rows were removed from the end",
                        c.at, c.seq
                    ),
                });
            }
            Some(h) if h != c.hash => {
                return Ok(Verdict::Broken {
                    first_bad_seq: c.seq,
                    reason: format!(
                        "row {} no longer has the hash the checkpoint of {} recorded: the log was rewritten up to it",
                        c.seq, c.at
                    ),
                });
            }
            Some(_) => {}
        }
    }
    let h = head(store).await?;
    Ok(Verdict::Intact {
        rows: h.seq,
        head: h.hash,
    })
}

/// The newest entries first, optionally only those before `before_seq`.
pub async fn list(store: &Store, before_seq: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query_as(
        "SELECT seq, at, actor_user_id, actor, action, object_type, object_id, changes, hash
         FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(limit.clamp(1, 1000))
    .fetch_all(store.pool())
    .await?;
    Ok(rows)
}

/// What an auditor looks for: who (part of the actor's name or address), what (an
/// action, or its family: `vendor` finds `vendor.state`), which object (its type,
/// and its id), and when (`from` inclusive, `to` exclusive, stored times).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub object_type: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

impl AuditFilter {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        [
            &self.actor,
            &self.action,
            &self.object_type,
            &self.object_id,
            &self.from,
            &self.to,
        ]
        .iter()
        .all(|v| Self::given(v).is_none())
    }
}

/// Entries that match `filter`, newest first, a page at a time (`before_seq`).
pub async fn search(
    store: &Store,
    filter: &AuditFilter,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    // `$1` is the page's boundary; each value the filter gives is the next one.
    fn param(binds: &mut Vec<String>, v: String) -> String {
        binds.push(v);
        format!("${}", binds.len() + 1)
    }
    let mut binds: Vec<String> = Vec::new();
    let mut clauses = vec!["seq < $1".to_string()];
    if let Some(a) = AuditFilter::given(&filter.actor) {
        let p = param(&mut binds, format!("%{}%", like_escape(&a.to_lowercase())));
        clauses.push(format!("LOWER(actor) LIKE {p} ESCAPE '\\'"));
    }
    if let Some(a) = AuditFilter::given(&filter.action) {
        // The action itself, or the family it heads.
        let exact = param(&mut binds, a.to_string());
        let family = param(&mut binds, format!("{}.%", like_escape(a)));
        clauses.push(format!(
            "(action = {exact} OR action LIKE {family} ESCAPE '\\')"
        ));
    }
    if let Some(t) = AuditFilter::given(&filter.object_type) {
        let p = param(&mut binds, t.to_string());
        clauses.push(format!("object_type = {p}"));
    }
    if let Some(id) = AuditFilter::given(&filter.object_id) {
        let p = param(&mut binds, id.to_string());
        clauses.push(format!("object_id = {p}"));
    }
    if let Some(f) = AuditFilter::given(&filter.from) {
        let p = param(&mut binds, f.to_string());
        clauses.push(format!("at >= {p}"));
    }
    if let Some(t) = AuditFilter::given(&filter.to) {
        let p = param(&mut binds, t.to_string());
        clauses.push(format!("at < {p}"));
    }
    let sql = format!(
        "SELECT seq, at, actor_user_id, actor, action, object_type, object_id, changes, hash
         FROM audit_log WHERE {} ORDER BY seq DESC LIMIT {}",
        clauses.join(" AND "),
        limit.clamp(1, 1000)
    );
    let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(before_seq.unwrap_or(i64::MAX));
    for b in &binds {
        q = q.bind(b);
    }
    Ok(q.fetch_all(store.pool()).await?)
}

/// `%` and `_` in what a person typed match themselves.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The history of one object, oldest first.
pub async fn for_object(
    store: &Store,
    object_type: &str,
    object_id: &str,
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query_as(
        "SELECT seq, at, actor_user_id, actor, action, object_type, object_id, changes, hash
         FROM audit_log WHERE object_type = $1 AND object_id = $2 ORDER BY seq",
    )
    .bind(object_type)
    .bind(object_id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows)
}
