//! Incidents through their life: states, owner, TLP, merging, the report's thread and
//! notes, and the coordinator's queue. Every change is audited with old and new values.

use renkei_core::Store;
use renkei_core::access::Role;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::row::{Bit, JsonText, MaybeBit};
use renkei_core::tlp::Tlp;
use serde::Serialize;
use serde_json::json;
use sqlx::AssertSqlSafe;

use renkei_mail::conversations::{self, Direction, Incoming, Message, Owner};

use crate::classify::Category;
use crate::{IncidentError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Triaged,
    Coordinating,
    WaitingForReply,
    Resolved,
    Closed,
    Rejected,
    Duplicate,
}

impl State {
    pub const ALL: [State; 8] = [
        State::New,
        State::Triaged,
        State::Coordinating,
        State::WaitingForReply,
        State::Resolved,
        State::Closed,
        State::Rejected,
        State::Duplicate,
    ];

    pub fn parse(s: &str) -> Result<State> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| IncidentError::invalid("state", format!("unknown state {s:?}")))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Triaged => "triaged",
            State::Coordinating => "coordinating",
            State::WaitingForReply => "waiting_for_reply",
            State::Resolved => "resolved",
            State::Closed => "closed",
            State::Rejected => "rejected",
            State::Duplicate => "duplicate",
        }
    }

    /// Open work: what the queue shows by default.
    pub fn is_open(self) -> bool {
        !matches!(self, State::Closed | State::Rejected | State::Duplicate)
    }
}

impl TryFrom<String> for State {
    type Error = IncidentError;
    fn try_from(s: String) -> Result<State> {
        State::parse(&s)
    }
}

renkei_core::text_column!(State);

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Incident {
    pub id: i64,
    pub report_id: i64,
    pub source_ip: Option<String>,
    pub source_host: Option<String>,
    pub state: State,
    pub owner_id: Option<i64>,
    pub tlp: String,
    pub category: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub subject: Option<String>,
    pub reporter_email: Option<String>,
    #[sqlx(skip)]
    pub linked: Vec<i64>,
    /// What the tables said about the address when it was last enriched.
    pub enrichment: Option<renkei_enrich::Enrichment>,
    pub enriched_at: Option<String>,
    /// A reply came that nobody has answered yet.
    pub reply_at: Option<String>,
    /// What falls due next on the incident's clocks (first_response, reply, close),
    /// and when.
    pub due_kind: Option<String>,
    pub due_at: Option<String>,
    pub first_response_at: Option<String>,
    pub closed_at: Option<String>,
    /// A drill's: listed apart, never counted, its mail to the exercise sink.
    #[sqlx(try_from = "renkei_core::row::Bit")]
    pub exercise: bool,
}

const COLUMNS: &str = "i.id, i.report_id, i.source_ip, i.source_host, i.state, i.owner_id, i.tlp, i.category, i.created_at, i.updated_at, r.subject, r.reporter_email, i.enrichment, i.enriched_at, i.reply_at, i.due_kind, i.due_at, i.first_response_at, i.closed_at, i.exercise";

