//! Alerts (注意喚起): what the team tells the public to do now. An alert is written
//! in Markdown in Japanese and English, submitted, and published by a second
//! coordinator (four eyes: the author of a text never publishes it). A published
//! alert is changed by a new revision that goes through the same review and carries
//! a change note ("updated: …"); the public page lists every published revision.
//!
//! Only TLP:CLEAR alerts are public. Anything else stays with the staff (early
//! warning to named organizations addresses them).

use chrono::{DateTime, Datelike, Utc};
use renkei_core::access::UserInfo;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::store::Tx;
use renkei_core::tlp::Tlp;
use renkei_core::{Store, time};
use serde::{Deserialize, Serialize};
use serde_json::json;

use renkei_formats::syndication;

use crate::{PublishError, Result, clip, markdown, warnings};

/// The number's prefix: `AT-2026-0001`.
const PREFIX: &str = "AT";
const MAX_TITLE: usize = 300;
const MAX_BODY: usize = 200_000;

/// An alert's number, `AT-YYYY-NNNN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertNumber(String);

impl AlertNumber {
    pub fn parse(s: &str) -> Result<AlertNumber> {
        let s = s.trim();
        let bad = || {
            PublishError::invalid(
                "number",
                format!("{s:?} is not an alert number like {PREFIX}-2026-0001"),
            )
        };
        let rest = s
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('-'))
            .ok_or_else(bad)?;
        let (year, seq) = rest.split_once('-').ok_or_else(bad)?;
        let digits = |x: &str, n: usize| {
            x.len() >= n && x.len() <= 6 && x.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(year, 4) || year.len() != 4 || !digits(seq, 4) {
            return Err(bad());
        }
        Ok(AlertNumber(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an alert is in its workflow. A published alert with a new revision being
/// written is `Draft` or `Review` again while the public keeps the published text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Draft,
    Review,
    Published,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 3] = [
        AlertStatus::Draft,
        AlertStatus::Review,
        AlertStatus::Published,
    ];

    fn parse(s: &str) -> AlertStatus {
        match s {
            "review" => AlertStatus::Review,
            "published" => AlertStatus::Published,
            _ => AlertStatus::Draft,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Draft => "draft",
            AlertStatus::Review => "review",
            AlertStatus::Published => "published",
        }
    }
}

impl From<String> for AlertStatus {
    fn from(s: String) -> AlertStatus {
        AlertStatus::parse(&s)
    }
}

renkei_core::text_column!(AlertStatus);

/// The note IDs a revision links to, one per line as stored.
struct NoteLines(String);

impl From<String> for NoteLines {
    fn from(s: String) -> NoteLines {
        NoteLines(s)
    }
}

renkei_core::text_column!(NoteLines);

impl From<NoteLines> for Vec<String> {
    fn from(lines: NoteLines) -> Vec<String> {
        lines
            .0
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }
}

/// The text a coordinator writes: a new alert, or the next revision of one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertText {
    pub category: Option<String>,
    pub tlp: Option<String>,
    #[serde(default)]
    pub title_ja: String,
    #[serde(default)]
    pub title_en: String,
    #[serde(default)]
    pub body_ja: String,
    #[serde(default)]
    pub body_en: String,
    /// What changed, for a revision after the first ("updated: …").
    #[serde(default)]
    pub change_ja: String,
    #[serde(default)]
    pub change_en: String,
    /// Vulnerability note IDs the alert points to.
    #[serde(default)]
    pub notes: Vec<String>,
    /// A new alert for a drill (staff rehearsing): never on the public pages or
    /// feeds nor in statistics, its mail to the exercise sink, never to a list.
    #[serde(default)]
    pub exercise: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Revision {
    pub revision: i64,
    pub title_ja: String,
    pub title_en: String,
    pub body_ja: String,
    pub body_en: String,
    pub change_ja: String,
    pub change_en: String,
    #[sqlx(try_from = "NoteLines")]
    pub notes: Vec<String>,
    /// Who wrote and who published the revision: the team's own business, so only
    /// staff see them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewer_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub published_at: Option<String>,
}

impl Revision {
    /// The title in the reader's language, or the other one if it is missing.
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }

    pub fn body(&self, lang: Lang) -> &str {
        lang.pick(&self.body_ja, &self.body_en)
    }

    pub fn change(&self, lang: Lang) -> &str {
        lang.pick(&self.change_ja, &self.change_en)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Alert {
    pub number: String,
    pub category: String,
    pub tlp: Tlp,
    /// The TLP the waiting revision takes when it is published (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_tlp: Option<Tlp>,
    pub status: AlertStatus,
    pub created_at: String,
    pub first_published_at: Option<String>,
    /// When the text the public sees was published.
    pub published_at: Option<String>,
    /// The published text, if any.
    #[sqlx(skip)]
    pub published: Option<Revision>,
    /// A revision being written or reviewed (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(skip)]
    pub pending: Option<Revision>,
    /// Every published revision, oldest first (the text of the last is `published`).
    #[sqlx(skip)]
    pub history: Vec<Revision>,
    /// A drill's alert, seen by the staff only.
    #[sqlx(try_from = "renkei_core::row::Bit")]
    pub exercise: bool,
}

/// A line of a list of alerts.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct AlertSummary {
    pub number: String,
    pub category: String,
    pub tlp: Tlp,
    pub status: AlertStatus,
    pub title_ja: String,
    pub title_en: String,
    /// The published text's summary in plain text (empty for drafts).
    #[serde(skip)]
    pub body_ja: String,
    #[serde(skip)]
    pub body_en: String,
    pub revision: i64,
    pub first_published_at: Option<String>,
    pub published_at: Option<String>,
    pub created_at: String,
    /// A drill's alert (the staff's list shows it marked).
    #[sqlx(try_from = "renkei_core::row::Bit")]
    pub exercise: bool,
}

impl AlertSummary {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }

    pub fn body(&self, lang: Lang) -> &str {
        lang.pick(&self.body_ja, &self.body_en)
    }
}

/// Who is asking: the public sees published TLP:CLEAR alerts, an organization also
/// the early warnings addressed to it, staff see all (the rule is
/// [`renkei_core::access::Reader::may_read_alert`]).
pub use renkei_core::access::Reader as Viewer;

fn check_category(c: &str) -> Result<String> {
    let c = c.trim().to_ascii_lowercase();
    if c.is_empty()
        || c.len() > 40
        || !c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(PublishError::invalid(
            "category",
            "a short word of a-z, 0-9 and '-', e.g. vulnerability, malware, incident",
        ));
    }
    Ok(c)
}

