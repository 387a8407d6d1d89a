//! The finder: the person who reported the vulnerability. After the report they get
//! a status page behind a secret link (mailed to them, and shown once after the
//! form): where the case stands in plain words, the agreed publication date once
//! there is one, a thread with the coordinators (by the page or by mail), files, and
//! how they want to be credited. When the note is published they are told.
//!
//! The link opens this one case's finder page and nothing else: no vendor, no
//! vendor thread, no other case. Coordinators read and answer the finder's thread
//! on the case page.

use chrono::Duration;
use renkei_core::lang::Lang;
use renkei_mail::conversations::{self, Direction, Incoming, Message, Outgoing, Owner, links};

use super::*;

/// The owner kind of a finder's thread; the owner id is the case's.
pub const FINDER: &str = "case_finder";

/// Where the case stands, as a finder reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Received; the coordinators are looking at it.
    Received,
    /// The vendors have been contacted; coordination is under way.
    Coordinating,
    /// Every vendor agreed on one publication date, or publication is scheduled.
    DateAgreed,
    /// The note is public.
    Published,
    /// Closed without a note.
    Closed,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Received => "received",
            Standing::Coordinating => "coordinating",
            Standing::DateAgreed => "date_agreed",
            Standing::Published => "published",
            Standing::Closed => "closed",
        }
    }
}

/// How a finder wants to be credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditAs {
    Name,
    Handle,
    Anonymous,
}

impl CreditAs {
    pub fn parse(s: &str) -> Result<CreditAs> {
        match s.trim() {
            "name" => Ok(CreditAs::Name),
            "handle" => Ok(CreditAs::Handle),
            "anonymous" => Ok(CreditAs::Anonymous),
            other => Err(VulnError::invalid(
                "credit_as",
                format!("{other:?}: use name, handle or anonymous"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CreditAs::Name => "name",
            CreditAs::Handle => "handle",
            CreditAs::Anonymous => "anonymous",
        }
    }
}

/// What the finder's page shows.
#[derive(Debug, Clone, Serialize)]
pub struct FinderView {
    pub case: String,
    pub title: String,
    pub received_at: String,
    pub standing: Standing,
    /// The agreed (or scheduled) publication moment, once there is one.
    pub publish_at: Option<String>,
    /// The note's public address, once it is out.
    pub note_url: Option<String>,
    pub note_key: Option<String>,
    pub credit: String,
    pub credit_as: String,
    /// What the note will say, as things stand.
    pub credited: Option<String>,
    pub reporter_name: String,
    /// The finder's thread with the coordinators (internal notes left out).
    pub messages: Vec<Message>,
}

/// A file a finder adds on the page.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

fn owner(case_id: i64) -> Owner {
    Owner::new(FINDER, case_id)
}

/// A mail from the team to the finder, kept in their thread.
struct ToFinder<'a> {
    kind: &'a str,
    author: &'a Actor,
    subject: &'a str,
    body: &'a str,
    in_reply_to: Option<&'a str>,
    /// Shown on the finder's page.
    shared: bool,
    expects_reply: bool,
    automatic: bool,
}

async fn to_finder(
    tx: &mut Tx,
    settings: &Settings,
    thread: Owner,
    to: &[String],
    m: ToFinder<'_>,
) -> Result<conversations::Sent> {
    Ok(conversations::send(
        tx,
        &[thread],
        &Outgoing {
            kind: m.kind,
            author: m.author,
            from: &settings.from,
            to,
            cc: &[],
            subject: m.subject,
            body: m.body,
            template: None,
            in_reply_to: m.in_reply_to,
            attachments: &[],
            sign: settings.team_key.as_ref(),
            encrypt_to: &[],
            shared: m.shared,
            expects_reply: m.expects_reply,
            automatic: m.automatic,
            exercise: false,
        },
    )
    .await?)
}

/// The status page's address for a secret.
pub fn link(settings: &Settings, secret: &str) -> String {
    format!("{}/vulnerabilities/status/{secret}", settings.public_url)
}

/// Gives the finder of a new case their link and tells them by mail (in `lang`), in
/// the transaction that keeps the case. `None` when the team has no sender address:
/// the page still works, but only through the link shown after the form.
pub(crate) async fn start(
    tx: &mut Tx,
    settings: &Settings,
    case_id: i64,
    key: &CaseId,
    title: &str,
    email: &str,
    lang: Lang,
) -> Result<String> {
    let until = time::format(tx.now() + Duration::days(settings.vuln.finder_link_days.max(1)));
    let secret = links::issue(tx, &owner(case_id), &until).await?;
    if settings.from.trim().is_empty() || email.trim().is_empty() {
        return Ok(secret);
    }
    let words = renkei_core::i18n::catalog(lang);
    let subject = format!("[{key}] {}", words.get("vuln.finder_mail_subject"));
    let body = words.fill(
        "vuln.finder_mail_body",
        &[
            ("case", &key),
            ("title", &title),
            ("link", &link(settings, &secret)),
        ],
    );
    let to = [email.trim().to_string()];
    to_finder(
        tx,
        settings,
        owner(case_id),
        &to,
        ToFinder {
            kind: "case.finder_receipt",
            author: &Actor::system("vulnerability report"),
            subject: &subject,
            body: &body,
            in_reply_to: None,
            shared: true,
            expects_reply: false,
            automatic: true,
        },
    )
    .await?;
    Ok(secret)
}

async fn case_of(store: &Store, secret: &str) -> Result<Option<i64>> {
    Ok(links::open(store, secret)
        .await?
        .filter(|o| o.kind == FINDER)
        .map(|o| o.id))
}

async fn key_of(store: &Store, case_id: i64) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT case_key FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_one(store.pool())
            .await?,
    )
}

