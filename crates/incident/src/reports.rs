//! Intake: every report is stored exactly as received, with its SHA-256, and committed
//! before anything reads it, so a parser failure never loses a report. Processing then
//! parses, extracts, classifies and creates the incidents, or marks the report for
//! review with the reason.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use chrono::Duration;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::store::Tx;
use renkei_core::tlp::Tlp;
use renkei_core::{Store, time};
use renkei_formats::extract::{self, Indicators, Role};
use renkei_formats::report::{Format, Host, ParsedReport, Party};
use renkei_formats::{iodef, mime, xarf};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use renkei_mail::conversations::{self, Outgoing, Owner};

use crate::classify::{Category, Classification, classify};
use crate::replies;
use crate::{IncidentError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    Api,
    Mail,
    Import,
    /// Taken by a coordinator on the telephone.
    Phone,
    /// Received by fax and typed in by a coordinator.
    Fax,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Mail => "mail",
            Channel::Import => "import",
            Channel::Phone => "phone",
            Channel::Fax => "fax",
        }
    }

    /// The channels a coordinator enters a report for: by the form, or as taken on
    /// the telephone or from a fax.
    pub fn entered_by_staff(s: &str) -> Result<Channel> {
        match s.trim() {
            "" | "web" => Ok(Channel::Web),
            "phone" => Ok(Channel::Phone),
            "fax" => Ok(Channel::Fax),
            other => Err(IncidentError::invalid(
                "received_by",
                format!("{other:?}: web, phone or fax"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Form,
    Mail,
    Iodef,
    Xarf,
}

impl InputFormat {
    pub fn parse(s: &str) -> Result<InputFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "form" | "json" => Ok(InputFormat::Form),
            "mail" | "eml" | "rfc822" => Ok(InputFormat::Mail),
            "iodef" => Ok(InputFormat::Iodef),
            "xarf" | "x-arf" => Ok(InputFormat::Xarf),
            other => Err(IncidentError::invalid(
                "format",
                format!("unknown format {other:?}; use mail, iodef, xarf or form"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Form => "form",
            InputFormat::Mail => "mail",
            InputFormat::Iodef => "iodef",
            InputFormat::Xarf => "xarf",
        }
    }
}

/// The fields of the public web form and of `POST /api/v1/reports`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FormReport {
    /// The organization whose site was attacked.
    pub site_org: String,
    #[serde(default)]
    pub site_url: Option<String>,
    pub reporter_name: String,
    pub reporter_email: String,
    #[serde(default)]
    pub reporter_phone: Option<String>,
    /// Affected hosts: addresses or names.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// When it happened, as the reporter puts it.
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// What happened.
    pub description: String,
    /// Pasted logs.
    #[serde(default)]
    pub logs: String,
    /// TLP chosen by the reporter; TLP:AMBER when not given.
    #[serde(default)]
    pub tlp: Option<String>,
    /// The reporter agrees that the team contacts the site about it.
    #[serde(default)]
    pub consent_mediation: Option<bool>,
    /// The reporter agrees to be named to the site.
    #[serde(default)]
    pub consent_named: Option<bool>,
    /// For a coordinator entering a report taken by telephone or fax: `phone`, `fax`.
    #[serde(default)]
    pub received_by: Option<String>,
    /// The language the reporter wrote in (`ja` or `en`; the form's own), for the
    /// words Renkei adds, such as the subject; Japanese when not given.
    #[serde(default)]
    pub lang: Option<String>,
    /// A drill (staff only): listed apart, never counted, its mail to the sink.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exercise: bool,
}

impl FormReport {
    pub fn validate(&self) -> Result<Tlp> {
        let need = |field: &'static str, v: &str, max: usize| {
            let n = v.trim().chars().count();
            if n == 0 {
                Err(IncidentError::invalid(field, "is required"))
            } else if n > max {
                Err(IncidentError::invalid(
                    field,
                    format!("must be at most {max} characters"),
                ))
            } else {
                Ok(())
            }
        };
        need("site_org", &self.site_org, 300)?;
        need("reporter_name", &self.reporter_name, 200)?;
        renkei_core::accounts::validate_email(&self.reporter_email).map_err(|_| {
            IncidentError::invalid(
                "reporter_email",
                format!("{:?} is not an e-mail address", self.reporter_email),
            )
        })?;
        if self.description.trim().is_empty() && self.logs.trim().is_empty() {
            return Err(IncidentError::invalid(
                "description",
                "say what happened (or paste logs)",
            ));
        }
        if self.hosts.len() > 1000 {
            return Err(IncidentError::invalid("hosts", "at most 1000 hosts"));
        }
        // A time that cannot be read is refused, not dropped: the reporter fixes it.
        if let Some(t) = self
            .occurred_at
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            && chrono::DateTime::parse_from_rfc3339(t).is_err()
        {
            return Err(IncidentError::invalid(
                "occurred_at",
                format!(
                    "{t:?} is not a time; write it as 2024-01-15 07:22 or 2024-01-15T07:22:18+09:00"
                ),
            ));
        }
        match self.tlp.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => Tlp::parse(t).map_err(|e| IncidentError::invalid("tlp", e.to_string())),
            None => Ok(Tlp::Amber),
        }
    }

    fn parsed(&self) -> ParsedReport {
        let mut r = ParsedReport::new(Format::Form);
        r.reporter = Party {
            name: Some(self.reporter_name.trim().to_string()),
            email: Some(self.reporter_email.trim().to_lowercase()),
            org: Some(self.site_org.trim().to_string()),
        };
        let lang = self
            .lang
            .as_deref()
            .and_then(|l| renkei_core::lang::Lang::parse(l).ok())
            .unwrap_or(renkei_core::lang::Lang::Ja);
        r.subject = Some(
            renkei_core::i18n::catalog(lang)
                .fill("report.form_subject", &[("org", &self.site_org.trim())]),
        );
        for h in &self.hosts {
            let h = h.trim();
            if h.is_empty() {
                continue;
            }
            let mut host = Host::default();
            match h.parse::<IpAddr>() {
                Ok(ip) => host.ip = Some(ip),
                Err(_) => host.name = Some(h.to_string()),
            }
            r.targets.push(host);
        }
        r.occurred_at = self
            .occurred_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        let mut text = vec![self.description.clone()];
        if let Some(url) = &self.site_url {
            text.push(format!("site: {url}"));
        }
        if let Some(when) = &self.occurred_at {
            text.push(format!("when: {when}"));
        }
        text.push(self.logs.clone());
        r.text = text.join("\n");
        r
    }
}

/// Operating limits for intake.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Attachments larger than this are kept truncated and flagged.
    pub attachment_limit: usize,
    /// Incidents about the same address within this many days are linked.
    pub link_window_days: i64,
    /// When set, web-form and e-mail reporters get a confirmation with the tracking
    /// number, sent from this address.
    pub confirm_from: Option<String>,
    /// Tables that enrich each new incident's address; none leaves it for later.
    pub enricher: Option<renkei_enrich::Enricher>,
    /// Opens replies encrypted to the team.
    pub team_key: Option<renkei_mail::TeamKey>,
    /// A mail from an address written to within this many days joins that
    /// conversation without a tag or a reference (0: never).
    pub reply_window_days: i64,
    /// Where the server is reached, for the link to the status page.
    pub public_url: String,
    /// The status page's link works this many days (0: none is sent).
    pub status_link_days: i64,
    /// How far a zipped or gzipped attachment may unpack.
    pub unpack: renkei_formats::archive::Limits,
    /// Feed files that arrive attached to mail are counted and their notifications
    /// queued with these; without them a file is stored and split, and its chunks
    /// wait (sending the same file again resumes it).
    pub feed_notify: Option<crate::notify::Settings>,
    /// Subject prefixes that mark a mailed report as an exercise.
    pub exercise_tags: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            attachment_limit: 5 * 1024 * 1024,
            link_window_days: 30,
            confirm_from: None,
            enricher: None,
            team_key: None,
            reply_window_days: 30,
            public_url: String::new(),
            status_link_days: 0,
            unpack: renkei_formats::archive::Limits::default(),
            feed_notify: None,
            exercise_tags: renkei_core::config::MailConfig::default().exercise_tags,
        }
    }
}

/// The confirmation a reporter gets, in both languages: the reporter's is not known.
pub fn confirmation(id: i64) -> (String, String) {
    (
        format!(
            "[RENKEI#{id}] インシデント報告を受け付けました / Your incident report was received"
        ),
        format!(
            "インシデント報告を受け付けました。受付番号は #{id} です。\n\
             本件についてご連絡いただく際は、件名に [RENKEI#{id}] を含めてください。\n\n\
             We have received your incident report. Its tracking number is #{id}.\n\
             Please keep [RENKEI#{id}] in the subject of any mail about it.\n\n\
             -- \nThis message was sent automatically. / このメールは自動送信です。\n"
        ),
    )
}