struct Checked {
    title_ja: String,
    title_en: String,
    body_ja: String,
    body_en: String,
    change_ja: String,
    change_en: String,
    notes: String,
}

fn check_text(t: &AlertText) -> Result<Checked> {
    let title_ja = t.title_ja.trim().to_string();
    let title_en = t.title_en.trim().to_string();
    if title_ja.is_empty() && title_en.is_empty() {
        return Err(PublishError::invalid(
            "title_ja",
            "a title in Japanese or English (or both)",
        ));
    }
    for (field, title) in [("title_ja", &title_ja), ("title_en", &title_en)] {
        if title.chars().count() > MAX_TITLE || title.contains(['\n', '\r']) {
            return Err(PublishError::invalid(
                field,
                format!("one line of at most {MAX_TITLE} characters"),
            ));
        }
    }
    for (field, title, body) in [
        ("body_ja", &title_ja, &t.body_ja),
        ("body_en", &title_en, &t.body_en),
    ] {
        if !title.is_empty() && body.trim().is_empty() {
            return Err(PublishError::invalid(
                field,
                "the text of the alert in the title's language",
            ));
        }
        if body.len() > MAX_BODY {
            return Err(PublishError::invalid(
                field,
                format!("at most {MAX_BODY} bytes"),
            ));
        }
    }
    let mut notes = Vec::new();
    for n in &t.notes {
        let n = n.trim();
        if n.is_empty() {
            continue;
        }
        if n.len() > 40 || n.chars().any(char::is_whitespace) {
            return Err(PublishError::invalid(
                "notes",
                format!("{n:?} is not a vulnerability note ID"),
            ));
        }
        if !notes.iter().any(|x: &String| x == n) {
            notes.push(n.to_string());
        }
    }
    Ok(Checked {
        title_ja,
        title_en,
        body_ja: t.body_ja.trim_end().to_string(),
        body_en: t.body_en.trim_end().to_string(),
        change_ja: t.change_ja.trim().to_string(),
        change_en: t.change_en.trim().to_string(),
        notes: notes.join("\n"),
    })
}