pub async fn get(store: &Store, id: i64) -> Result<Incident> {
    let mut incident = sqlx::query_as::<_, Incident>(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents i JOIN reports r ON r.id = i.report_id WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(IncidentError::NotFound("incident"))?;
    incident.linked = sqlx::query_scalar(
        "SELECT linked_id FROM incident_links WHERE incident_id = $1 ORDER BY linked_id",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    Ok(incident)
}

/// The queue's filters; all optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<State>,
    /// Only open incidents (the default view).
    pub open_only: bool,
    pub category: Option<Category>,
    pub tlp: Option<Tlp>,
    pub owner: Option<i64>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// A search in the queue's language ([`crate::search`]): addresses, CIDRs, ASes,
    /// countries, domains, reporters, and full text, each through an index.
    pub search: Option<crate::search::Query>,
    /// Only incidents with a reply nobody has answered yet.
    pub replied: bool,
    /// Only incidents whose next clock is this one.
    pub due: Option<crate::clocks::Due>,
    /// Only incidents due at or before this time (now: the overdue ones).
    pub due_by: Option<String>,
    /// Only incidents nobody has changed since this time (the ageing ones).
    pub idle_since: Option<String>,
    /// A drill's incidents instead of the real ones: the two are listed apart.
    pub exercise: bool,
    pub sort: Sort,
    /// Largest first; each column has its natural direction when not asked.
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// A column the queue sorts by. Ties go by number, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// By number: the order incidents came in.
    #[default]
    Created,
    Source,
    Category,
    State,
    Tlp,
    Owner,
    Report,
    Due,
    Updated,
}

impl Sort {
    pub const ALL: [Sort; 9] = [
        Sort::Created,
        Sort::Source,
        Sort::Category,
        Sort::State,
        Sort::Tlp,
        Sort::Owner,
        Sort::Report,
        Sort::Due,
        Sort::Updated,
    ];

    /// A column's name; `newest` is the queue's default (by number, largest first).
    pub fn parse(s: &str) -> Result<Sort> {
        let s = s.trim().to_ascii_lowercase();
        if s == "newest" || s == "id" {
            return Ok(Sort::Created);
        }
        Sort::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                IncidentError::invalid(
                    "sort",
                    format!(
                        "{s:?} is not a column; use one of {}",
                        Sort::ALL.map(Sort::as_str).join(", ")
                    ),
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Created => "created",
            Sort::Source => "source",
            Sort::Category => "category",
            Sort::State => "state",
            Sort::Tlp => "tlp",
            Sort::Owner => "owner",
            Sort::Report => "report",
            Sort::Due => "due",
            Sort::Updated => "updated",
        }
    }

    /// The direction a reader expects first: the newest incidents and the latest
    /// changes on top, the soonest due first, names from A.
    pub fn descending_by_default(self) -> bool {
        matches!(self, Sort::Created | Sort::Updated)
    }

    fn order_by(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        let key = match self {
            Sort::Created => return format!("i.id {dir}"),
            Sort::Source => "COALESCE(i.source_ip, i.source_host, '')",
            Sort::Category => "COALESCE(i.category, '')",
            Sort::State => "i.state",
            Sort::Tlp => "i.tlp",
            Sort::Owner => {
                "COALESCE((SELECT u.display_name FROM users u WHERE u.id = i.owner_id), '')"
            }
            Sort::Report => "i.report_id",
            // Nothing due sorts last either way.
            Sort::Due => return format!("i.due_at IS NULL, i.due_at {dir}, i.id"),
            Sort::Updated => "i.updated_at",
        };
        format!("{key} {dir}, i.id {dir}")
    }
}

/// A value bound to a query, in the order of its `$n`.
enum Bind {
    Text(String),
    Int(i64),
}

/// The reports a text search finds, read from the full-text index before the
/// incidents are: a few (up to [`COUNT_CAP`]) are looked up by number, each through
/// the incidents' report index; more than that, and the page comes from windows of
/// the newest incidents ([`newest_matching`]) and the count from the matches walked
/// into the report index ([`count_with`]). Either way neither a rare nor a common
/// word reads every incident.
enum TextHits {
    Few(Vec<i64>),
    Many,
}

async fn text_hits(store: &Store, f: &Filter) -> Result<Option<TextHits>> {
    let Some(q) = f.search.as_ref().filter(|q| !q.text.is_empty()) else {
        return Ok(None);
    };
    let cap = COUNT_CAP + 1;
    let matcher = crate::search::text_match(store.dialect(), &q.text);
    // Counted in the database first, in the index's own order: handing ten thousand
    // numbers over only to learn there are many cost more than the rest of a
    // common word's page.
    let sql = match store.dialect() {
        renkei_core::store::Dialect::Sqlite => {
            format!("SELECT rowid FROM report_search WHERE report_search MATCH $1 LIMIT {cap}")
        }
        renkei_core::store::Dialect::Postgres => format!(
            "SELECT report_id FROM report_search WHERE body @@ to_tsquery('simple', $1) LIMIT {cap}"
        ),
    };
    let found: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM ({sql}) AS found"
    )))
    .bind(&matcher)
    .fetch_one(store.pool())
    .await?;
    if found >= cap {
        return Ok(Some(TextHits::Many));
    }
    let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(&matcher)
        .fetch_all(store.pool())
        .await?;
    // Reports that came in between the two reads may have made it many after all.
    Ok(Some(if ids.len() as i64 >= cap {
        TextHits::Many
    } else {
        TextHits::Few(ids)
    }))
}