/// The lines of a mail that give the reporter the status page.
pub fn status_link_text(public_url: &str, secret: &str) -> String {
    format!(
        "\n対応状況の確認と情報の追加はこちらから（このリンクは他の人に教えないでください）:\n\
         You can follow the report and add information here (keep this link to yourself):\n\
         {}/status/{secret}\n",
        public_url.trim_end_matches('/')
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    Processed,
    NeedsReview,
    Threaded,
    /// The team's own outgoing mail, back through the archive copy.
    Archived,
    /// A delivery status notification about mail the team sent.
    Bounce,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Processed => "processed",
            Status::NeedsReview => "needs_review",
            Status::Threaded => "threaded",
            Status::Archived => "archived",
            Status::Bounce => "bounce",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Received,
            Status::Processed,
            Status::NeedsReview,
            Status::Threaded,
            Status::Archived,
            Status::Bounce,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// What became of one report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    pub report: i64,
    pub status: Status,
    pub incidents: Vec<i64>,
    pub category: Option<Category>,
    /// Why the report needs review, when it does.
    pub problem: Option<String>,
    /// The report whose thread this mail joined.
    pub thread_of: Option<i64>,
    /// Feed files the mail carried (a mailed Shadowserver report), by the report
    /// that holds each import.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<i64>,
    /// The carried files themselves, until they are imported after the mail is kept.
    #[serde(skip)]
    pub carried: Vec<CarriedFeed>,
}

impl Outcome {
    /// A report processed, nothing yet made of it.
    fn processed(report: i64) -> Outcome {
        Outcome {
            report,
            status: Status::Processed,
            incidents: Vec::new(),
            category: None,
            problem: None,
            thread_of: None,
            feeds: Vec::new(),
            carried: Vec::new(),
        }
    }
}

/// A bulk feed file that came attached to a mail, waiting to be imported once the
/// mail is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct CarriedFeed {
    pub file: String,
    pub report_type: String,
    /// The type is in the table of Shadowserver types; an unknown one is read with
    /// the same column vocabulary and flagged.
    pub known: bool,
    pub mapping: renkei_formats::feed::Mapping,
    pub data: Vec<u8>,
    pub tlp: String,
}

/// Stores a report exactly as received and returns its number (the tracking number
/// given to the reporter). Nothing is parsed yet.
pub async fn receive(
    store: &Store,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    raw: &[u8],
    tlp: Tlp,
    submitted_by: Option<i64>,
) -> Result<i64> {
    let ids = receive_many(store, actor, channel, format, &[(raw, tlp)], submitted_by).await?;
    Ok(ids[0])
}

/// Stores several reports as received, in one transaction, committed before any of
/// them is read.
pub async fn receive_many(
    store: &Store,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    docs: &[(&[u8], Tlp)],
    submitted_by: Option<i64>,
) -> Result<Vec<i64>> {
    insert(store, actor, channel, format, docs, submitted_by, &[]).await
}

async fn insert(
    store: &Store,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    docs: &[(&[u8], Tlp)],
    submitted_by: Option<i64>,
    intake: &[Option<&str>],
) -> Result<Vec<i64>> {
    let intake: Vec<Option<String>> = (0..docs.len())
        .map(|i| {
            intake
                .get(i)
                .copied()
                .flatten()
                .map(|a| a.trim().to_ascii_lowercase())
        })
        .collect();
    let mut tx = store.begin().await?;
    let mut events = Vec::with_capacity(docs.len());
    let ids = insert_in(
        &mut tx,
        channel,
        format,
        docs,
        submitted_by,
        &intake,
        &mut events,
    )
    .await?;
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    Ok(ids)
}