fn staff(user: &UserInfo) -> Result<Actor> {
    crate::staff(user, "alerts are")
}

/// Writes a new alert as a draft (revision 1).
pub async fn create(
    store: &Store,
    user: &UserInfo,
    text: &AlertText,
    now: DateTime<Utc>,
) -> Result<Alert> {
    let actor = staff(user)?;
    let category = check_category(text.category.as_deref().unwrap_or(""))?;
    let tlp = Tlp::parse(text.tlp.as_deref().unwrap_or("TLP:CLEAR"))?;
    let c = check_text(text)?;
    let year = i64::from(now.year());
    let at = time::format(now);
    let mut tx = store.begin().await?;
    let seq: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM alerts WHERE year = $1")
            .bind(year)
            .fetch_one(tx.conn())
            .await?;
    let number = format!("{PREFIX}-{year}-{seq:04}");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alerts (number, year, seq, category, tlp, status, created_by, created_at, exercise) VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8) RETURNING id",
    )
    .bind(&number)
    .bind(year)
    .bind(seq)
    .bind(&category)
    .bind(tlp.as_str())
    .bind(user.id)
    .bind(&at)
    .bind(text.exercise as i64)
    .fetch_one(tx.conn())
    .await?;
    insert_revision(&mut tx, id, 1, &c, user.id, &at).await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "alert.create",
            object_type: "alert",
            object_id: number.clone(),
            changes: json!({"category": category, "tlp": tlp.as_str(), "title_ja": c.title_ja, "title_en": c.title_en}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, &number, Viewer::Staff, store.now())
        .await?
        .ok_or(PublishError::NotFound("alert"))
}

async fn insert_revision(
    tx: &mut Tx,
    alert: i64,
    revision: i64,
    c: &Checked,
    author: i64,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO alert_revisions (alert_id, revision, title_ja, title_en, body_ja, body_en, change_ja, change_en, notes, author_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(alert)
    .bind(revision)
    .bind(&c.title_ja)
    .bind(&c.title_en)
    .bind(&c.body_ja)
    .bind(&c.body_en)
    .bind(&c.change_ja)
    .bind(&c.change_en)
    .bind(&c.notes)
    .bind(author)
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct Head {
    pub(crate) id: i64,
    pub(crate) status: AlertStatus,
    pub(crate) tlp: Tlp,
    pub(crate) next_tlp: Option<Tlp>,
    pub(crate) published_revision: Option<i64>,
}

impl Head {
    /// The TLP the alert has once its waiting revision is published.
    pub(crate) fn coming_tlp(&self) -> Tlp {
        self.next_tlp.unwrap_or(self.tlp)
    }
}

const HEAD: &str =
    "SELECT id, status, tlp, next_tlp, published_revision FROM alerts WHERE number = $1";

pub(crate) async fn head(tx: &mut Tx, number: &AlertNumber) -> Result<Head> {
    sqlx::query_as(HEAD)
        .bind(number.as_str())
        .fetch_optional(tx.conn())
        .await?
        .ok_or(PublishError::NotFound("alert"))
}

/// The same, for reading only: no write transaction (SQLite's writers queue).
pub(crate) async fn head_read(store: &Store, number: &AlertNumber) -> Result<Head> {
    sqlx::query_as(HEAD)
        .bind(number.as_str())
        .fetch_optional(store.pool())
        .await?
        .ok_or(PublishError::NotFound("alert"))
}

/// The revision being written or reviewed, if there is one.
async fn pending_revision(tx: &mut Tx, h: &Head) -> Result<Option<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT revision, author_id FROM alert_revisions WHERE alert_id = $1 AND published_at IS NULL ORDER BY revision DESC LIMIT 1",
    )
    .bind(h.id)
    .fetch_optional(tx.conn())
    .await?)
}