/// Binds a filter's values to a query, in the order of their `$n`.
macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(t) => q.bind(t.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// The `WHERE` clause of a filter, with what it binds and the join it needs after
/// `incidents i` (the reports, when a search by reporter reads them; else empty).
fn conditions(
    f: &Filter,
    dialect: renkei_core::store::Dialect,
    hits: Option<&TextHits>,
) -> (String, Vec<Bind>, &'static str) {
    let mut sql = String::from(if f.exercise {
        " WHERE i.exercise <> 0"
    } else {
        " WHERE i.exercise = 0"
    });
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |cond: &str, value: Bind, sql: &mut String| {
        binds.push(value);
        sql.push_str(&cond.replace('?', &format!("${}", binds.len())));
    };
    if let Some(s) = f.state {
        push(" AND i.state = ?", Bind::Text(s.as_str().into()), &mut sql);
    } else if f.open_only {
        sql.push_str(" AND i.state NOT IN ('closed', 'rejected', 'duplicate')");
    }
    if let Some(c) = f.category {
        push(
            " AND i.category = ?",
            Bind::Text(c.as_str().into()),
            &mut sql,
        );
    }
    if let Some(t) = f.tlp {
        push(" AND i.tlp = ?", Bind::Text(t.as_str().into()), &mut sql);
    }
    if let Some(from) = &f.from {
        push(" AND i.created_at >= ?", Bind::Text(from.clone()), &mut sql);
    }
    if let Some(to) = &f.to {
        push(" AND i.created_at < ?", Bind::Text(to.clone()), &mut sql);
    }
    if f.replied {
        sql.push_str(" AND i.reply_at IS NOT NULL");
    }
    if let Some(d) = f.due {
        push(
            " AND i.due_kind = ?",
            Bind::Text(d.as_str().into()),
            &mut sql,
        );
    }
    if let Some(by) = &f.due_by {
        push(" AND i.due_at <= ?", Bind::Text(by.clone()), &mut sql);
    }
    if let Some(since) = &f.idle_since {
        push(" AND i.updated_at < ?", Bind::Text(since.clone()), &mut sql);
    }
    if let Some(o) = f.owner {
        push(" AND i.owner_id = ?", Bind::Int(o), &mut sql);
    }
    let mut joined = false;
    if let Some(q) = f.search.as_ref().filter(|q| !q.is_empty()) {
        // Each part narrows; the values of one part widen it.
        let mut any = |column: &str, values: Vec<Bind>, sql: &mut String| {
            if values.is_empty() {
                return;
            }
            let mut parts = Vec::new();
            for v in values {
                binds.push(v);
                parts.push(format!("{column} = ${}", binds.len()));
            }
            sql.push_str(&format!(" AND ({})", parts.join(" OR ")));
        };
        any(
            "i.asn",
            q.asns.iter().map(|a| Bind::Int(*a)).collect(),
            &mut sql,
        );
        any(
            "i.country",
            q.countries.iter().map(|c| Bind::Text(c.clone())).collect(),
            &mut sql,
        );
        any(
            "i.category",
            q.categories
                .iter()
                .map(|c| Bind::Text(c.as_str().into()))
                .collect(),
            &mut sql,
        );
        any(
            "i.state",
            q.states
                .iter()
                .map(|c| Bind::Text(c.as_str().into()))
                .collect(),
            &mut sql,
        );
        any(
            "i.tlp",
            q.tlps
                .iter()
                .map(|t| Bind::Text(t.as_str().into()))
                .collect(),
            &mut sql,
        );
        if !q.emails.is_empty() {
            joined = true;
        }
        any(
            "LOWER(r.reporter_email)",
            q.emails.iter().map(|e| Bind::Text(e.clone())).collect(),
            &mut sql,
        );
        if !q.ips.is_empty() {
            let mut parts = Vec::new();
            for (lo, hi) in &q.ips {
                binds.push(Bind::Text(lo.clone()));
                binds.push(Bind::Text(hi.clone()));
                parts.push(format!(
                    "i.ip_key BETWEEN ${} AND ${}",
                    binds.len() - 1,
                    binds.len()
                ));
            }
            sql.push_str(&format!(" AND ({})", parts.join(" OR ")));
        }
        if !q.domains.is_empty() {
            // The domain itself, or any name under it: `jp.example` and the keys
            // from `jp.example.` up to `jp.example/` ('/' follows '.').
            let mut parts = Vec::new();
            for d in &q.domains {
                binds.push(Bind::Text(d.clone()));
                binds.push(Bind::Text(format!("{d}.")));
                binds.push(Bind::Text(format!("{d}/")));
                let n = binds.len();
                parts.push(format!(
                    "i.host_key = ${} OR (i.host_key > ${} AND i.host_key < ${n})",
                    n - 2,
                    n - 1
                ));
            }
            sql.push_str(&format!(" AND ({})", parts.join(" OR ")));
        }
        match hits {
            Some(TextHits::Few(ids)) if ids.is_empty() => sql.push_str(" AND 1 = 0"),
            Some(TextHits::Few(ids)) => {
                let list = ids.iter().map(i64::to_string).collect::<Vec<_>>();
                sql.push_str(&format!(" AND i.report_id IN ({})", list.join(",")));
            }
            Some(TextHits::Many) => {
                binds.push(Bind::Text(crate::search::text_match(dialect, &q.text)));
                let n = binds.len();
                // `+` keeps SQLite off the report index: walking every match's
                // incidents and sorting them is what made a common word slow.
                sql.push_str(&match dialect {
                    renkei_core::store::Dialect::Sqlite => format!(
                        " AND +i.report_id IN (SELECT rowid FROM report_search WHERE report_search MATCH ${n})"
                    ),
                    renkei_core::store::Dialect::Postgres => format!(
                        " AND i.report_id IN (SELECT report_id FROM report_search WHERE body @@ to_tsquery('simple', ${n}))"
                    ),
                });
            }
            None => {}
        }
    }
    let join = if joined {
        " JOIN reports r ON r.id = i.report_id"
    } else {
        ""
    };
    (sql, binds, join)
}

pub async fn list(store: &Store, f: &Filter) -> Result<Vec<Incident>> {
    let hits = text_hits(store, f).await?;
    list_with(store, f, hits.as_ref(), false).await
}

/// A page of the queue and how many the filter finds (as [`count`] says it), the
/// full-text index read once for both.
pub async fn page(store: &Store, f: &Filter) -> Result<(i64, Vec<Incident>)> {
    let hits = text_hits(store, f).await?;
    let count = count_with(store, f, hits.as_ref()).await?;
    let broad = count > COUNT_CAP;
    Ok((count, list_with(store, f, hits.as_ref(), broad).await?))
}

/// A common word's page in the queue's default order (newest first): the newest
/// incidents the other conditions find are read a window at a time, and kept when
/// their report matches, the full-text index asked only about the span of reports
/// the window holds. The window grows eightfold until the page is full. `None` when
/// the word is too rare among the newest for windows to pay (the caller then reads
/// every match).
async fn newest_matching(
    store: &Store,
    f: &Filter,
    text: &[Vec<String>],
) -> Result<Option<Vec<i64>>> {
    let (limit, offset) = (f.limit.clamp(1, 1000) as usize, f.offset.max(0) as usize);
    let want = limit + offset;
    let (conditions, binds, join) = conditions(f, store.dialect(), None);
    let matcher = crate::search::text_match(store.dialect(), text);
    let in_span = match store.dialect() {
        renkei_core::store::Dialect::Sqlite => {
            "SELECT rowid FROM report_search WHERE report_search MATCH $1 AND rowid >= $2 AND rowid <= $3"
        }
        renkei_core::store::Dialect::Postgres => {
            "SELECT report_id FROM report_search WHERE body @@ to_tsquery('simple', $1) AND report_id >= $2 AND report_id <= $3"
        }
    };
    let mut window = want * 8;
    while window <= 100_000 {
        let sql = format!(
            "SELECT i.id, i.report_id FROM incidents i{join}{conditions} ORDER BY i.id DESC LIMIT {window}"
        );
        let rows = bound!(sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql)), &binds)
            .fetch_all(store.pool())
            .await?;
        let (Some(lo), Some(hi)) = (
            rows.iter().map(|r| r.1).min(),
            rows.iter().map(|r| r.1).max(),
        ) else {
            return Ok(Some(Vec::new()));
        };
        let matched: std::collections::HashSet<i64> = sqlx::query_scalar::<_, i64>(in_span)
            .bind(&matcher)
            .bind(lo)
            .bind(hi)
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect();
        let found: Vec<i64> = rows
            .iter()
            .filter(|r| matched.contains(&r.1))
            .map(|r| r.0)
            .collect();
        if found.len() >= want || rows.len() < window {
            return Ok(Some(found.into_iter().skip(offset).take(limit).collect()));
        }
        window *= 8;
    }
    Ok(None)
}