fn standing(d: &CaseDetail) -> (Standing, Option<String>) {
    let c = &d.case;
    if let Some(n) = &c.note {
        return if n.published {
            (Standing::Published, Some(n.publish_at.clone()))
        } else {
            (Standing::DateAgreed, Some(n.publish_at.clone()))
        };
    }
    if c.state == "closed" {
        return (Standing::Closed, None);
    }
    let agreed = !d.vendors.is_empty() && d.vendors.iter().all(|v| v.date_answer == "accepted");
    match (&c.proposed_publish_at, agreed) {
        (Some(at), true) => (Standing::DateAgreed, Some(at.clone())),
        _ if !d.vendors.is_empty() => (Standing::Coordinating, None),
        _ => (Standing::Received, None),
    }
}

/// The page a secret opens, or nothing (wrong, revoked or expired alike).
pub async fn view(
    store: &Store,
    settings: &Settings,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<FinderView>> {
    let Some(id) = case_of(store, secret).await? else {
        return Ok(None);
    };
    let key = key_of(store, id).await?;
    let d = detail_for_team(store, settings, &key, now).await?;
    let (standing, publish_at) = standing(&d);
    let messages = conversations::thread(store, &[owner(id)])
        .await?
        .into_iter()
        .filter(|m| m.direction != Direction::Note)
        .collect();
    let c = &d.case;
    let note_key = c
        .note
        .as_ref()
        .filter(|n| n.published)
        .map(|n| n.key.clone());
    Ok(Some(FinderView {
        case: c.key.clone(),
        title: c.title.clone(),
        received_at: c.received_at.clone(),
        standing,
        publish_at,
        note_url: note_key.as_deref().map(|k| settings.note_url(k)),
        note_key,
        credit: c.credit.clone(),
        credit_as: c.credit_as.clone(),
        credited: c.credited(),
        reporter_name: c.reporter_field("name").to_string(),
        messages,
    }))
}

/// One report of a finder who reported while signed in, as their account lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnReport {
    pub case: String,
    pub title: String,
    pub received_at: String,
    pub standing: Standing,
    pub publish_at: Option<String>,
    pub note_url: Option<String>,
}