/// Changes the pending text (a draft, or one in review, which goes back to draft:
/// the reviewer must see what is published). A published alert with no pending
/// revision gets a new one: the way to update it.
pub async fn write(
    store: &Store,
    user: &UserInfo,
    number: &AlertNumber,
    text: &AlertText,
) -> Result<Alert> {
    let actor = staff(user)?;
    let c = check_text(text)?;
    let at = store.now_str();
    let mut tx = store.begin().await?;
    let h = head(&mut tx, number).await?;
    let revision = match pending_revision(&mut tx, &h).await? {
        Some((revision, _)) => {
            sqlx::query(
                "UPDATE alert_revisions SET title_ja = $1, title_en = $2, body_ja = $3, body_en = $4, change_ja = $5, change_en = $6, notes = $7, author_id = $8, updated_at = $9
                 WHERE alert_id = $10 AND revision = $11",
            )
            .bind(&c.title_ja)
            .bind(&c.title_en)
            .bind(&c.body_ja)
            .bind(&c.body_en)
            .bind(&c.change_ja)
            .bind(&c.change_en)
            .bind(&c.notes)
            .bind(user.id)
            .bind(&at)
            .bind(h.id)
            .bind(revision)
            .execute(tx.conn())
            .await?;
            revision
        }
        None => {
            let next = h.published_revision.unwrap_or(0) + 1;
            insert_revision(&mut tx, h.id, next, &c, user.id, &at).await?;
            next
        }
    };
    let mut changes = json!({"revision": revision, "title_ja": c.title_ja, "title_en": c.title_en});
    if let Some(cat) = &text.category {
        let cat = check_category(cat)?;
        sqlx::query("UPDATE alerts SET category = $1 WHERE id = $2")
            .bind(&cat)
            .bind(h.id)
            .execute(tx.conn())
            .await?;
        changes["category"] = json!(cat);
    }
    if let Some(tlp) = &text.tlp {
        let tlp = Tlp::parse(tlp)?;
        // A published alert keeps the TLP its readers have until the revision
        // that changes it is published: lowering a restricted alert to CLEAR in a
        // draft must not make the published text public early.
        let sql = match h.published_revision {
            Some(_) if h.tlp == Tlp::Clear && tlp != Tlp::Clear => {
                return Err(PublishError::Conflict(
                    "a published TLP:CLEAR alert is public: its TLP cannot be raised (write a restricted alert instead)".into(),
                ));
            }
            Some(_) => "UPDATE alerts SET next_tlp = $1 WHERE id = $2",
            None => "UPDATE alerts SET tlp = $1 WHERE id = $2",
        };
        sqlx::query(sql)
            .bind(tlp.as_str())
            .bind(h.id)
            .execute(tx.conn())
            .await?;
        changes["tlp"] = json!(tlp.as_str());
    }
    sqlx::query("UPDATE alerts SET status = 'draft' WHERE id = $1")
        .bind(h.id)
        .execute(tx.conn())
        .await?;
    if h.status == AlertStatus::Review {
        changes["status"] = json!(["review", "draft"]);
    }
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "alert.write",
            object_type: "alert",
            object_id: number.as_str().into(),
            changes,
        },
    )
    .await?;
    tx.commit().await?;
    get(store, number.as_str(), Viewer::Staff, store.now())
        .await?
        .ok_or(PublishError::NotFound("alert"))
}