/// `broad`: the filter finds more than [`COUNT_CAP`] (as the count just said).
async fn list_with(
    store: &Store,
    f: &Filter,
    hits: Option<&TextHits>,
    broad: bool,
) -> Result<Vec<Incident>> {
    let newest = match (hits, f.search.as_ref()) {
        (Some(TextHits::Many), Some(q)) if f.sort == Sort::Created && f.descending => {
            newest_matching(store, f, &q.text).await?
        }
        _ => None,
    };
    let ids = match newest {
        Some(ids) => ids,
        None => page_ids(store, f, hits, broad).await?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows = sqlx::query_as::<_, Incident>(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents i JOIN reports r ON r.id = i.report_id WHERE i.id IN ({list})"
    )))
    .fetch_all(store.pool())
    .await?;
    let mut by_id: std::collections::HashMap<i64, Incident> =
        rows.into_iter().map(|i| (i.id, i)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

async fn page_ids(
    store: &Store,
    f: &Filter,
    hits: Option<&TextHits>,
    broad: bool,
) -> Result<Vec<i64>> {
    // The page is chosen on the incidents alone (and the reports only when the text
    // search reads them), then its rows are read whole: sorting ten thousand narrow
    // rows is quick, sorting them joined with their reports is not.
    let (conditions, binds, join) = conditions(f, store.dialect(), hits);
    let (limit, offset) = (f.limit.clamp(1, 1000), f.offset.max(0));
    let newest_first = f.sort == Sort::Created && f.descending;
    // More than ten thousand found, newest first: the page is most often among the
    // newest incidents, so those are read first, each checked against the filter.
    // When they do not fill it (an old range of addresses), the filter's own index
    // is read whole and sorted, never the incidents walked back by number past
    // everything newer: measured 1.8 s on PostgreSQL for an old /16.
    if broad && newest_first && !matches!(hits, Some(TextHits::Few(_))) {
        let test = conditions.trim_start().trim_start_matches("WHERE");
        let sql = format!(
            "SELECT id FROM (SELECT i.id AS id, CASE WHEN {test} THEN 1 ELSE 0 END AS ok FROM incidents i{join} ORDER BY i.id DESC LIMIT {NEWEST_PROBE}) AS w
             WHERE ok = 1 ORDER BY id DESC LIMIT {limit} OFFSET {offset}"
        );
        let ids = bound!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), &binds)
            .fetch_all(store.pool())
            .await?;
        if ids.len() as i64 == limit {
            return Ok(ids);
        }
    }
    // A few reports' incidents are looked up and sorted; left to itself, SQLite
    // would walk every incident in number order to spare the sort (`+` stops it).
    // The same for a broad filter the newest did not satisfy (above).
    let mut order = f.sort.order_by(f.descending);
    if f.sort == Sort::Created
        && (matches!(hits, Some(TextHits::Few(_))) || (broad && newest_first))
    {
        order = format!("i.id + 0 {}", if f.descending { "DESC" } else { "ASC" });
    }
    let sql = format!(
        "SELECT i.id FROM incidents i{join}{conditions} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    Ok(
        bound!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), &binds)
            .fetch_all(store.pool())
            .await?,
    )
}