/// Stores documents as received, in the caller's transaction.
async fn insert_in(
    tx: &mut Tx,
    channel: Channel,
    format: InputFormat,
    docs: &[(&[u8], Tlp)],
    submitted_by: Option<i64>,
    intake: &[Option<String>],
    events: &mut Vec<Event<'static>>,
) -> Result<Vec<i64>> {
    let now = tx.now_str();
    let mut ids = Vec::with_capacity(docs.len());
    // Multi-row inserts, 20 reports each. Both dialects hand out ids in row order
    // within one statement, so the sorted ids returned map back to the rows.
    for (n, chunk) in docs.chunks(20).enumerate() {
        let shas: Vec<String> = chunk
            .iter()
            .map(|(raw, _)| hex::encode(Sha256::digest(raw)))
            .collect();
        let sql = format!(
            "INSERT INTO reports (received_at, channel, format, raw, raw_sha256, raw_size, status, tlp, submitted_by, intake_address) VALUES {} RETURNING id",
            renkei_core::store::value_rows(chunk.len(), 10)
        );
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
        for (((raw, tlp), sha), reached) in chunk.iter().zip(&shas).zip(&intake[n * 20..]) {
            q = q
                .bind(now.clone())
                .bind(channel.as_str())
                .bind(format.as_str())
                .bind(raw.to_vec())
                .bind(sha.clone())
                .bind(raw.len() as i64)
                .bind(Status::Received.as_str())
                .bind(tlp.as_str())
                .bind(submitted_by)
                .bind(reached.clone());
        }
        let chunk_ids = ids_in_row_order(q.fetch_all(tx.conn()).await?, chunk.len(), "reports")?;
        for ((id, (raw, _)), sha) in chunk_ids.iter().zip(chunk).zip(shas) {
            events.push(Event {
                action: "report.received",
                object_type: "report",
                object_id: id.to_string(),
                changes: json!({"channel": channel.as_str(), "format": format.as_str(), "sha256": sha, "size": raw.len()}),
            });
        }
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Receives a batch (committed first), then processes it: for bulk import.
pub async fn ingest_many(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    docs: &[(&[u8], Tlp)],
    submitted_by: Option<i64>,
) -> Result<Vec<Outcome>> {
    let ids = receive_many(store, actor, channel, format, docs, submitted_by).await?;
    process_read(store, settings, actor, channel, format, &ids, docs).await
}

/// A file imported: what became of it, and whether it had been imported before.
#[derive(Debug, Clone)]
pub struct Imported {
    pub outcome: Outcome,
    /// The same bytes were imported before: this is that report, not a new one.
    pub again: bool,
}

/// Imports documents so that importing them again is safe: each is keyed by the
/// SHA-256 of its bytes, and bytes imported before are that same report (finished
/// if it was left `received` by an interrupted run), never a second one.
pub async fn import_many(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    format: InputFormat,
    docs: &[(&[u8], Tlp)],
) -> Result<Vec<Imported>> {
    let shas: Vec<String> = docs
        .iter()
        .map(|(raw, _)| hex::encode(Sha256::digest(raw)))
        .collect();
    let mut earlier: HashMap<String, i64> = HashMap::new();
    let distinct: Vec<&String> = shas.iter().collect::<BTreeSet<_>>().into_iter().collect();
    for chunk in distinct.chunks(100) {
        let sql = format!(
            "SELECT raw_sha256, MIN(id) FROM reports WHERE channel = $1 AND format = $2 AND raw_sha256 IN ({}) GROUP BY raw_sha256",
            renkei_core::store::placeholders(3, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(Channel::Import.as_str())
            .bind(format.as_str());
        for sha in chunk {
            q = q.bind((*sha).clone());
        }
        earlier.extend(q.fetch_all(store.pool()).await?);
    }
    // The first of equal documents in this batch is imported; the rest are it.
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    let fresh: Vec<usize> = (0..shas.len())
        .filter(|i| !earlier.contains_key(&shas[*i]) && taken.insert(shas[*i].as_str()))
        .collect();
    let again: Vec<(&String, i64)> = distinct
        .iter()
        .filter_map(|sha| earlier.get(*sha).map(|id| (*sha, *id)))
        .collect();
    let mut by_sha: HashMap<String, Outcome> = HashMap::new();
    if !again.is_empty() {
        let ids: Vec<i64> = again.iter().map(|(_, id)| *id).collect();
        // process_many answers in the order it was asked.
        let outcomes = process_many(store, settings, actor, &ids).await?;
        for ((sha, _), out) in again.into_iter().zip(outcomes) {
            by_sha.insert(sha.clone(), out);
        }
    }
    let fresh_docs: Vec<(&[u8], Tlp)> = fresh.iter().map(|i| docs[*i]).collect();
    let made = if fresh_docs.is_empty() {
        Vec::new()
    } else {
        ingest_many(
            store,
            settings,
            actor,
            Channel::Import,
            format,
            &fresh_docs,
            None,
        )
        .await?
    };
    for (i, out) in fresh.iter().zip(made) {
        by_sha.insert(shas[*i].clone(), out);
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    Ok(shas
        .iter()
        .map(|sha| {
            let first_time = !earlier.contains_key(sha) && seen.insert(sha.as_str());
            Imported {
                outcome: by_sha[sha].clone(),
                again: !first_time,
            }
        })
        .collect())
}

/// Processes documents just received, without reading them back: one transaction,
/// the earlier incidents of every address looked up at once.
async fn process_read(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    ids: &[i64],
    docs: &[(&[u8], Tlp)],
) -> Result<Vec<Outcome>> {
    let mut tx = store.begin().await?;
    let mut events = Vec::new();
    let mut outcomes =
        process_read_in(&mut tx, settings, channel, format, ids, docs, &mut events).await?;
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    carry(store, settings, actor, &mut outcomes).await;
    Ok(outcomes)
}

/// [`process_read`] in the caller's transaction; the feeds mail carried are left
/// for [`carry`] once it is committed.
async fn process_read_in(
    tx: &mut Tx,
    settings: &Settings,
    channel: Channel,
    format: InputFormat,
    ids: &[i64],
    docs: &[(&[u8], Tlp)],
    events: &mut Vec<Event<'static>>,
) -> Result<Vec<Outcome>> {
    // Earlier incidents for every address in the batch, in one look.
    // Each document is read once: for the addresses here and for processing below.
    let reads: Vec<Read> = docs
        .iter()
        .map(|(raw, _)| read_document(format, raw, settings))
        .collect();
    let ips: BTreeSet<String> = reads.iter().flat_map(candidate_ips).collect();
    let window_start = time::format(tx.now() - Duration::days(settings.link_window_days));
    let mails: Vec<&ParsedReport> = match format {
        InputFormat::Mail => reads
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|(p, _)| p))
            .collect(),
        _ => Vec::new(),
    };
    let mut batch = Batch {
        recent: load_recent(tx, &ips, &window_start).await?,
        lookups: replies::Lookups::load(tx, settings, &mails).await?,
        replies: Vec::new(),
        reporters: Vec::new(),
        filed: Vec::new(),
        openings: Vec::new(),
    };
    drop(mails);
    let mut outcomes = Vec::with_capacity(ids.len());
    for ((id, (raw, tlp)), read) in ids.iter().zip(docs).zip(reads) {
        let stored = Stored {
            format,
            raw: raw.to_vec(),
            tlp: tlp.as_str().to_string(),
            channel: channel.as_str().to_string(),
            exercise: false,
        };
        outcomes.push(
            process_in(
                tx,
                settings,
                *id,
                stored,
                Some(read),
                events,
                Some(&mut batch),
            )
            .await?,
        );
    }
    let reporters: Vec<(&Owner, &str)> = batch
        .reporters
        .iter()
        .map(|(o, a)| (o, a.as_str()))
        .collect();
    conversations::join_each(tx, &reporters, "reporter").await?;
    write_filed(tx, std::mem::take(&mut batch.filed)).await?;
    let (openings, at): (Vec<Opening>, Vec<usize>) =
        std::mem::take(&mut batch.openings).into_iter().unzip();
    let opened = open_all(tx, settings, &openings, Some(&mut batch.recent)).await?;
    let index: HashMap<i64, usize> = outcomes
        .iter()
        .enumerate()
        .map(|(n, out)| (out.report, n))
        .collect();
    for ((o, at), incidents) in openings.iter().zip(at).zip(opened) {
        events[at].changes["incidents"] = json!(incidents);
        if let Some(n) = index.get(&o.report) {
            outcomes[*n].incidents = incidents;
        }
    }
    let mails: Vec<i64> = batch.replies.iter().map(|r| r.mail).collect();
    let threads = replies::keep(tx, batch.replies, events).await?;
    for (mail, thread) in mails.into_iter().zip(threads) {
        if let Some(o) = outcomes.iter_mut().find(|o| o.report == mail) {
            o.thread_of = thread;
        }
    }
    Ok(outcomes)
}

/// Receives and processes in one go. The report is committed first; if processing
/// then fails, the report is kept (and retried, see [`retry_stuck`]) and the answer
/// says it was received, so that a sender — an MTA behind `mailgate` — does not send
/// it again for ever.
#[allow(clippy::too_many_arguments)]
pub async fn ingest(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    raw: &[u8],
    tlp: Tlp,
    submitted_by: Option<i64>,
) -> Result<Outcome> {
    let id = receive(store, actor, channel, format, raw, tlp, submitted_by).await?;
    process_or_keep(store, settings, actor, id).await
}

/// A mail as the SMTP listener took it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub raw: &'a [u8],
    /// Which of the team's intake addresses it reached (the envelope knows; the
    /// header may not).
    pub reached: Option<&'a str>,
}

/// Receives and processes mails that arrived together, in one transaction: one
/// commit for many mails is what lets a busy listener keep up. Nothing is lost by
/// not committing the raw mails first: the sender is answered only after the
/// commit, and resends what it was not told was taken. Should processing fail
/// (or a reader panic), the mails are stored first and each is processed on its
/// own, so that one bad mail never holds up the others.
pub async fn ingest_mails(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    deliveries: &[Delivery<'_>],
    tlp: Tlp,
) -> Result<Vec<Outcome>> {
    use futures_util::FutureExt;
    let docs: Vec<(&[u8], Tlp)> = deliveries.iter().map(|d| (d.raw, tlp)).collect();
    let reached: Vec<Option<String>> = deliveries
        .iter()
        .map(|d| d.reached.map(|a| a.trim().to_ascii_lowercase()))
        .collect();
    let together = async {
        let mut tx = store.begin().await?;
        let mut events = Vec::with_capacity(docs.len() * 2);
        let ids = insert_in(
            &mut tx,
            Channel::Mail,
            InputFormat::Mail,
            &docs,
            None,
            &reached,
            &mut events,
        )
        .await?;
        let outcomes = process_read_in(
            &mut tx,
            settings,
            Channel::Mail,
            InputFormat::Mail,
            &ids,
            &docs,
            &mut events,
        )
        .await?;
        audit::record_many(&mut tx, actor, events).await?;
        tx.commit().await?;
        Ok::<_, IncidentError>(outcomes)
    };
    let failure = match std::panic::AssertUnwindSafe(together).catch_unwind().await {
        Ok(Ok(mut outcomes)) => {
            carry(store, settings, actor, &mut outcomes).await;
            return Ok(outcomes);
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "reading it failed unexpectedly (a defect in Renkei)".to_string(),
    };
    tracing::warn!(mails = docs.len(), error = %failure, "a batch of mail failed together; each is stored and tried on its own");
    let reached: Vec<Option<&str>> = deliveries.iter().map(|d| d.reached).collect();
    let ids = insert(
        store,
        actor,
        Channel::Mail,
        InputFormat::Mail,
        &docs,
        None,
        &reached,
    )
    .await?;
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        let alone = std::panic::AssertUnwindSafe(process_or_keep(store, settings, actor, id))
            .catch_unwind()
            .await;
        outcomes.push(match alone {
            Ok(outcome) => outcome?,
            Err(_) => set_aside_unread(store, actor, id, &failure).await?,
        });
    }
    Ok(outcomes)
}

/// Sets a stored report aside for review without reading it again: reading it
/// panicked, and would again.
async fn set_aside_unread(store: &Store, actor: &Actor, id: i64, reason: &str) -> Result<Outcome> {
    let mut tx = store.begin().await?;
    let mut events = Vec::new();
    let outcome = Outcome::processed(id);
    let outcome = set_aside(&mut tx, id, reason.to_string(), &mut events, outcome).await?;
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Adds files to a report (a coordinator's, to send with a mail), audited; returns
/// their numbers.
pub async fn add_files(
    store: &Store,
    actor: &Actor,
    report: i64,
    files: &[crate::incidents::Upload],
) -> Result<Vec<i64>> {
    crate::incidents::report(store, report).await?;
    let mut tx = store.begin().await?;
    let added = crate::incidents::add_files(&mut tx, report, files, &actor.label).await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.files_added",
            object_type: "report",
            object_id: report.to_string(),
            changes: json!({"files": added.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(added.into_iter().map(|(id, _)| id).collect())
}

/// How many times processing is tried before a report is set aside for review.
pub const MAX_ATTEMPTS: i64 = 2;

/// Processes a received report; on failure records the attempt (and, at the last
/// one, sets the report to `needs_review` with the reason) instead of failing.
async fn process_or_keep(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    id: i64,
) -> Result<Outcome> {
    match process(store, settings, actor, id).await {
        Ok(out) => Ok(out),
        Err(e) => {
            tracing::warn!(report = id, error = %e, "processing a report failed; it is kept and will be retried");
            let status = failed_attempt(store, actor, id, &e.to_string()).await?;
            Ok(Outcome {
                report: id,
                status,
                incidents: Vec::new(),
                category: None,
                problem: Some("the report is kept; processing it failed and is tried again".into()),
                thread_of: None,
                feeds: Vec::new(),
                carried: Vec::new(),
            })
        }
    }
}

/// Counts a failed attempt at processing `id`; at [`MAX_ATTEMPTS`] the report goes
/// to `needs_review` with `reason`. Returns the report's status after.
async fn failed_attempt(store: &Store, actor: &Actor, id: i64, reason: &str) -> Result<Status> {
    let reason = truncate(
        &format!("processing failed: {}", reason.replace('\0', "\u{FFFD}")),
        1000,
    );
    let mut tx = store.begin().await?;
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE reports SET process_attempts = process_attempts + 1, problem = $1 WHERE id = $2 AND status = $3 RETURNING process_attempts",
    )
    .bind(&reason)
    .bind(id)
    .bind(Status::Received.as_str())
    .fetch_optional(tx.conn())
    .await?;
    let status = match attempts {
        Some(n) if n >= MAX_ATTEMPTS => {
            mark(&mut tx, id, Status::NeedsReview, Some(&reason)).await?;
            audit::record(
                &mut tx,
                actor,
                Event {
                    action: "report.needs_review",
                    object_type: "report",
                    object_id: id.to_string(),
                    changes: json!({"problem": reason, "attempts": n}),
                },
            )
            .await?;
            Status::NeedsReview
        }
        _ => Status::Received,
    };
    tx.commit().await?;
    Ok(status)
}

/// Reports still `received` at least `age` after they came in: processing failed,
/// or the node died on the way. Each is tried again; one that fails once more is
/// set to `needs_review` with the reason. Returns how many were tried.
/// Reports set aside for a person to look at (reading failed twice, or the sender
/// is unknown), the newest first; with their count over all.
pub async fn needing_review(store: &Store, limit: i64) -> Result<(i64, Vec<ReviewItem>)> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE status = 'needs_review'")
            .fetch_one(store.pool())
            .await?;
    let list = sqlx::query_as(
        "SELECT id, received_at, channel, subject, problem, flag FROM reports WHERE status = 'needs_review' ORDER BY id DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(store.pool())
    .await?;
    Ok((count, list))
}

/// A report waiting for a person, as a list shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReviewItem {
    pub id: i64,
    pub received_at: String,
    pub channel: String,
    pub subject: Option<String>,
    pub problem: Option<String>,
    pub flag: Option<String>,
}

pub async fn retry_stuck(
    store: &Store,
    settings: &Settings,
    age: Duration,
    limit: i64,
) -> Result<usize> {
    let before = time::format(store.now() - age);
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM reports WHERE status = $1 AND received_at <= $2 ORDER BY id LIMIT $3",
    )
    .bind(Status::Received.as_str())
    .bind(&before)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let actor = Actor::system("intake retry");
    for id in &ids {
        let out = process_or_keep(store, settings, &actor, *id).await?;
        // A report the first attempt never reached (its node died) that fails now
        // is counted once; try it once more so that it, too, ends in review.
        if out.status == Status::Received {
            let _ = process_or_keep(store, settings, &actor, *id).await?;
        }
    }
    Ok(ids.len())
}

/// The longest idempotency key taken (the scope in front of it not counted).
pub const MAX_KEY: usize = 200;

/// Receives and processes a report under the sender's idempotency key: sent again
/// with the same key (a client retrying after a timeout or a node that died), it is
/// the same report, processed once, and the second answer says so. `key` carries its
/// scope (who sent it), so one sender's keys never meet another's reports. Without a
/// key it is [`ingest`], never a repeat.
#[allow(clippy::too_many_arguments)]
pub async fn ingest_once(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    channel: Channel,
    format: InputFormat,
    raw: &[u8],
    tlp: Tlp,
    submitted_by: Option<i64>,
    key: Option<&str>,
) -> Result<(Outcome, bool)> {
    let Some(key) = key else {
        let out = ingest(
            store,
            settings,
            actor,
            channel,
            format,
            raw,
            tlp,
            submitted_by,
        )
        .await?;
        return Ok((out, false));
    };
    if let Some(id) = by_key(store, key).await? {
        return Ok((process_or_keep(store, settings, actor, id).await?, true));
    }
    let now = store.now_str();
    let sha = hex::encode(Sha256::digest(raw));
    let mut tx = store.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO reports (received_at, channel, format, raw, raw_sha256, raw_size, status, tlp, submitted_by, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
    )
    .bind(&now)
    .bind(channel.as_str())
    .bind(format.as_str())
    .bind(raw.to_vec())
    .bind(&sha)
    .bind(raw.len() as i64)
    .bind(Status::Received.as_str())
    .bind(tlp.as_str())
    .bind(submitted_by)
    .bind(key)
    .fetch_optional(tx.conn())
    .await?;
    let Some(id) = id else {
        // The same key from another node a moment ago.
        drop(tx);
        let id = by_key(store, key)
            .await?
            .ok_or(IncidentError::NotFound("report"))?;
        return Ok((process_or_keep(store, settings, actor, id).await?, true));
    };
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.received",
            object_type: "report",
            object_id: id.to_string(),
            changes: json!({"channel": channel.as_str(), "format": format.as_str(), "sha256": sha, "size": raw.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((process_or_keep(store, settings, actor, id).await?, false))
}

async fn by_key(store: &Store, key: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM reports WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// What processing made of a report already processed.
async fn outcome_of(tx: &mut Tx, id: i64, status: Status) -> Result<Outcome> {
    let (problem, category, thread_of): (Option<String>, Option<String>, Option<i64>) =
        sqlx::query_as(
            "SELECT problem, COALESCE(category, proposed_category), thread_of FROM reports WHERE id = $1",
        )
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    let incidents: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM incidents WHERE report_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(tx.conn())
            .await?;
    Ok(Outcome {
        report: id,
        status,
        incidents,
        category: category.as_deref().and_then(|c| Category::parse(c).ok()),
        problem,
        thread_of,
        feeds: Vec::new(),
        carried: Vec::new(),
    })
}

/// Validates and takes a web-form or API report.
pub async fn submit_form(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    channel: Channel,
    form: &FormReport,
    submitted_by: Option<i64>,
) -> Result<Outcome> {
    let tlp = form.validate()?;
    let raw =
        serde_json::to_vec(form).map_err(|e| IncidentError::invalid("form", e.to_string()))?;
    let out = ingest(
        store,
        settings,
        actor,
        channel,
        InputFormat::Form,
        &raw,
        tlp,
        submitted_by,
    )
    .await?;
    note_consent(store, out.report, form).await?;
    Ok(out)
}

/// Keeps the reporter's consent given on the form with the report.
pub async fn note_consent(store: &Store, report: i64, form: &FormReport) -> Result<()> {
    if form.consent_mediation.is_some() || form.consent_named.is_some() {
        store
            .write(
                sqlx::query(
                    "UPDATE reports SET consent_mediation = $1, consent_named = $2 WHERE id = $3",
                )
                .bind(form.consent_mediation.map(i64::from))
                .bind(form.consent_named.map(i64::from))
                .bind(report),
            )
            .await?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// One incident-to-be: a source address, or a host name when there is none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Ip(IpAddr),
    Host(String),
    Unknown,
}

fn sources(parsed: &ParsedReport, found: &Indicators) -> Vec<Source> {
    let mut ips: BTreeSet<IpAddr> = parsed.sources.iter().filter_map(|h| h.ip).collect();
    // A machine-readable report inside says which sources it reports; the
    // addresses around it (relays, the sender's own hosts) are not sources.
    let declared = !parsed.read_as.is_empty() && !parsed.sources.is_empty();
    if declared {
        return if ips.is_empty() {
            parsed
                .sources
                .iter()
                .filter_map(|h| h.name.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(Source::Host)
                .collect()
        } else {
            ips.into_iter().map(Source::Ip).collect()
        };
    }
    ips.extend(found.sources());
    if ips.is_empty() {
        // Nobody said which address attacked: take every address named that is not
        // one of the reporter's own (the targets).
        let targets: BTreeSet<IpAddr> = parsed
            .targets
            .iter()
            .filter_map(|h| h.ip)
            .chain(
                found
                    .ips
                    .iter()
                    .filter(|i| i.role == Role::Target)
                    .map(|i| i.ip),
            )
            .collect();
        ips.extend(
            found
                .ips
                .iter()
                .filter(|i| i.role == Role::Mentioned && !targets.contains(&i.ip))
                .map(|i| i.ip),
        );
    }
    if !ips.is_empty() {
        return ips.into_iter().map(Source::Ip).collect();
    }
    let mut hosts: BTreeSet<String> = parsed
        .sources
        .iter()
        .filter_map(|h| h.name.clone())
        .collect();
    if hosts.is_empty() {
        // A phishing report names sites by URL; an intrusion report names the
        // reporter's own hosts. Either way, one incident per host.
        for url in &found.urls {
            if let Some(host) = url
                .split("://")
                .nth(1)
                .and_then(|r| r.split(['/', ':', '?', '#']).next())
            {
                hosts.insert(host.to_ascii_lowercase());
            }
        }
        hosts.extend(
            parsed
                .targets
                .iter()
                .filter_map(|h| h.name.clone().or(h.ip.map(|i| i.to_string()))),
        );
    }
    if hosts.is_empty() {
        vec![Source::Unknown]
    } else {
        hosts.into_iter().map(Source::Host).collect()
    }
}

fn parse_raw(
    format: InputFormat,
    raw: &[u8],
    settings: &Settings,
) -> std::result::Result<ParsedReport, String> {
    let parsed = match format {
        InputFormat::Form => serde_json::from_slice::<FormReport>(raw)
            .map(|f| f.parsed())
            .map_err(|e| format!("form: {e}")),
        InputFormat::Mail => mime::parse(raw, settings.attachment_limit).map_err(|e| e.to_string()),
        InputFormat::Iodef => iodef::parse(raw).map_err(|e| e.to_string()),
        InputFormat::Xarf => xarf::parse(raw).map_err(|e| e.to_string()),
    };
    // The problem is stored as text too.
    parsed
        .map(ParsedReport::without_nul)
        .map_err(|p| p.replace('\0', "\u{FFFD}"))
}

async fn mark(tx: &mut Tx, id: i64, status: Status, problem: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE reports SET status = $1, problem = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(problem)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// What processing needs of a stored report.
struct Stored {
    format: InputFormat,
    raw: Vec<u8>,
    tlp: String,
    channel: String,
    /// Marked as a drill when it was received.
    exercise: bool,
}

async fn load(tx: &mut Tx, id: i64) -> Result<Stored> {
    let (format, raw, tlp, channel, exercise): (String, Vec<u8>, String, String, i64) =
        sqlx::query_as("SELECT format, raw, tlp, channel, exercise FROM reports WHERE id = $1")
            .bind(id)
            .fetch_optional(tx.conn())
            .await?
            .ok_or(IncidentError::NotFound("report"))?;
    Ok(Stored {
        format: InputFormat::parse(&format)?,
        raw,
        tlp,
        channel,
        exercise: exercise != 0,
    })
}

/// Recent incidents by source address, newest first, loaded once for a whole batch.
type Recent = std::collections::HashMap<String, Vec<(i64, i64)>>;

/// A document as read: its parse (or why it could not be parsed) and indicators.
type Read = std::result::Result<(ParsedReport, Indicators), String>;

fn read_document(format: InputFormat, raw: &[u8], settings: &Settings) -> Read {
    parse_raw(format, raw, settings).map(|parsed| {
        let mut found = extract::extract(parsed.evidence_text());
        // A report forwarded with its text quoted has its addresses only there:
        // with none in the sender's own words, the quoted text is the report.
        if found.ips.is_empty() && parsed.evidence.is_some() {
            found = extract::extract(&parsed.text);
        }
        // A report service's own links (its web interface, its policy page) name
        // the sender, not what it reports.
        if let Some(domain) = parsed
            .reporter
            .email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase())
        {
            let ours = |host: &str| host == domain || host.ends_with(&format!(".{domain}"));
            found.urls.retain(|u| {
                u.split("://")
                    .nth(1)
                    .and_then(|r| r.split(['/', ':', '?', '#']).next())
                    .is_none_or(|h| !ours(&h.to_ascii_lowercase()))
            });
            found.domains.retain(|d| !ours(&d.to_ascii_lowercase()));
        }
        (parsed, found)
    })
}

/// The source addresses a read document will yield incidents for.
fn candidate_ips(read: &Read) -> Vec<String> {
    match read {
        Ok((parsed, found)) => sources(parsed, found)
            .into_iter()
            .filter_map(|s| match s {
                Source::Ip(ip) => Some(ip.to_string()),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// One query per 100 addresses instead of one per incident.
async fn load_recent(tx: &mut Tx, ips: &BTreeSet<String>, window_start: &str) -> Result<Recent> {
    let mut recent = Recent::new();
    let ips: Vec<&String> = ips.iter().collect();
    if tx.dialect() == renkei_core::store::Dialect::Postgres {
        // One list parameter: with a hundred separate ones PostgreSQL's generic
        // plan for the prepared statement scans the table (45 ms a look at 20,000
        // incidents, growing with it) instead of using the index.
        for chunk in ips.chunks(1000) {
            // Addresses hold no comma; the store's driver binds no arrays.
            let list = chunk
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<&str>>()
                .join(",");
            let rows: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT id, report_id, source_ip FROM incidents WHERE source_ip = ANY(string_to_array($2, ',')) AND created_at >= $1 ORDER BY id DESC",
            )
            .bind(window_start)
            .bind(list)
            .fetch_all(tx.conn())
            .await?;
            for (incident, report, ip) in rows {
                let entry = recent.entry(ip).or_default();
                if entry.len() < 20 {
                    entry.push((incident, report));
                }
            }
        }
        return Ok(recent);
    }
    for chunk in ips.chunks(100) {
        let sql = format!(
            "SELECT id, report_id, source_ip FROM incidents WHERE created_at >= $1 AND source_ip IN ({}) ORDER BY id DESC",
            renkei_core::store::placeholders(2, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, i64, String)>(sqlx::AssertSqlSafe(sql))
            .bind(window_start.to_string());
        for ip in chunk {
            q = q.bind((*ip).clone());
        }
        for (incident, report, ip) in q.fetch_all(tx.conn()).await? {
            let entry = recent.entry(ip).or_default();
            if entry.len() < 20 {
                entry.push((incident, report));
            }
        }
    }
    Ok(recent)
}

/// Processes one stored report inside `tx`: reads it (or takes the reading done
/// for its batch), then either files it with mail Renkei sent, joins it to the
/// ticket it names, or classifies it and opens its incidents. The audit events go
/// into `events`, to be written with the batch.
#[allow(clippy::too_many_arguments)]
/// What the documents processed together share: the earlier incidents of their
/// addresses, what routing their mail needs, and the replies among them, kept
/// together once all are read.
struct Batch {
    recent: Recent,
    lookups: replies::Lookups,
    replies: Vec<replies::Reply>,
    /// Reports whose reporter is to join its conversation.
    reporters: Vec<(Owner, String)>,
    /// What reading the reports found, written together (see [`write_filed`]).
    filed: Vec<serde_json::Value>,
    /// The incidents to open, opened together (see [`open_all`]), with where each
    /// report's `report.processed` event is, to name them in it.
    openings: Vec<(Opening, usize)>,
}

async fn process_in(
    tx: &mut Tx,
    settings: &Settings,
    id: i64,
    stored: Stored,
    read: Option<Read>,
    events: &mut Vec<Event<'static>>,
    mut batch: Option<&mut Batch>,
) -> Result<Outcome> {
    let Stored {
        format,
        raw,
        tlp,
        channel,
        exercise,
    } = stored;
    let mut outcome = Outcome::processed(id);

    let (parsed, found) = match read.unwrap_or_else(|| read_document(format, &raw, settings)) {
        Ok(read) => read,
        Err(problem) => return set_aside(tx, id, problem, events, outcome).await,
    };

    let mut stranger = None;
    if format == InputFormat::Mail {
        let alone;
        let lookups = match batch.as_deref() {
            Some(b) => &b.lookups,
            None => {
                alone = replies::Lookups::load(tx, settings, &[&parsed]).await?;
                &alone
            }
        };
        // Mail about mail we sent: our own archive copy, a bounce, or a reply to a
        // notification. None of them is a new report.
        if let Some(done) = answer_to_our_mail(tx, id, &parsed, &raw, events, lookups).await? {
            outcome.status = done.0;
            outcome.thread_of = done.1;
            return Ok(outcome);
        }
        match replies::route(tx, id, &parsed, lookups).await? {
            replies::Routed::Joined(owners) => {
                let reply = replies::Reply::open(tx, settings, id, &parsed, raw, owners).await?;
                outcome.status = Status::Threaded;
                // In a batch the replies are kept together at its end, which
                // fills in the thread.
                match batch.as_deref_mut() {
                    Some(b) => b.replies.push(reply),
                    None => outcome.thread_of = replies::keep(tx, vec![reply], events).await?[0],
                }
                return Ok(outcome);
            }
            replies::Routed::Stranger(tag) => stranger = Some(tag),
            replies::Routed::Nothing => {}
        }
    }

    // A mail that carries a bulk feed (Shadowserver's reports, zipped or not) is
    // read by the feed path: its rows are events, not one incident each.
    if format == InputFormat::Mail && !parsed.attachments.is_empty() {
        match carried_feeds(tx, &parsed, &settings.unpack, &tlp).await? {
            Err(reason) => return set_aside(tx, id, reason, events, outcome).await,
            Ok(carried) if !carried.is_empty() => {
                let filed = batch.as_deref_mut().map(|b| &mut b.filed);
                let class = file_report(tx, id, format, &raw, &parsed, &found, filed).await?;
                events.push(Event {
                    action: "report.processed",
                    object_type: "report",
                    object_id: id.to_string(),
                    changes: json!({
                        "proposed_category": class.category.as_str(),
                        "read_as": parsed.read_as,
                        "feeds": carried.iter().map(|c| json!({"file": c.file, "type": c.report_type, "known": c.known})).collect::<Vec<_>>(),
                    }),
                });
                outcome.category = Some(class.category);
                outcome.carried = carried;
                return Ok(outcome);
            }
            Ok(_) => {}
        }
    }
    let filed = batch.as_deref_mut().map(|b| &mut b.filed);
    let class = file_report(tx, id, format, &raw, &parsed, &found, filed).await?;
    // A drill announces itself in the subject, or was marked when it was sent in
    // (a form's own field, kept in the raw document).
    let exercise = exercise
        || (format == InputFormat::Form
            && serde_json::from_slice::<serde_json::Value>(&raw)
                .is_ok_and(|v| v["exercise"] == json!(true)))
        || (format == InputFormat::Mail
            && crate::exercise::tagged(
                parsed.subject.as_deref().unwrap_or(""),
                &settings.exercise_tags,
            ));
    if exercise {
        sqlx::query("UPDATE reports SET exercise = 1 WHERE id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
    }
    // The reporter takes part in the report's conversation: their replies join it.
    // With no confirmation to send (which would make them a party as its
    // recipient first), a batch adds its reporters together at its end.
    if let Some(email) = parsed.reporter.email.as_deref() {
        let owner = Owner::new(replies::REPORT, id);
        match batch.as_deref_mut() {
            Some(b) if settings.confirm_from.is_none() => {
                b.reporters.push((owner, email.to_string()))
            }
            _ => conversations::join(tx, &owner, email, "reporter").await?,
        }
    }
    if let Some(tag) = stranger {
        sqlx::query("UPDATE reports SET flag = 'unknown_sender' WHERE id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
        events.push(Event {
            action: "report.flagged",
            object_type: "report",
            object_id: id.to_string(),
            changes: json!({"flag": "unknown_sender", "tag": tag, "from": parsed.reporter.email}),
        });
    }
    // In a batch the incidents are opened together at its end, which names them
    // in the outcome and in the event below.
    let opening = (class.category != Category::Inquiry)
        .then(|| opening(settings, id, &tlp, &class, &parsed, &found, exercise));
    if let (Some(o), None) = (&opening, &batch) {
        outcome.incidents = open_all(tx, settings, std::slice::from_ref(o), None)
            .await?
            .remove(0);
    }
    if matches!(channel.as_str(), "web" | "mail") {
        confirm_to_reporter(tx, settings, id, &parsed, exercise).await;
    }
    if let (Some(o), Some(b)) = (opening, batch) {
        b.openings.push((o, events.len()));
    }
    events.push(Event {
        action: "report.processed",
        object_type: "report",
        object_id: id.to_string(),
        changes: json!({
            "proposed_category": class.category.as_str(),
            "rsit": format!("{}/{}", class.rsit.0, class.rsit.1),
            "incidents": outcome.incidents,
            "read_as": parsed.read_as,
        }),
    });
    outcome.category = Some(class.category);
    Ok(outcome)
}

/// Classifies a read report and keeps what was read with it: the reporter, the
/// text, the proposed category and its reasons, the indicators and attachments.
async fn file_report(
    tx: &mut Tx,
    id: i64,
    format: InputFormat,
    raw: &[u8],
    parsed: &ParsedReport,
    found: &Indicators,
    filed: Option<&mut Vec<serde_json::Value>>,
) -> Result<Classification> {
    // Ports the document says were targeted; IODEF reports often put the probed
    // ports under the scanning system's service instead.
    let mut declared_ports: Vec<u16> = parsed
        .targets
        .iter()
        .flat_map(|h| h.ports.iter().copied())
        .collect();
    if format == InputFormat::Iodef {
        declared_ports.extend(parsed.sources.iter().flat_map(|h| h.ports.iter().copied()));
    }
    let class = classify(&parsed.text, parsed.hint.as_deref(), found, &declared_ports);
    let reporter_tld = parsed
        .reporter
        .email
        .as_deref()
        .and_then(|e| e.rsplit_once('@'))
        .and_then(|(_, d)| d.rsplit('.').next())
        .map(str::to_ascii_lowercase);
    let occurred = parsed
        .occurred_at
        .or_else(|| found.times.first().map(extract::utc));
    let (site_org, site_url, phone) = match format {
        InputFormat::Form => {
            let f: FormReport = serde_json::from_slice(raw).unwrap_or_default();
            (Some(f.site_org), f.site_url, f.reporter_phone)
        }
        _ => (None, None, None),
    };
    let capped = Indicators {
        ips: found.ips.iter().take(1000).cloned().collect(),
        domains: found.domains.iter().take(1000).cloned().collect(),
        urls: found.urls.iter().take(1000).cloned().collect(),
        emails: found.emails.iter().take(1000).cloned().collect(),
        ports: found.ports.iter().take(1000).cloned().collect(),
        times: found.times.iter().take(100).cloned().collect(),
        events: found.events.iter().take(1000).cloned().collect(),
    };

    let row = json!({
        "id": id,
        "reporter_name": parsed.reporter.name,
        "reporter_email": parsed.reporter.email,
        "reporter_phone": phone,
        "reporter_org": parsed.reporter.org,
        "reporter_tld": reporter_tld,
        "site_org": site_org,
        "site_url": site_url,
        "subject": parsed.subject,
        "body": truncate(&parsed.text, 1 << 20),
        "occurred_at": occurred.map(time::format),
        "external_id": parsed.external_id,
        "message_id": parsed.message_id,
        "proposed_category": class.category.as_str(),
        "proposed_reasons": serde_json::to_string(&class.reasons).unwrap_or_default(),
        "rsit_class": class.rsit.0,
        "rsit_type": class.rsit.1,
        "scanned_ports": serde_json::to_string(&class.scanned_ports).unwrap_or_default(),
        "comprehensive_scan": class.comprehensive_scan as i64,
        "indicators": serde_json::to_string(&capped).unwrap_or_default(),
        "warnings": serde_json::to_string(&parsed.warnings).unwrap_or_default(),
        "intake_address": parsed.delivered_to.as_deref().map(str::to_ascii_lowercase),
        "search": crate::search::index_text(
            &format!(
                "{}\n{}",
                parsed.subject.as_deref().unwrap_or(""),
                truncate(&parsed.text, 1 << 20)
            ),
            capped.ips.iter().map(|i| i.ip),
        ),
    });
    match filed {
        Some(rows) => rows.push(row),
        None => write_filed(tx, vec![row]).await?,
    }
    for a in &parsed.attachments {
        sqlx::query(
            "INSERT INTO report_attachments (report_id, filename, content_type, size, truncated, sha256, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.size as i64)
        .bind(a.truncated as i64)
        .bind(hex::encode(Sha256::digest(&a.data)))
        .bind(a.data.clone())
        .execute(tx.conn())
        .await?;
    }
    Ok(class)
}

/// Writes what reading reports found (rows as [`file_report`] makes them) and marks
/// them processed, 500 reports a statement: a batch's reports are filed together.
async fn write_filed(tx: &mut Tx, rows: Vec<serde_json::Value>) -> Result<()> {
    use renkei_core::store::JsonCol::{Int, Text};
    const COLUMNS: [(&str, renkei_core::store::JsonCol); 22] = [
        ("id", Int),
        ("reporter_name", Text),
        ("reporter_email", Text),
        ("reporter_phone", Text),
        ("reporter_org", Text),
        ("reporter_tld", Text),
        ("site_org", Text),
        ("site_url", Text),
        ("subject", Text),
        ("body", Text),
        ("occurred_at", Text),
        ("external_id", Text),
        ("message_id", Text),
        ("proposed_category", Text),
        ("proposed_reasons", Text),
        ("rsit_class", Text),
        ("rsit_type", Text),
        ("scanned_ports", Text),
        ("comprehensive_scan", Int),
        ("indicators", Text),
        ("warnings", Text),
        ("intake_address", Text),
    ];
    let sql = format!(
        "UPDATE reports SET status = 'processed', problem = NULL, reporter_name = j.reporter_name, reporter_email = j.reporter_email,
            reporter_phone = j.reporter_phone, reporter_org = j.reporter_org, reporter_tld = j.reporter_tld, site_org = j.site_org,
            site_url = j.site_url, subject = j.subject, body = j.body, occurred_at = j.occurred_at, external_id = j.external_id,
            message_id = j.message_id, proposed_category = j.proposed_category, proposed_reasons = j.proposed_reasons,
            rsit_class = j.rsit_class, rsit_type = j.rsit_type, scanned_ports = j.scanned_ports,
            comprehensive_scan = j.comprehensive_scan, indicators = j.indicators, warnings = j.warnings,
            intake_address = COALESCE(reports.intake_address, j.intake_address), searchable = 1
         FROM {} WHERE reports.id = j.id",
        renkei_core::store::json_rows(tx.dialect(), 1, &COLUMNS)
    );
    for chunk in rows.chunks(500) {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(serde_json::to_string(chunk).unwrap_or_default())
            .execute(tx.conn())
            .await?;
    }
    // The text goes into the full-text index with the report, in the same
    // transaction: a report is searchable the moment it is processed.
    let index = crate::search::index_sql(
        tx.dialect(),
        &renkei_core::store::json_rows(tx.dialect(), 1, &[("id", Int), ("search", Text)]),
    );
    for chunk in rows.chunks(500) {
        sqlx::query(sqlx::AssertSqlSafe(index.clone()))
            .bind(serde_json::to_string(chunk).unwrap_or_default())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// A report's sources as incidents to open: one row each, with what the tables
/// say about its address.
struct Opening {
    report: i64,
    /// The rows as [`open_all`] writes them, all but their place in the batch.
    sources: Vec<serde_json::Value>,
}

/// What [`open_all`] will open for a report: one incident per source it names.
fn opening(
    settings: &Settings,
    id: i64,
    tlp: &str,
    class: &Classification,
    parsed: &ParsedReport,
    found: &Indicators,
    exercise: bool,
) -> Opening {
    let tables = settings.enricher.as_ref().map(|e| e.tables());
    let sources = sources(parsed, found)
        .into_iter()
        .map(|source| {
            let (ip, host) = match source {
                Source::Ip(ip) => (Some(ip.to_string()), None),
                Source::Host(h) => (None, Some(h)),
                Source::Unknown => (None, None),
            };
            // The values used are kept with the incident: reloading tables later
            // must not rewrite what a notification was based on.
            let enrichment = match (&tables, &ip) {
                (Some(t), Some(ip)) => Some(t.lookup_str(ip)),
                _ => None,
            };
            json!({
                "source_ip": ip,
                "source_host": &host,
                "asn": enrichment.as_ref().and_then(|e| e.asn).map(i64::from),
                "country": enrichment.as_ref().and_then(|e| e.country.clone()),
                "enrichment": enrichment.and_then(|e| serde_json::to_string(&e).ok()),
                "report_id": id,
                "tlp": tlp,
                "category": class.category.as_str(),
                "exercise": exercise as i64,
                "ip_key": ip.as_deref().and_then(|i| i.parse().ok()).map(crate::search::ip_key),
                "host_key": host.as_deref().and_then(crate::search::host_key),
            })
        })
        .collect();
    Opening {
        report: id,
        sources,
    }
}

/// Opens the incidents of reports (see [`opening`]), a thousand a statement, and
/// links each to the recent incidents of the same address: from `recent` in a
/// batch (kept up to date as it goes), else looked up. Returns each report's
/// incidents, in the order given.
async fn open_all(
    tx: &mut Tx,
    settings: &Settings,
    openings: &[Opening],
    mut recent: Option<&mut Recent>,
) -> Result<Vec<Vec<i64>>> {
    use renkei_core::store::JsonCol::{Int, Text};
    const COLUMNS: [(&str, renkei_core::store::JsonCol); 12] = [
        ("n", Int),
        ("report_id", Int),
        ("source_ip", Text),
        ("source_host", Text),
        ("tlp", Text),
        ("category", Text),
        ("enrichment", Text),
        ("asn", Int),
        ("country", Text),
        ("exercise", Int),
        ("ip_key", Text),
        ("host_key", Text),
    ];
    let now = tx.now_str();
    let window_start = time::format(tx.now() - Duration::days(settings.link_window_days));
    let rows: Vec<serde_json::Value> = openings
        .iter()
        .flat_map(|o| &o.sources)
        .enumerate()
        .map(|(n, source)| {
            let mut row = source.clone();
            row["n"] = json!(n);
            row
        })
        .collect();
    // One JSON parameter, not twelve values a row: SQLite finds each `$N` by a
    // linear search, and a statement a report was a round trip each.
    let sql = format!(
        "INSERT INTO incidents (report_id, source_ip, source_host, state, tlp, category, created_at, updated_at, enrichment, asn, country, enriched_at, exercise, ip_key, host_key, keyed)
         SELECT j.report_id, j.source_ip, j.source_host, 'new', j.tlp, j.category, $2, $2, j.enrichment, j.asn, j.country,
                CASE WHEN j.enrichment IS NULL THEN NULL ELSE $2 END, j.exercise, j.ip_key, j.host_key, 1
         FROM {} ORDER BY j.n RETURNING id",
        renkei_core::store::json_rows(tx.dialect(), 1, &COLUMNS)
    );
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(1000) {
        let got = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(serde_json::to_string(chunk).unwrap_or_default())
            .bind(&now)
            .fetch_all(tx.conn())
            .await?;
        ids.extend(ids_in_row_order(got, chunk.len(), "incidents")?);
    }
    let mut opened = Vec::with_capacity(openings.len());
    let mut ids = ids.into_iter();
    let mut links: Vec<(i64, i64, String)> = Vec::new();
    for o in openings {
        let mine: Vec<i64> = ids.by_ref().take(o.sources.len()).collect();
        for (source, incident) in o.sources.iter().zip(&mine) {
            let Some(ip) = source["source_ip"].as_str() else {
                continue;
            };
            // A drill's incidents stand apart from the real ones of the address.
            if source["exercise"].as_i64().unwrap_or(0) != 0 {
                continue;
            }
            // Only the most recent few: a scanner reported a thousand times must
            // not make each new report link (and write) a thousand rows.
            let earlier: Vec<i64> = match recent.as_deref_mut() {
                Some(recent) => {
                    let known = recent.entry(ip.to_string()).or_default();
                    let earlier = known
                        .iter()
                        .filter(|(_, r)| *r != o.report)
                        .map(|(i, _)| *i)
                        .take(10)
                        .collect();
                    known.insert(0, (*incident, o.report));
                    earlier
                }
                None => {
                    sqlx::query_scalar(
                        "SELECT id FROM incidents WHERE source_ip = $1 AND report_id <> $2 AND created_at >= $3 ORDER BY id DESC LIMIT 10",
                    )
                    .bind(ip)
                    .bind(o.report)
                    .bind(&window_start)
                    .fetch_all(tx.conn())
                    .await?
                }
            };
            let reason = format!("same source {ip} within {} days", settings.link_window_days);
            for other in earlier {
                links.push((*incident, other, reason.clone()));
                links.push((other, *incident, reason.clone()));
            }
        }
        opened.push(mine);
    }
    for chunk in links.chunks(100) {
        let sql = format!(
            "INSERT INTO incident_links (incident_id, linked_id, reason) VALUES {}",
            renkei_core::store::value_rows(chunk.len(), 3)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (a, b, reason) in chunk {
            q = q.bind(*a).bind(*b).bind(reason.clone());
        }
        q.execute(tx.conn()).await?;
    }
    Ok(opened)
}

/// Confirms receipt to a person who wrote in (by form or mail), never to a machine;
/// the confirmation opens the report's conversation.
async fn confirm_to_reporter(
    tx: &mut Tx,
    settings: &Settings,
    id: i64,
    parsed: &ParsedReport,
    exercise: bool,
) {
    if let (Some(from), Some(to)) = (&settings.confirm_from, &parsed.reporter.email)
        && !parsed.auto_submitted
    {
        let (subject, mut body) = confirmation(id);
        if settings.status_link_days > 0 && !settings.public_url.is_empty() {
            let owner = Owner::new(replies::REPORT, id);
            let until = time::format(tx.now() + Duration::days(settings.status_link_days));
            match conversations::links::issue(tx, &owner, &until).await {
                Ok(secret) => body.push_str(&status_link_text(&settings.public_url, &secret)),
                Err(e) => tracing::warn!(report = id, error = %e, "no status link"),
            }
        }
        let system = Actor::system("intake");
        let queued = conversations::send(
            tx,
            &[Owner::new(replies::REPORT, id)],
            &Outgoing {
                kind: "report.confirmation",
                author: &system,
                from,
                to: std::slice::from_ref(to),
                cc: &[],
                subject: &subject,
                body: &body,
                template: None,
                in_reply_to: parsed.message_id.as_deref(),
                attachments: &[],
                sign: None,
                encrypt_to: &[],
                shared: true,
                expects_reply: false,
                automatic: true,
                exercise,
            },
        )
        .await;
        if let Err(e) = queued {
            // A reporter address the mail library refuses must not lose the report.
            tracing::warn!(report = id, error = %e, "no confirmation queued");
        }
    }
}

/// Handles mail that answers mail Renkei sent; returns the report's status and the
/// thread it joined, or `None` for any other mail.
async fn answer_to_our_mail(
    tx: &mut Tx,
    id: i64,
    parsed: &renkei_formats::report::ParsedReport,
    raw: &[u8],
    events: &mut Vec<Event<'static>>,
    lookups: &replies::Lookups,
) -> Result<Option<(Status, Option<i64>)>> {
    // Our own message, back through the archive copy: the relay took it.
    if let Some(mid) = parsed.message_id.as_deref()
        && lookups.is_ours(mid)
    {
        let ours = renkei_mail::outbox::archive_copy_seen(tx, mid).await?;
        if ours {
            mark(tx, id, Status::Archived, None).await?;
            return Ok(Some((Status::Archived, None)));
        }
    }
    // A delivery status notification: the recipients that failed are marked, and
    // the thread of the mail that bounced says so.
    if let Some(dsn) = renkei_formats::dsn::parse(raw) {
        let owners = replies::owners_of(tx, dsn.original_message_id.as_slice()).await?;
        let notification = owners
            .iter()
            .find(|o| o.kind == replies::NOTIFICATION)
            .map(|o| o.id);
        let mut failed = Vec::new();
        for r in dsn.failed() {
            renkei_enrich::sources::mark_failing(
                tx,
                &r.recipient,
                r.status.as_deref(),
                r.diagnostic.as_deref(),
            )
            .await?;
            failed.push(r.recipient.clone());
            events.push(Event {
                action: "contact.failing",
                object_type: "contact",
                object_id: r.recipient.clone(),
                changes: json!({"status": r.status, "diagnostic": r.diagnostic, "notification": notification, "report": id}),
            });
        }
        mark(tx, id, Status::Bounce, None).await?;
        let thread = replies::keep_bounce(tx, id, owners, parsed, raw).await?;
        return Ok(Some((Status::Bounce, thread)));
    }
    Ok(None)
}

/// The ids a multi-row `INSERT … RETURNING id` gave, in the order of its rows:
/// both dialects hand them out in row order within one statement, though not
/// necessarily return them so.
fn ids_in_row_order(mut ids: Vec<i64>, rows: usize, table: &'static str) -> Result<Vec<i64>> {
    ids.sort_unstable();
    if ids.len() != rows {
        return Err(IncidentError::invalid(
            table,
            "the database returned fewer ids than rows inserted",
        ));
    }
    Ok(ids)
}

/// Sets a report aside for review with the reason, audited.
async fn set_aside(
    tx: &mut Tx,
    id: i64,
    problem: String,
    events: &mut Vec<Event<'static>>,
    mut outcome: Outcome,
) -> Result<Outcome> {
    mark(tx, id, Status::NeedsReview, Some(&problem)).await?;
    events.push(Event {
        action: "report.needs_review",
        object_type: "report",
        object_id: id.to_string(),
        changes: json!({"problem": problem}),
    });
    outcome.status = Status::NeedsReview;
    outcome.problem = Some(problem);
    Ok(outcome)
}

/// The bulk feed files among a mail's attachments, unpacked: CSV files whose name
/// or header says they are Shadowserver reports. An attachment that unpacks past
/// the limits refuses the whole mail (the reason is returned), so that it is kept
/// for review instead of half read.
async fn carried_feeds(
    tx: &mut Tx,
    parsed: &ParsedReport,
    limits: &renkei_formats::archive::Limits,
    tlp: &str,
) -> Result<std::result::Result<Vec<CarriedFeed>, String>> {
    use renkei_formats::{archive, shadowserver};
    let mut files = Vec::new();
    for a in &parsed.attachments {
        let name = a.filename.clone().unwrap_or_default();
        let packed = archive::packing(&a.data).is_some();
        let csv_like = |n: &str| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".csv") || n.ends_with(".csv.gz") || n.ends_with(".zip")
        };
        if !(packed || csv_like(&name) || a.content_type == "text/csv") {
            continue;
        }
        if a.truncated {
            return Ok(Err(format!(
                "attachment {name} is {} bytes, more than intake.attachment_limit_bytes; a feed cannot be read in part",
                a.size
            )));
        }
        match archive::unpack(&name, &a.data, limits) {
            Ok(Some(inner)) => files.extend(inner.into_iter().map(|u| (u.name, u.data))),
            Ok(None) => files.push((name, a.data.clone())),
            Err(e) => return Ok(Err(e.to_string())),
        }
    }
    if files.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let types = crate::feeds::shadowserver_types_in(tx).await?;
    let mut carried = Vec::new();
    for (file, data) in files {
        let header: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data.as_slice())
            .records()
            .next()
            .and_then(|r| r.ok())
            .map(|r| r.iter().map(|h| h.trim().to_ascii_lowercase()).collect())
            .unwrap_or_default();
        if let Some(d) = shadowserver::detect(&file, &header, &types) {
            carried.push(CarriedFeed {
                file,
                report_type: d.report_type,
                known: d.known,
                mapping: d.mapping,
                data,
                tlp: tlp.to_string(),
            });
        }
    }
    Ok(Ok(carried))
}

/// Imports the feed files that mails carried, once the mails are kept: each is a
/// feed import of its own (`shadowserver-<type>`), found again by its hash if the
/// mail comes twice. A failure leaves the mail kept and the import resumable.
async fn carry(store: &Store, settings: &Settings, actor: &Actor, outcomes: &mut [Outcome]) {
    for out in outcomes.iter_mut() {
        for c in std::mem::take(&mut out.carried) {
            match carry_one(store, settings, actor, out.report, &c).await {
                Ok(feed_report) => out.feeds.push(feed_report),
                Err(e) => {
                    tracing::warn!(report = out.report, file = %c.file, error = %e, "a feed file a mail carried was not imported");
                    out.problem = Some(format!("{}: not imported: {e}", c.file));
                }
            }
        }
    }
}

async fn carry_one(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    mail: i64,
    c: &CarriedFeed,
) -> Result<i64> {
    let feed = format!("shadowserver-{}", c.report_type);
    let tlp = Tlp::parse(&c.tlp).unwrap_or(Tlp::Amber);
    let received = crate::feeds::receive(
        store,
        actor,
        &feed,
        &c.mapping,
        &c.data,
        tlp,
        crate::feeds::CHUNK_ROWS,
    )
    .await?;
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE reports SET subject = $1, flag = $2 WHERE id = $3")
        .bind(format!("{} (mail report #{mail})", c.file))
        .bind((!c.known).then_some("unknown_report_type"))
        .bind(received.report)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.feed_carried",
            object_type: "report",
            object_id: mail.to_string(),
            changes: json!({"file": c.file, "feed": feed, "import": received.report, "known_type": c.known}),
        },
    )
    .await?;
    tx.commit().await?;
    if let (Some(notify), Some(enricher)) = (&settings.feed_notify, &settings.enricher) {
        let tables = enricher.tables();
        for chunk in &received.chunks {
            crate::feeds::process_chunk(
                store,
                &tables,
                notify,
                actor,
                received.report,
                chunk,
                "local",
            )
            .await?;
        }
    }
    Ok(received.report)
}

/// Reads a received report and creates what it yields.
pub async fn process(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    id: i64,
) -> Result<Outcome> {
    let mut outcomes = process_many(store, settings, actor, &[id]).await?;
    Ok(outcomes.remove(0))
}

/// Processes several received reports in one transaction, with their audit rows
/// written together: what bulk import uses to keep round trips per document low.
pub async fn process_many(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    ids: &[i64],
) -> Result<Vec<Outcome>> {
    let mut tx = store.begin().await?;
    let mut events = Vec::new();
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        // A report is processed once: one already processed (its sender retried) is
        // answered with what processing made of it. PostgreSQL locks the row so that
        // two nodes do not both take it; SQLite has one writer.
        let lock = match tx.dialect() {
            renkei_core::store::Dialect::Postgres => " FOR UPDATE",
            renkei_core::store::Dialect::Sqlite => "",
        };
        let status: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT status FROM reports WHERE id = $1{lock}"
        )))
        .bind(*id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(IncidentError::NotFound("report"))?;
        match Status::parse(&status) {
            Some(Status::Received) => {}
            Some(done) => {
                outcomes.push(outcome_of(&mut tx, *id, done).await?);
                continue;
            }
            None => {
                return Err(IncidentError::invalid(
                    "report",
                    format!("a report in state {status:?} is not processed"),
                ));
            }
        }
        let stored = load(&mut tx, *id).await?;
        outcomes.push(process_in(&mut tx, settings, *id, stored, None, &mut events, None).await?);
    }
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    carry(store, settings, actor, &mut outcomes).await;
    Ok(outcomes)
}