/// The reports a signed-in finder made, newest first.
pub async fn own_reports(
    store: &Store,
    settings: &Settings,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<OwnReport>> {
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT case_key FROM cases WHERE finder_user_id = $1 ORDER BY received_at DESC, id DESC LIMIT 200",
    )
    .bind(user_id)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let d = detail_for_team(store, settings, &key, now).await?;
        let (standing, publish_at) = standing(&d);
        let c = d.case;
        out.push(OwnReport {
            note_url: c
                .note
                .as_ref()
                .filter(|n| n.published)
                .map(|n| settings.note_url(&n.key)),
            case: c.key,
            title: c.title,
            received_at: c.received_at,
            standing,
            publish_at,
        });
    }
    Ok(out)
}

/// Opens a finder's status page from their account: a fresh link to it, for the
/// account that made the report and no one else ("not found" otherwise). Signed in,
/// the finder needs no mailed link: one the coordinators ended (a leaked one) does
/// not lock them out. Each opening is audited.
pub async fn open_own(
    store: &Store,
    settings: &Settings,
    user_id: i64,
    key: &str,
) -> Result<String> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM cases WHERE case_key = $1 AND finder_user_id = $2")
            .bind(key)
            .bind(user_id)
            .fetch_optional(store.pool())
            .await?;
    let id = id.ok_or(VulnError::NotFound("case"))?;
    let user = accounts::get_user(store, user_id).await?;
    let mut tx = store.begin().await?;
    let until = time::format(tx.now() + Duration::days(settings.vuln.finder_link_days.max(1)));
    let secret = links::issue(&mut tx, &owner(id), &until).await?;
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "case.finder_opened_from_account",
            object_type: "case",
            object_id: key.to_string(),
            changes: json!({"user": user_id}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Adds the finder's text (and files, kept as the team's files of the case) to