/// How many of the newest incidents a broad filter's page is looked for among
/// before the filter's own index is read.
const NEWEST_PROBE: i64 = 5_000;

/// How many incidents the filter finds, over all pages.
/// The most [`count`] counts exactly; beyond it says `COUNT_CAP + 1` ("more than
/// 10,000"). Counting a third of a million rows to print their number would make
/// a broad search slow at national scale; nobody pages that far.
pub const COUNT_CAP: i64 = 10_000;

/// How many incidents the filter finds, up to [`COUNT_CAP`] exactly, then
/// `COUNT_CAP + 1`.
pub async fn count(store: &Store, f: &Filter) -> Result<i64> {
    let hits = text_hits(store, f).await?;
    count_with(store, f, hits.as_ref()).await
}

async fn count_with(store: &Store, f: &Filter, hits: Option<&TextHits>) -> Result<i64> {
    let sqlite_many = store.dialect() == renkei_core::store::Dialect::Sqlite
        && matches!(hits, Some(TextHits::Many));
    // A common word on SQLite: its matches are walked in the index's order, each
    // report's incidents found through their index, until the cap; asked the other
    // way round, SQLite first gathers every match (133,000 reports for "password"
    // in bench/national-scale.sh).
    let (mut conditions, mut binds, join) =
        conditions(f, store.dialect(), if sqlite_many { None } else { hits });
    let mut from = format!("incidents i{join}");
    if let (true, Some(q)) = (sqlite_many, f.search.as_ref()) {
        binds.push(Bind::Text(crate::search::text_match(
            store.dialect(),
            &q.text,
        )));
        from = format!("report_search CROSS JOIN {from}");
        conditions.push_str(&format!(
            " AND i.report_id = report_search.rowid AND report_search MATCH ${}",
            binds.len()
        ));
    }
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {from}{conditions} LIMIT {}) AS found",
        COUNT_CAP + 1
    );
    Ok(
        bound!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), &binds)
            .fetch_one(store.pool())
            .await?,
    )
}

/// The open incidents either side of `id` in the queue's default order (newest
/// first): the one to work on next (older) and the one before (newer).
pub async fn neighbours(store: &Store, id: i64) -> Result<(Option<i64>, Option<i64>)> {
    let open = "state NOT IN ('closed', 'rejected', 'duplicate')";
    let next: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM incidents WHERE {open} AND id < $1 ORDER BY id DESC LIMIT 1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    let previous: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM incidents WHERE {open} AND id > $1 ORDER BY id LIMIT 1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    Ok((next, previous))
}

/// Open incidents with a reply nobody has answered yet.
pub async fn new_replies(store: &Store) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM incidents WHERE reply_at IS NOT NULL AND state NOT IN ('closed', 'rejected', 'duplicate')",
    )
    .fetch_one(store.pool())
    .await?)
}

async fn change(
    store: &Store,
    actor: &Actor,
    id: i64,
    action: &'static str,
    set: &str,
    value: Option<String>,
    before: Option<String>,
) -> Result<Incident> {
    let mut tx = store.begin().await?;
    let sql = format!("UPDATE incidents SET {set} = $1, updated_at = $2 WHERE id = $3");
    sqlx::query(AssertSqlSafe(sql))
        .bind(value.clone())
        .bind(store.now_str())
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action,
            object_type: "incident",
            object_id: id.to_string(),
            changes: json!({ set: [before, value] }),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await
}