/// Asks for review of the pending revision.
pub async fn submit(store: &Store, user: &UserInfo, number: &AlertNumber) -> Result<Alert> {
    let actor = staff(user)?;
    let mut tx = store.begin().await?;
    let h = head(&mut tx, number).await?;
    let Some((revision, _)) = pending_revision(&mut tx, &h).await? else {
        return Err(PublishError::Conflict(
            "nothing to review: write a new revision first".into(),
        ));
    };
    if h.status != AlertStatus::Draft {
        return Err(PublishError::Conflict(format!(
            "the alert is {}, not a draft",
            h.status.as_str()
        )));
    }
    if revision > 1 {
        let change: String = sqlx::query_scalar(
            "SELECT change_ja || change_en FROM alert_revisions WHERE alert_id = $1 AND revision = $2",
        )
        .bind(h.id)
        .bind(revision)
        .fetch_one(tx.conn())
        .await?;
        if change.trim().is_empty() {
            return Err(PublishError::invalid(
                "change_ja",
                "an update says what changed (change_ja or change_en)",
            ));
        }
    }
    sqlx::query("UPDATE alerts SET status = 'review' WHERE id = $1")
        .bind(h.id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "alert.submit",
            object_type: "alert",
            object_id: number.as_str().into(),
            changes: json!({"revision": revision, "status": ["draft", "review"]}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, number.as_str(), Viewer::Staff, store.now())
        .await?
        .ok_or(PublishError::NotFound("alert"))
}

/// Publishes the revision in review. The reviewer is never its author. An early
/// warning (any TLP but CLEAR) goes to the organizations it is addressed to, by
/// mail in the same transaction; it needs at least one.
pub async fn publish(
    store: &Store,
    user: &UserInfo,
    number: &AlertNumber,
    now: DateTime<Utc>,
    mail: &warnings::Settings,
) -> Result<Alert> {
    let actor = staff(user)?;
    let at = time::format(now);
    let mut tx = store.begin().await?;
    let h = head(&mut tx, number).await?;
    if h.status != AlertStatus::Review {
        return Err(PublishError::Conflict(format!(
            "only an alert in review is published; this one is {}",
            h.status.as_str()
        )));
    }
    let Some((revision, author)) = pending_revision(&mut tx, &h).await? else {
        return Err(PublishError::Conflict("nothing in review".into()));
    };
    if author == user.id {
        return Err(PublishError::Forbidden(
            "a second coordinator publishes an alert: its author may not".into(),
        ));
    }
    sqlx::query("UPDATE alert_revisions SET published_at = $1, reviewer_id = $2 WHERE alert_id = $3 AND revision = $4")
        .bind(&at)
        .bind(user.id)
        .bind(h.id)
        .bind(revision)
        .execute(tx.conn())
        .await?;
    let tlp = h.coming_tlp();
    let recipients = warnings::recipient_orgs(&mut tx, h.id).await?;
    if tlp != Tlp::Clear && recipients.is_empty() {
        return Err(PublishError::Conflict(format!(
            "a {tlp} alert is early warning: address it to at least one organization first"
        )));
    }
    sqlx::query(
        "UPDATE alerts SET status = 'published', published_revision = $1, published_at = $2, first_published_at = COALESCE(first_published_at, $2), tlp = $3, next_tlp = NULL WHERE id = $4",
    )
    .bind(revision)
    .bind(&at)
    .bind(tlp.as_str())
    .bind(h.id)
    .execute(tx.conn())
    .await?;
    let mut messages = 0;
    for org in &recipients {
        messages += warnings::queue(&mut tx, mail, h.id, number, revision, tlp, *org).await?;
    }
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "alert.publish",
            object_type: "alert",
            object_id: number.as_str().into(),
            changes: json!({"revision": revision, "status": ["review", "published"], "author": author, "tlp": tlp.as_str(), "organizations": recipients.len(), "messages": messages}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, number.as_str(), Viewer::Staff, store.now())
        .await?
        .ok_or(PublishError::NotFound("alert"))
}

/// An alert's row with what deciding who may read it takes.
#[derive(sqlx::FromRow)]
struct Stored {
    id: i64,
    published_revision: Option<i64>,
    #[sqlx(flatten)]
    alert: Alert,
}

/// One alert as `viewer` may see it; `None` when it does not exist for them.
///
/// Anyone but staff reads it as the public answer: the notes it links to only once
/// they are public ([`renkei_vuln::notes::Disclosure`] at `now`), and no account ids.
pub async fn get(
    store: &Store,
    number: &str,
    viewer: Viewer,
    now: DateTime<Utc>,
) -> Result<Option<Alert>> {
    let Some(Stored {
        id,
        published_revision,
        mut alert,
    }) = sqlx::query_as(
        "SELECT id, number, category, tlp, next_tlp, status, created_at, first_published_at, published_at, published_revision, exercise FROM alerts WHERE number = $1",
    )
    .bind(number.trim())
    .fetch_optional(store.pool())
    .await?
    else {
        return Ok(None);
    };
    let tlp = alert.tlp;
    let recipients = match viewer {
        Viewer::Org(_) if tlp != Tlp::Clear => warnings::recipients_of(store, id).await?,
        _ => Vec::new(),
    };
    if !viewer.may_read_alert(tlp, published_revision.is_some(), &recipients)
        || (alert.exercise && viewer != Viewer::Staff)
    {
        return Ok(None);
    }
    let staff = viewer == Viewer::Staff;
    let mut revisions: Vec<Revision> =
        sqlx::query_as("SELECT * FROM alert_revisions WHERE alert_id = $1 ORDER BY revision")
            .bind(id)
            .fetch_all(store.pool())
            .await?;
    if !staff {
        let disclosure = renkei_vuln::notes::Disclosure::at(store, now).await?;
        for r in &mut revisions {
            r.notes = disclosure.filter(&r.notes);
            r.author_id = None;
            r.reviewer_id = None;
        }
    }
    let (history, pending): (Vec<Revision>, Vec<Revision>) = revisions
        .into_iter()
        .partition(|r| r.published_at.is_some());
    if !staff {
        alert.next_tlp = None;
        alert.status = AlertStatus::Published;
    }
    alert.published = history.last().cloned();
    alert.pending = match staff {
        false => None,
        true => pending.into_iter().last(),
    };
    alert.history = history;
    Ok(Some(alert))
}

/// Alerts newest first: the public sees published TLP:CLEAR ones, with the text
/// they were published with; staff see every alert, with its latest text.
/// Alerts submitted and waiting for a second coordinator to publish them.
pub async fn awaiting_review(store: &Store) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE status = 'review'")
            .fetch_one(store.pool())
            .await?,
    )
}