/// their thread; `None` when the secret opens nothing.
pub async fn add(store: &Store, secret: &str, text: &str, files: &[Upload]) -> Result<Option<i64>> {
    let text = text.trim();
    if text.is_empty() && files.is_empty() {
        return Err(VulnError::invalid("text", "write what you want to add"));
    }
    if text.chars().count() > 20_000 || text.contains('\0') {
        return Err(VulnError::invalid("text", "at most 20,000 characters"));
    }
    if files.len() > 10 {
        return Err(VulnError::invalid("file", "at most 10 files at once"));
    }
    let Some(id) = case_of(store, secret).await? else {
        return Ok(None);
    };
    let (key, email): (String, String) =
        sqlx::query_as("SELECT case_key, reporter_email FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await?;
    let author = if email.is_empty() {
        "finder".to_string()
    } else {
        email
    };
    let mut tx = store.begin().await?;
    let now = tx.now_str();
    let mut body = text.to_string();
    let mut kept = Vec::new();
    for f in files {
        let file = files::insert(
            &mut tx,
            id,
            "team",
            &f.filename,
            &f.content_type,
            &f.data,
            "finder (status page)",
            &now,
        )
        .await?;
        body.push_str(&format!(
            "\n[{} ({} B, SHA-256 {})]",
            file.filename, file.size, file.sha256
        ));
        kept.push(file.id);
    }
    let message = conversations::record(
        &mut tx,
        &[owner(id)],
        Direction::In,
        &Incoming {
            author: &author,
            body: body.trim(),
            flag: Some("status_page"),
            ..Default::default()
        },
    )
    .await?;
    conversations::share(&mut tx, message, true).await?;
    audit::record(
        &mut tx,
        &Actor::system("finder status page"),
        Event {
            action: "case.finder_message",
            object_type: "case",
            object_id: key,
            changes: json!({"message": message, "files": kept}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(message))
}

/// The finder chooses how the note credits them: by name (their name, or the one
/// they write), by a handle, or not at all. `None` when the secret opens nothing.
pub async fn set_credit(
    store: &Store,
    settings: &Settings,
    secret: &str,
    credit_as: &str,
    credit: &str,
    now: DateTime<Utc>,
) -> Result<Option<FinderView>> {
    let how = CreditAs::parse(credit_as)?;
    let credit = credit.trim();
    if credit.chars().count() > 200 || credit.contains(['\0', '\r', '\n']) {
        return Err(VulnError::invalid(
            "credit",
            "one line, at most 200 characters",
        ));
    }
    let Some(id) = case_of(store, secret).await? else {
        return Ok(None);
    };
    let key = key_of(store, id).await?;
    let d = detail_for_team(store, settings, &key, now).await?;
    if d.case.note.as_ref().is_some_and(|n| n.published) {
        return Err(VulnError::Conflict(
            "the note is published; write to the coordinators to change its credits".into(),
        ));
    }
    let name = d.case.reporter_field("name").to_string();
    let credit = match how {
        CreditAs::Anonymous => String::new(),
        CreditAs::Name if credit.is_empty() => name,
        _ if credit.is_empty() => {
            return Err(VulnError::invalid(
                "credit",
                "write the name or handle to credit",
            ));
        }
        _ => credit.to_string(),
    };
    if how == CreditAs::Name && credit.is_empty() {
        return Err(VulnError::invalid("credit", "write the name to credit"));
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE cases SET credit = $1, credit_as = $2, updated_at = $3 WHERE id = $4")
        .bind(&credit)
        .bind(how.as_str())
        .bind(time::format(now))
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &Actor::system("finder status page"),
        Event {
            action: "case.finder_credit",
            object_type: "case",
            object_id: key.clone(),
            changes: json!({"credit_as": how.as_str(), "credit": credit}),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &key, now).await?;
    view(store, settings, secret, now).await
}

/// The finder's thread as coordinators read it, internal notes included.
pub async fn thread(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Message>> {
    let (d, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    thread_for(store, &d).await
}

/// The same for a case already read through [`authorize`] with the coordinator's
/// view (the case page), without passing the gate again.
pub async fn thread_for(store: &Store, d: &CaseDetail) -> Result<Vec<Message>> {
    if d.view != "coordinator" {
        return Err(VulnError::Core(renkei_core::CoreError::Forbidden));
    }
    Ok(conversations::thread(store, &[owner(d.case.id)]).await?)
}

/// A coordinator writes to the finder: a mail to the address they gave, with their
/// status link's address unchanged (the page shows the message too).
pub async fn reply(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (d, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let body = body.trim();
    if body.is_empty() || body.chars().count() > 100_000 {
        return Err(VulnError::invalid(
            "body",
            "write a message (at most 100,000 characters)",
        ));
    }
    let email = d.case.reporter_field("email").to_string();
    if email.is_empty() {
        return Err(VulnError::invalid(
            "reporter_email",
            "the case has no finder address to write to",
        ));
    }
    if settings.from.trim().is_empty() {
        return Err(VulnError::invalid(
            "mail.from",
            "set the team's sender address first",
        ));
    }
    let actor = actor_of(principal);
    let previous = conversations::thread(store, &[owner(d.case.id)]).await?;
    let parent = previous
        .iter()
        .rev()
        .find(|m| m.direction == Direction::In && m.message_id.is_some())
        .and_then(|m| m.message_id.clone());
    let subject = format!("[{}] {}", d.case.key, d.case.title);
    let subject: String = subject.chars().take(200).collect();
    let subject = subject.replace(['\r', '\n'], " ");
    let to = [email];
    let mut tx = store.begin().await?;
    let sent = to_finder(
        &mut tx,
        settings,
        owner(d.case.id),
        &to,
        ToFinder {
            kind: "case.finder_message",
            author: &actor,
            subject: &subject,
            body,
            in_reply_to: parent.as_deref(),
            shared: true,
            expects_reply: true,
            automatic: false,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "case.finder_reply",
            object_type: "case",
            object_id: d.case.key.clone(),
            changes: json!({"message": sent.message, "outbox": sent.outbox}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(sent.message)
}

/// Ends the finder's links and mails them a new one (a finder who forwarded the
/// mail by mistake, or whose link ran out).
pub async fn send_new_link(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    lang: Lang,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (d, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let email = d.case.reporter_field("email").to_string();
    if email.is_empty() || settings.from.trim().is_empty() {
        return Err(VulnError::invalid(
            "reporter_email",
            "a new link needs the finder's address and the team's sender address",
        ));
    }
    let o = owner(d.case.id);
    let mut tx = store.begin().await?;
    let ended = links::revoke(&mut tx, &o).await?;
    let until = time::format(now + Duration::days(settings.vuln.finder_link_days.max(1)));
    let secret = links::issue(&mut tx, &o, &until).await?;
    let words = renkei_core::i18n::catalog(lang);
    let subject = format!("[{}] {}", d.case.key, words.get("vuln.finder_link_subject"));
    let body = words.fill(
        "vuln.finder_link_body",
        &[("case", &d.case.key), ("link", &link(settings, &secret))],
    );
    let to = [email];
    let actor = actor_of(principal);
    let sent = to_finder(
        &mut tx,
        settings,
        o,
        &to,
        ToFinder {
            kind: "case.finder_link",
            author: &actor,
            subject: &subject,
            body: &body,
            in_reply_to: None,
            shared: false,
            expects_reply: false,
            automatic: false,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "case.finder_link",
            object_type: "case",
            object_id: d.case.key.clone(),
            changes: json!({"ended": ended, "message": sent.message}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(sent.message)
}

/// Tells each finder whose case's note has come out, once, with its address.
/// Returns the cases whose finders were told.
pub async fn tell_published(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    if settings.from.trim().is_empty() {
        return Ok(Vec::new());
    }
    let now_s = time::format(now);
    let due: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT c.id, c.case_key, c.reporter_email, n.note_key, c.title FROM cases c JOIN notes n ON n.case_id = c.id \
         WHERE c.finder_told_at IS NULL AND n.publish_at <= $1 ORDER BY c.id LIMIT 200",
    )
    .bind(&now_s)
    .fetch_all(store.pool())
    .await?;
    let mut told = Vec::new();
    for (id, key, email, note_key, title) in due {
        let mut tx = store.begin().await?;
        let claimed = sqlx::query(
            "UPDATE cases SET finder_told_at = $1 WHERE id = $2 AND finder_told_at IS NULL",
        )
        .bind(&now_s)
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let email = email.trim().to_string();
        let mut message = None;
        if !email.is_empty() {
            // Both languages: the case does not record which one the finder used.
            let (ja, en) = (
                renkei_core::i18n::catalog(Lang::Ja),
                renkei_core::i18n::catalog(Lang::En),
            );
            let url = settings.note_url(&note_key);
            let fill = |w: &renkei_core::i18n::Catalog| {
                w.fill(
                    "vuln.finder_published_body",
                    &[
                        ("case", &key),
                        ("note", &note_key),
                        ("url", &url),
                        ("title", &title),
                    ],
                )
            };
            let body = format!("{}\n\n----\n\n{}", fill(ja), fill(en));
            let subject = format!(
                "[{key}] {} / {}",
                ja.get("vuln.finder_published_subject"),
                en.get("vuln.finder_published_subject")
            );
            let to = [email];
            let sent = to_finder(
                &mut tx,
                settings,
                owner(id),
                &to,
                ToFinder {
                    kind: "case.finder_published",
                    author: &Actor::system("vulnerability notes"),
                    subject: &subject,
                    body: &body,
                    in_reply_to: None,
                    shared: true,
                    expects_reply: false,
                    automatic: true,
                },
            )
            .await?;
            message = Some(sent.message);
        }
        audit::record(
            &mut tx,
            &Actor::system("vulnerability notes"),
            Event {
                action: "case.finder_told_published",
                object_type: "case",
                object_id: key.clone(),
                changes: json!({"note": note_key, "message": message}),
            },
        )
        .await?;
        tx.commit().await?;
        told.push(key);
    }
    Ok(told)
}