/// Moves an incident to another state. Any state may be reached but "new", which is
/// only where incidents start; closed ones may be reopened.
pub async fn set_state(store: &Store, actor: &Actor, id: i64, to: State) -> Result<Incident> {
    let current = get(store, id).await?;
    if to == State::New {
        return Err(IncidentError::invalid(
            "state",
            "incidents cannot go back to new; use triaged",
        ));
    }
    if current.state == to {
        return Ok(current);
    }
    change(
        store,
        actor,
        id,
        "incident.state_changed",
        "state",
        Some(to.as_str().into()),
        Some(current.state.as_str().into()),
    )
    .await
}

/// Gives the incident to a coordinator (or to nobody).
pub async fn assign(store: &Store, actor: &Actor, id: i64, owner: Option<i64>) -> Result<Incident> {
    let current = get(store, id).await?;
    if let Some(o) = owner {
        let user = renkei_core::accounts::get_user(store, o).await?;
        if !user.role.is_staff() || user.disabled {
            return Err(IncidentError::invalid(
                "owner",
                format!("{} is not an active coordinator", user.email),
            ));
        }
    }
    if current.owner_id == owner {
        return Ok(current);
    }
    let row_owner = |o: Option<i64>| o.map(|v| v.to_string());
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE incidents SET owner_id = $1, updated_at = $2 WHERE id = $3")
        .bind(owner)
        .bind(store.now_str())
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "incident.assigned",
            object_type: "incident",
            object_id: id.to_string(),
            changes: json!({"owner": [row_owner(current.owner_id), row_owner(owner)]}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await
}

pub async fn set_tlp(store: &Store, actor: &Actor, id: i64, tlp: Tlp) -> Result<Incident> {
    let current = get(store, id).await?;
    if current.tlp == tlp.as_str() {
        return Ok(current);
    }
    change(
        store,
        actor,
        id,
        "incident.tlp_changed",
        "tlp",
        Some(tlp.as_str().into()),
        Some(current.tlp),
    )
    .await
}

/// Enriches incidents again with the tables in use now (after a reload, or for
/// incidents created before any table was loaded). The previous values stay in the
/// audit log.
pub async fn enrich(
    store: &Store,
    actor: &Actor,
    tables: &renkei_enrich::Tables,
    ids: &[i64],
) -> Result<Vec<Incident>> {
    let mut tx = store.begin().await?;
    let mut events = Vec::new();
    let now = store.now_str();
    for id in ids {
        let (ip, before): (Option<String>, JsonText) =
            sqlx::query_as("SELECT source_ip, enrichment FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_optional(tx.conn())
                .await?
                .ok_or(IncidentError::NotFound("incident"))?;
        let Some(ip) = ip else {
            continue;
        };
        let e = tables.lookup_str(&ip);
        let after = serde_json::to_string(&e).unwrap_or_default();
        sqlx::query("UPDATE incidents SET enrichment = $1, asn = $2, country = $3, enriched_at = $4, updated_at = $4 WHERE id = $5")
            .bind(&after)
            .bind(e.asn.map(i64::from))
            .bind(&e.country)
            .bind(&now)
            .bind(id)
            .execute(tx.conn())
            .await?;
        events.push(Event {
            action: "incident.enriched",
            object_type: "incident",
            object_id: id.to_string(),
            changes: json!({
                "before": before.read_opt::<serde_json::Value>(),
                "after": e,
            }),
        });
    }
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(get(store, *id).await?);
    }
    Ok(out)
}

/// Confirms or changes a report's category; its incidents follow. The proposal stays
/// beside the decision.
pub async fn set_category(
    store: &Store,
    actor: &Actor,
    report_id: i64,
    category: Category,
) -> Result<()> {
    let (proposed, before): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT proposed_category, category FROM reports WHERE id = $1")
            .bind(report_id)
            .fetch_optional(store.pool())
            .await?
            .ok_or(IncidentError::NotFound("report"))?;
    let actor_id = actor.user_id;
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE reports SET category = $1, category_by = $2, category_at = $3 WHERE id = $4",
    )
    .bind(category.as_str())
    .bind(actor_id)
    .bind(store.now_str())
    .bind(report_id)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE incidents SET category = $1, updated_at = $2 WHERE report_id = $3")
        .bind(category.as_str())
        .bind(store.now_str())
        .bind(report_id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.classified",
            object_type: "report",
            object_id: report_id.to_string(),
            changes: json!({"category": [before, category.as_str()], "proposed": proposed}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Keeps `keep`; marks the others duplicates of it, linked.
pub async fn merge(store: &Store, actor: &Actor, keep: i64, others: &[i64]) -> Result<()> {
    get(store, keep).await?;
    for &other in others.iter().filter(|o| **o != keep) {
        let current = get(store, other).await?;
        let mut tx = store.begin().await?;
        sqlx::query("UPDATE incidents SET state = 'duplicate', updated_at = $1 WHERE id = $2")
            .bind(store.now_str())
            .bind(other)
            .execute(tx.conn())
            .await?;
        for (a, b) in [(other, keep), (keep, other)] {
            sqlx::query("DELETE FROM incident_links WHERE incident_id = $1 AND linked_id = $2")
                .bind(a)
                .bind(b)
                .execute(tx.conn())
                .await?;
            sqlx::query("INSERT INTO incident_links (incident_id, linked_id, reason) VALUES ($1, $2, 'merged')")
                .bind(a)
                .bind(b)
                .execute(tx.conn())
                .await?;
        }
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "incident.merged",
                object_type: "incident",
                object_id: other.to_string(),
                changes: json!({"into": keep, "state": [current.state.as_str(), "duplicate"]}),
            },
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// A note or a record of correspondence held outside Renkei (a phone call, a mail
/// sent from elsewhere) on a report's thread.
pub async fn add_message(
    store: &Store,
    actor: &Actor,
    report_id: i64,
    direction: &str,
    subject: Option<&str>,
    body: &str,
) -> Result<i64> {
    let direction = match direction {
        "in" => Direction::In,
        "out" => Direction::Out,
        "note" => Direction::Note,
        _ => return Err(IncidentError::invalid("direction", "in, out or note")),
    };
    if body.trim().is_empty() {
        return Err(IncidentError::invalid("body", "is empty"));
    }
    if let Some(s) = subject {
        conversations::header_field("subject", s)?;
    }
    let mut tx = store.begin().await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM reports WHERE id = $1")
        .bind(report_id)
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_none() {
        return Err(IncidentError::NotFound("report"));
    }
    let id = conversations::record(
        &mut tx,
        &[Owner::new(crate::replies::REPORT, report_id)],
        direction,
        &Incoming {
            author: &actor.label,
            author_user_id: actor.user_id,
            subject,
            body,
            ..Default::default()
        },
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.message_added",
            object_type: "report",
            object_id: report_id.to_string(),
            changes: json!({"message": id, "direction": direction.as_str()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A report's conversation: its own and its incidents', notifications included,
/// oldest first.
pub async fn thread(store: &Store, report_id: i64) -> Result<Vec<Message>> {
    let incidents: Vec<i64> = sqlx::query_scalar("SELECT id FROM incidents WHERE report_id = $1")
        .bind(report_id)
        .fetch_all(store.pool())
        .await?;
    let owners: Vec<Owner> = std::iter::once(Owner::new(crate::replies::REPORT, report_id))
        .chain(
            incidents
                .into_iter()
                .map(|i| Owner::new(crate::replies::INCIDENT, i)),
        )
        .collect();
    Ok(conversations::thread(store, &owners).await?)
}

/// An incident's conversation: its own and its report's, oldest first.
pub async fn incident_thread(store: &Store, id: i64) -> Result<Vec<Message>> {
    let i = get(store, id).await?;
    let owners = [
        Owner::new(crate::replies::INCIDENT, id),
        Owner::new(crate::replies::REPORT, i.report_id),
    ];
    Ok(conversations::thread(store, &owners).await?)
}

/// A report as the coordinator reads it: the parsed fields, the raw message beside.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Report {
    pub id: i64,
    pub received_at: String,
    pub channel: String,
    pub format: String,
    pub raw_sha256: String,
    pub raw_size: i64,
    pub status: String,
    pub problem: Option<String>,
    pub tlp: String,
    pub reporter_name: Option<String>,
    pub reporter_email: Option<String>,
    pub reporter_phone: Option<String>,
    pub site_org: Option<String>,
    pub site_url: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub occurred_at: Option<String>,
    pub proposed_category: Option<String>,
    #[sqlx(try_from = "JsonText")]
    pub proposed_reasons: serde_json::Value,
    pub category: Option<String>,
    /// The RSIT class and type, "class/type".
    pub rsit: Option<String>,
    #[sqlx(try_from = "JsonText")]
    pub scanned_ports: serde_json::Value,
    #[sqlx(try_from = "Bit")]
    pub comprehensive_scan: bool,
    #[sqlx(try_from = "JsonText")]
    pub indicators: serde_json::Value,
    #[sqlx(try_from = "JsonText")]
    pub warnings: serde_json::Value,
    pub thread_of: Option<i64>,
    /// Why the report needs a look first (`unknown_sender`).
    pub flag: Option<String>,
    /// A reply came that nobody has answered yet.
    pub reply_at: Option<String>,
    /// The intake address a mail reached.
    pub intake_address: Option<String>,
    /// The reporter agrees that the site is contacted (none: not asked).
    #[sqlx(try_from = "MaybeBit")]
    pub consent_mediation: Option<bool>,
    /// The reporter agrees to be named to the site (none: not asked).
    #[sqlx(try_from = "MaybeBit")]
    pub consent_named: Option<bool>,
    #[sqlx(skip)]
    pub incidents: Vec<i64>,
}

pub async fn report(store: &Store, id: i64) -> Result<Report> {
    let mut report = sqlx::query_as::<_, Report>(
        "SELECT id, received_at, channel, format, raw_sha256, raw_size, status, problem, tlp, reporter_name, reporter_email,
                reporter_phone, site_org, site_url, subject, body, occurred_at, proposed_category, proposed_reasons, category,
                rsit_class || '/' || rsit_type AS rsit, scanned_ports, comprehensive_scan, indicators, warnings, thread_of,
                flag, reply_at, intake_address, consent_mediation, consent_named
         FROM reports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(IncidentError::NotFound("report"))?;
    report.incidents =
        sqlx::query_scalar("SELECT id FROM incidents WHERE report_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(store.pool())
            .await?;
    Ok(report)
}

/// The bytes exactly as received; a conflict once the retention policy removed
/// them (the report's text and incidents stay).
pub async fn raw(store: &Store, id: i64) -> Result<Vec<u8>> {
    let (raw, discarded): (Vec<u8>, Option<String>) =
        sqlx::query_as("SELECT raw, raw_discarded_at FROM reports WHERE id = $1")
            .bind(id)
            .fetch_optional(store.pool())
            .await?
            .ok_or(IncidentError::NotFound("report"))?;
    match discarded {
        Some(at) => Err(IncidentError::Core(renkei_core::CoreError::Conflict(
            format!(
                "the report's bytes as received were removed on {at} under the retention policy"
            ),
        ))),
        None => Ok(raw),
    }
}

/// Staff who may own incidents, for the assign menu.
pub async fn coordinators(store: &Store) -> Result<Vec<(i64, String)>> {
    Ok(renkei_core::accounts::list_users(store)
        .await?
        .into_iter()
        .filter(|u| u.role.is_staff() && !u.disabled && u.role != Role::Sensor)
        .map(|u| (u.id, u.display_name))
        .collect())
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Attachment {
    pub id: i64,
    pub filename: Option<String>,
    pub content_type: String,
    /// The size as received; `truncated` when only the configured limit was kept.
    pub size: i64,
    #[sqlx(try_from = "Bit")]
    pub truncated: bool,
    pub sha256: String,
    /// Who added the file after the report came (a coordinator, the reporter on
    /// the status page); none: it came with the report.
    pub added_by: Option<String>,
}

pub async fn attachments(store: &Store, report_id: i64) -> Result<Vec<Attachment>> {
    Ok(sqlx::query_as("SELECT id, filename, content_type, size, truncated, sha256, added_by FROM report_attachments WHERE report_id = $1 ORDER BY id")
        .bind(report_id)
        .fetch_all(store.pool())
        .await?)
}

/// A file someone adds through a form.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The most a file added through a form may weigh.
pub const UPLOAD_LIMIT: usize = 10 << 20;
/// The most files added at once.
pub const UPLOADS_AT_ONCE: usize = 10;

/// Adds files to a report in the caller's transaction; returns their numbers and
/// names as kept. A
/// name keeps only its last path part and no control characters (it goes into
/// mail headers); empty files are refused, as are files over [`UPLOAD_LIMIT`].
pub async fn add_files(
    tx: &mut renkei_core::store::Tx,
    report: i64,
    files: &[Upload],
    added_by: &str,
) -> Result<Vec<(i64, String)>> {
    use sha2::Digest;
    if files.len() > UPLOADS_AT_ONCE {
        return Err(IncidentError::invalid(
            "file",
            format!("at most {UPLOADS_AT_ONCE} files at once"),
        ));
    }
    let mut ids = Vec::with_capacity(files.len());
    for f in files {
        let name: String = f
            .filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let name = match name.trim() {
            "" => "file".to_string(),
            n => n.to_string(),
        };
        if f.data.is_empty() {
            return Err(IncidentError::invalid("file", format!("{name} is empty")));
        }
        if f.data.len() > UPLOAD_LIMIT {
            return Err(IncidentError::invalid(
                "file",
                format!("{name} is larger than {} MB", UPLOAD_LIMIT >> 20),
            ));
        }
        let content_type = match f.content_type.trim() {
            t if !t.is_empty() && t.len() < 200 && !t.chars().any(|c| c.is_control()) => t,
            _ => "application/octet-stream",
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO report_attachments (report_id, filename, content_type, size, truncated, sha256, data, added_by) VALUES ($1, $2, $3, $4, 0, $5, $6, $7) RETURNING id",
        )
        .bind(report)
        .bind(&name)
        .bind(content_type)
        .bind(f.data.len() as i64)
        .bind(hex::encode(sha2::Sha256::digest(&f.data)))
        .bind(f.data.clone())
        .bind(added_by)
        .fetch_one(tx.conn())
        .await?;
        ids.push((id, name));
    }
    Ok(ids)
}