pub async fn list(
    store: &Store,
    viewer: Viewer,
    category: Option<&str>,
    limit: i64,
) -> Result<Vec<AlertSummary>> {
    // The queries narrow what is read; `may_read_alert` below decides.
    let (sql, org) = match viewer {
        Viewer::Public | Viewer::Org(_) => (
            "SELECT a.number, a.category, a.tlp, a.status, a.created_at, a.first_published_at, a.published_at, a.published_revision, a.exercise, r.revision, r.title_ja, r.title_en, r.body_ja, r.body_en,
                    (SELECT COUNT(*) FROM alert_recipients x WHERE x.alert_id = a.id AND x.org_id = $3) AS addressed
             FROM alerts a JOIN alert_revisions r ON r.alert_id = a.id AND r.revision = a.published_revision
             WHERE a.exercise = 0
               AND (a.tlp = 'TLP:CLEAR' OR EXISTS (SELECT 1 FROM alert_recipients x WHERE x.alert_id = a.id AND x.org_id = $3))
               AND ($1 = '' OR a.category = $1)
             ORDER BY a.published_at DESC, a.id DESC LIMIT $2",
            match viewer {
                Viewer::Org(org) => org,
                _ => -1,
            },
        ),
        Viewer::Staff => (
            "SELECT a.number, a.category, a.tlp, a.status, a.created_at, a.first_published_at, a.published_at, a.published_revision, a.exercise, r.revision, r.title_ja, r.title_en, r.body_ja, r.body_en,
                    (SELECT COUNT(*) FROM alert_recipients x WHERE x.alert_id = a.id AND x.org_id = $3) AS addressed
             FROM alerts a JOIN alert_revisions r ON r.alert_id = a.id
               AND r.revision = (SELECT MAX(revision) FROM alert_revisions x WHERE x.alert_id = a.id)
             WHERE ($1 = '' OR a.category = $1)
             ORDER BY a.id DESC LIMIT $2",
            -1,
        ),
    };
    /// A line with what deciding who may read it takes.
    #[derive(sqlx::FromRow)]
    struct Listed {
        published_revision: Option<i64>,
        addressed: i64,
        #[sqlx(flatten)]
        summary: AlertSummary,
    }
    let rows: Vec<Listed> = sqlx::query_as(sql)
        .bind(category.unwrap_or("").trim())
        .bind(limit.clamp(1, 1000))
        .bind(org)
        .fetch_all(store.pool())
        .await?;
    let staff = viewer == Viewer::Staff;
    let mut out = Vec::with_capacity(rows.len());
    for Listed {
        published_revision,
        addressed,
        mut summary,
    } in rows
    {
        let recipients: &[i64] = if addressed > 0 { &[org] } else { &[] };
        if !viewer.may_read_alert(summary.tlp, published_revision.is_some(), recipients) {
            continue;
        }
        if !staff {
            summary.status = AlertStatus::Published;
        }
        out.push(summary);
    }
    Ok(out)
}

/// A publication of a public alert: its first text or an update.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Publication {
    pub number: String,
    pub revision: i64,
    pub published_at: String,
    pub title_ja: String,
    pub title_en: String,
}

impl Publication {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }

    pub fn is_update(&self) -> bool {
        self.revision > 1
    }
}

/// Every text of a public (TLP:CLEAR) alert published in `[from, to)`, first
/// publications and updates alike, oldest first: the activity report's list.
pub async fn published_between(store: &Store, from: &str, to: &str) -> Result<Vec<Publication>> {
    #[derive(sqlx::FromRow)]
    struct Published {
        tlp: Tlp,
        #[sqlx(flatten)]
        publication: Publication,
    }
    let rows: Vec<Published> = sqlx::query_as(
        "SELECT a.number, a.tlp, r.revision, r.published_at, r.title_ja, r.title_en
         FROM alert_revisions r JOIN alerts a ON a.id = r.alert_id
         WHERE r.published_at >= $1 AND r.published_at < $2 AND a.tlp = 'TLP:CLEAR' AND a.exercise = 0
         ORDER BY r.published_at, a.number",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| Viewer::Public.may_read_alert(r.tlp, true, &[]))
        .map(|r| r.publication)
        .collect())
}

/// The vulnerability notes an alert links to that the public may see, with their
/// pages: [`renkei_vuln::notes::Disclosure`] decides.
pub async fn public_notes(
    store: &Store,
    notes: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>> {
    let disclosure = renkei_vuln::notes::Disclosure::at(store, now).await?;
    Ok(disclosure
        .filter(notes)
        .into_iter()
        .map(|key| {
            let page = renkei_vuln::notes::page_path(&key);
            (key, page)
        })
        .collect())
}

/// The public address of an alert page.
pub fn page_path(number: &str) -> String {
    format!("/alerts/{number}")
}

/// The alerts feed (Atom or RSS 2.0 from the same entries) in one language.
pub fn feed(
    settings: &renkei_vuln::Settings,
    alerts: &[AlertSummary],
    lang: Lang,
    now: DateTime<Utc>,
    self_path: &str,
) -> syndication::Feed {
    syndication::Feed {
        id: format!("{}/feeds/alerts", settings.public_url),
        title: format!(
            "{} — {}",
            settings.vuln.publisher_name,
            catalog(lang).get("publish.feed_alerts")
        ),
        self_link: format!("{}{self_path}", settings.public_url),
        link: format!("{}/alerts", settings.public_url),
        lang: lang.as_str().into(),
        updated: alerts
            .iter()
            .filter_map(|a| a.published_at.clone())
            .max()
            .unwrap_or_else(|| time::format(now)),
        entries: alerts
            .iter()
            .map(|a| {
                let url = format!("{}{}", settings.public_url, page_path(&a.number));
                let summary = clip(&markdown::to_text(a.body(lang)), 600);
                syndication::Entry {
                    // One entry per alert: an update changes the entry, not adds one.
                    id: url.clone(),
                    title: format!("{}: {}", a.number, a.title(lang)),
                    link: url,
                    published: a.first_published_at.clone().unwrap_or_default(),
                    updated: a.published_at.clone().unwrap_or_default(),
                    summary,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_numbers_parse_only_in_their_form() {
        assert!(AlertNumber::parse("AT-2026-0001").is_ok());
        assert!(AlertNumber::parse(" AT-2026-12345 ").is_ok());
        for bad in [
            "",
            "AT-26-0001",
            "AT-2026-1",
            "XX-2026-0001",
            "AT-2026-00a1",
            "AT-2026-0001/../x",
        ] {
            assert!(AlertNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_title_needs_a_text_in_its_language() {
        let t = AlertText {
            title_en: "Patch now".into(),
            ..Default::default()
        };
        assert!(check_text(&t).is_err());
        let t = AlertText {
            title_en: "Patch now".into(),
            body_en: "Do it.".into(),
            ..Default::default()
        };
        assert!(check_text(&t).is_ok());
        assert!(check_text(&AlertText::default()).is_err());
    }
}
