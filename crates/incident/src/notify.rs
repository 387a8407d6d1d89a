//! Notifications: telling the owner of an address (its abuse contact, else the
//! national CSIRT) what it did. Incidents are grouped so that each recipient gets one
//! mail covering all its addresses, in its language, from templates the operators
//! edit, with a CSV (and, for CSIRTs, IODEF 2.0) attachment, signed with the team's
//! key and encrypted when the recipient's key is on file. Mail goes through the outbox.

use std::collections::{BTreeMap, HashMap};

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::row::Bit;
use renkei_core::tlp::Tlp;
use renkei_enrich::Enrichment;
use renkei_mail::conversations::{self, Owner, templates};
use renkei_mail::{Attachment, TeamKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::incidents::{self, Incident};
use crate::{IncidentError, Result};

/// How notifications are sent.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The sender, e.g. "Example CSIRT <csirt@example.org>".
    pub from: String,
    /// Hosts outside this country go to their national CSIRT when one is on file.
    pub home_country: Option<String>,
    pub team_key: Option<TeamKey>,
}

impl Settings {
    /// The settings `[mail]` and `[enrich]` give, with the team's key read and checked.
    pub fn from_config(config: &renkei_core::config::Config) -> Result<Settings> {
        let team_key = match config.mail.signing_key_file.as_str() {
            "" => None,
            path => {
                let data = std::fs::read(path).map_err(|e| {
                    IncidentError::invalid("mail.signing_key_file", format!("{path}: {e}"))
                })?;
                Some(
                    TeamKey::parse(&data, &config.mail.signing_key_passphrase).map_err(|e| {
                        IncidentError::invalid("mail.signing_key_file", e.to_string())
                    })?,
                )
            }
        };
        Ok(Settings {
            from: config.mail.from.clone(),
            home_country: Some(config.enrich.home_country.clone()).filter(|c| !c.is_empty()),
            team_key,
        })
    }

    pub(crate) fn team_name(&self) -> String {
        match self.from.split_once('<') {
            Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"').to_string(),
            _ => self.from.clone(),
        }
    }

    fn team_email(&self) -> String {
        self.from
            .rsplit('<')
            .next()
            .unwrap_or(&self.from)
            .trim_end_matches('>')
            .trim()
            .to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    Abuse,
    Csirt,
    Manual,
}

impl RecipientKind {
    pub const ALL: [RecipientKind; 3] = [
        RecipientKind::Abuse,
        RecipientKind::Csirt,
        RecipientKind::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Abuse => "abuse",
            RecipientKind::Csirt => "csirt",
            RecipientKind::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
    pub kind: RecipientKind,
    pub lang: String,
    pub country: Option<String>,
    #[serde(skip)]
    pub pgp_key: Option<String>,
    pub has_key: bool,
}

/// One address in a notification, as the templates see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub incident: i64,
    pub ip: String,
    pub category: String,
    pub first_seen: String,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub country: Option<String>,
    pub ports: Vec<u16>,
    /// What a feed's row said beyond the address (`hostname=…; tag=…`).
    pub details: Option<String>,
}

/// One mail as it will go out.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub recipient: Recipient,
    pub items: Vec<Item>,
    pub tlp: String,
    pub subject: String,
    pub body: String,
    /// Attachment names and sizes (the data is built again when sending).
    pub attachments: Vec<(String, usize)>,
    pub signed: bool,
    pub encrypted: bool,
    /// Things the coordinator should see before sending (a contact that bounced).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unresolved {
    pub incident: i64,
    pub ip: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub mails: Vec<Planned>,
    pub unresolved: Vec<Unresolved>,
}

/// The built-in templates; operators replace them at /admin/templates.
pub fn default_template(lang: &str) -> (&'static str, &'static str) {
    if lang == "ja" {
        (
            "貴組織のネットワークからの不審な通信について ({{ count }} 件)",
            "{{ recipient_name or recipient }} ご担当者様\n\n\
{{ team }} です。\n\
貴組織が管理するネットワーク上の以下のホストについて、インシデントの報告を受けました。\n\
ご確認のうえ、必要な対処をお願いいたします。\n\n\
{% for i in items %}- {{ i.ip }}{% if i.asn %} (AS{{ i.asn }}{% if i.as_name %} {{ i.as_name }}{% endif %}){% endif %} 種別: {{ i.category }} 初回: {{ i.first_seen }}{% if i.ports %} ポート: {{ i.ports | join(\", \") }}{% endif %}\n{% endfor %}\n\
同じ内容を CSV 形式で添付しています。\n\
本メールの取り扱い: {{ tlp }}\n\
返信の際は件名の [RENKEI-N#{{ notification }}] をそのまま残してください。\n\n\
-- \n{{ team }}\n",
        )
    } else {
        (
            "Suspicious activity from your network ({{ count }} address{% if count != 1 %}es{% endif %})",
            "Dear {{ recipient_name or recipient }},\n\n\
This is {{ team }}. We received reports of incidents involving the following\n\
hosts on a network you are responsible for. Please look into them and take the\n\
necessary action.\n\n\
{% for i in items %}- {{ i.ip }}{% if i.asn %} (AS{{ i.asn }}{% if i.as_name %} {{ i.as_name }}{% endif %}){% endif %} category: {{ i.category }}, first seen {{ i.first_seen }}{% if i.ports %}, ports {{ i.ports | join(\", \") }}{% endif %}\n{% endfor %}\n\
The same list is attached as CSV.\n\
Handling: {{ tlp }}\n\
Please keep [RENKEI-N#{{ notification }}] in the subject when you reply.\n\n\
-- \n{{ team }}\n",
        )
    }
}

/// A template as it is used now: the operators' version if there is one.
pub use renkei_mail::conversations::templates::Template;

pub const TEMPLATE: &str = "notification";
pub const TEMPLATE_LANGS: [&str; 2] = ["en", "ja"];

fn shipped(lang: &str) -> templates::Default {
    let (subject, body) = default_template(lang);
    templates::Default { subject, body }
}

pub async fn template(store: &Store, lang: &str) -> Result<Template> {
    Ok(templates::get(store, TEMPLATE, lang, shipped(lang)).await?)
}

/// Saves an operator's template after checking that it renders.
pub async fn set_template(
    store: &Store,
    actor: &Actor,
    lang: &str,
    subject: &str,
    body: &str,
) -> Result<Template> {
    let sample = context_value(
        "Example CSIRT",
        "abuse@isp.example",
        Some("ISP abuse desk"),
        "TLP:AMBER",
        1,
        &[Item {
            incident: 1,
            ip: "192.0.2.1".into(),
            category: "scan".into(),
            first_seen: "2026-01-01T00:00:00Z".into(),
            asn: Some(64500),
            as_name: Some("EXAMPLE-AS".into()),
            country: Some("JP".into()),
            ports: vec![22],
            details: None,
        }],
    );
    templates::save(store, actor, TEMPLATE, lang, subject, body, &sample).await?;
    template(store, lang).await
}

fn render(template: &str, ctx: &minijinja::Value) -> std::result::Result<String, String> {
    templates::render(TEMPLATE, template, ctx).map_err(|e| e.to_string())
}

fn context_value(
    team: &str,
    recipient: &str,
    recipient_name: Option<&str>,
    tlp: &str,
    notification: i64,
    items: &[Item],
) -> minijinja::Value {
    minijinja::context! {
        team => team,
        recipient => recipient,
        recipient_name => recipient_name,
        tlp => tlp,
        notification => notification,
        count => items.len(),
        items => minijinja::Value::from(minijinja::value::Serde(items)),
    }
}

/// Who is told about a host, borrowed from the tables: no allocation, so bulk feeds
/// can choose for every row.
#[derive(Debug, Clone, Copy)]
pub enum Choice<'a> {
    Abuse(&'a renkei_enrich::Contact),
    Csirt(&'a renkei_enrich::Csirt),
}

impl Choice<'_> {
    pub fn email(&self) -> &str {
        match self {
            Choice::Abuse(c) => &c.email,
            Choice::Csirt(c) => &c.email,
        }
    }

    /// The recipient, for a host in `country`.
    pub fn recipient(&self, country: Option<&str>) -> Recipient {
        match self {
            Choice::Csirt(c) => Recipient {
                email: c.email.to_ascii_lowercase(),
                name: Some(c.name.clone()),
                kind: RecipientKind::Csirt,
                lang: c
                    .lang
                    .clone()
                    .unwrap_or_else(|| renkei_enrich::lang_for_country(&c.country).into()),
                country: Some(c.country.clone()),
                has_key: c.pgp_key.is_some(),
                pgp_key: c.pgp_key.clone(),
            },
            Choice::Abuse(c) => Recipient {
                email: c.email.to_ascii_lowercase(),
                name: c.name.clone(),
                kind: RecipientKind::Abuse,
                lang: c.lang.clone().unwrap_or_else(|| {
                    renkei_enrich::lang_for_country(country.unwrap_or("")).into()
                }),
                country: country.map(str::to_string),
                has_key: c.pgp_key.is_some(),
                pgp_key: c.pgp_key.clone(),
            },
        }
    }
}

/// The rule for incidents and feeds alike: the national CSIRT for hosts abroad; else
/// the first abuse contact that does not bounce; else the CSIRT; else, with a
/// warning, a contact that bounced.
pub fn choose<'a>(
    country: Option<&str>,
    abuse: &'a [renkei_enrich::Contact],
    csirt: Option<&'a renkei_enrich::Csirt>,
    home: Option<&str>,
    failing: &std::collections::HashSet<String>,
    warnings: &mut Vec<String>,
) -> Option<Choice<'a>> {
    let abroad = matches!((home, country), (Some(h), Some(c)) if !h.eq_ignore_ascii_case(c));
    if abroad && let Some(c) = csirt {
        return Some(Choice::Csirt(c));
    }
    if let Some(c) = abuse
        .iter()
        .find(|c| !failing.contains(&c.email.to_ascii_lowercase()))
    {
        return Some(Choice::Abuse(c));
    }
    if let Some(first) = abuse.first() {
        warnings.push(format!("{} bounced before", first.email));
        return Some(csirt.map(Choice::Csirt).unwrap_or(Choice::Abuse(first)));
    }
    csirt.map(Choice::Csirt)
}

/// Who gets mail about one incident, and why not if nobody.
fn resolve(
    e: &Enrichment,
    settings: &Settings,
    failing: &std::collections::HashSet<String>,
    warnings: &mut Vec<String>,
) -> std::result::Result<Recipient, String> {
    choose(
        e.country.as_deref(),
        &e.abuse,
        e.csirt.as_ref(),
        settings.home_country.as_deref(),
        failing,
        warnings,
    )
    .map(|c| c.recipient(e.country.as_deref()))
    .ok_or_else(|| {
        if e.asn.is_none() && e.country.is_none() {
            "nothing is known about this address: load enrichment tables or give a recipient".into()
        } else {
            "no abuse contact and no national CSIRT on file: give a recipient".into()
        }
    })
}

/// The abuse contacts of these incidents that bounced before.
async fn failing_among(
    store: &Store,
    incidents: &[Incident],
) -> Result<std::collections::HashSet<String>> {
    let emails: Vec<String> = incidents
        .iter()
        .filter_map(|i| i.enrichment.as_ref())
        .flat_map(|e| e.abuse.iter().map(|c| c.email.to_ascii_lowercase()))
        .collect();
    Ok(renkei_enrich::sources::failing(store, &emails)
        .await?
        .into_iter()
        .map(|f| f.email)
        .collect())
}

/// The sites' contacts for these incidents, resolved as notifications resolve them
/// (one entry per distinct address).
pub async fn sites_of(
    store: &Store,
    settings: &Settings,
    incidents: &[Incident],
) -> Result<Vec<Recipient>> {
    let failing = failing_among(store, incidents).await?;
    let mut out: Vec<Recipient> = Vec::new();
    for i in incidents {
        let Some(e) = &i.enrichment else { continue };
        let mut warnings = Vec::new();
        if let Ok(r) = resolve(e, settings, &failing, &mut warnings)
            && !out.iter().any(|o| o.email == r.email)
        {
            out.push(r);
        }
    }
    Ok(out)
}

struct Draft {
    planned: Planned,
    attachments: Vec<Attachment>,
    incidents: Vec<Incident>,
}

async fn draft(
    store: &Store,
    settings: &Settings,
    ids: &[i64],
    overrides: &HashMap<i64, String>,
    numbering: &mut (dyn FnMut() -> i64 + Send),
) -> Result<(Vec<Draft>, Vec<Unresolved>)> {
    let mut incidents = Vec::with_capacity(ids.len());
    for id in ids {
        incidents.push(incidents::get(store, *id).await?);
    }
    let failing = failing_among(store, &incidents).await?;
    let mut groups: BTreeMap<String, (Recipient, Vec<Incident>, Vec<String>)> = BTreeMap::new();
    let mut unresolved = Vec::new();
    for incident in incidents {
        let Some(ip) = incident.source_ip.clone() else {
            unresolved.push(Unresolved {
                incident: incident.id,
                ip: None,
                reason: "the incident has no source address".into(),
            });
            continue;
        };
        let e = incident
            .enrichment
            .clone()
            .unwrap_or_else(|| Enrichment::empty(&ip));
        let mut warnings = Vec::new();
        let recipient = match overrides
            .get(&incident.id)
            .map(|s| s.trim().to_ascii_lowercase())
        {
            Some(email) if !email.is_empty() => Ok(Recipient {
                email,
                name: None,
                kind: RecipientKind::Manual,
                lang: renkei_enrich::lang_for_country(e.country.as_deref().unwrap_or("")).into(),
                country: e.country.clone(),
                pgp_key: None,
                has_key: false,
            }),
            _ => resolve(&e, settings, &failing, &mut warnings),
        };
        match recipient {
            Ok(r) => {
                let g = groups
                    .entry(r.email.clone())
                    .or_insert_with(|| (r, Vec::new(), Vec::new()));
                g.1.push(incident);
                g.2.extend(warnings);
            }
            Err(reason) => unresolved.push(Unresolved {
                incident: incident.id,
                ip: Some(ip),
                reason,
            }),
        }
    }
    let mut drafts = Vec::new();
    for (_, (recipient, incidents, mut warnings)) in groups {
        let tlp = incidents
            .iter()
            .filter_map(|i| Tlp::parse(&i.tlp).ok())
            .max()
            .unwrap_or(Tlp::Amber);
        if tlp == Tlp::Red {
            warnings
                .push("TLP:RED incidents are included: the recipient may not share them".into());
        }
        let items: Vec<Item> = incidents.iter().map(item).collect();
        let number = numbering();
        let template = template(store, &recipient.lang).await?;
        let ctx = context_value(
            &settings.team_name(),
            &recipient.email,
            recipient.name.as_deref(),
            tlp.as_str(),
            number,
            &items,
        );
        let subject_text =
            render(&template.subject, &ctx).map_err(|e| IncidentError::invalid("template", e))?;
        let body =
            render(&template.body, &ctx).map_err(|e| IncidentError::invalid("template", e))?;
        let subject = format!(
            "[{}] [RENKEI-N#{number}] {}",
            tlp.as_str(),
            subject_text.trim()
        );
        let mut attachments = vec![Attachment {
            filename: format!("renkei-notification-{number}.csv"),
            content_type: "text/csv; charset=utf-8".into(),
            data: csv_of(&items),
        }];
        if recipient.kind == RecipientKind::Csirt {
            attachments.push(Attachment {
                filename: format!("renkei-notification-{number}.iodef.xml"),
                content_type: "application/xml".into(),
                data: iodef_of(settings, &incidents, tlp, &store.now_str()).into_bytes(),
            });
        }
        drafts.push(Draft {
            planned: Planned {
                encrypted: recipient.pgp_key.is_some(),
                signed: settings.team_key.is_some(),
                recipient,
                items,
                tlp: tlp.as_str().into(),
                subject,
                body,
                attachments: attachments
                    .iter()
                    .map(|a| (a.filename.clone(), a.data.len()))
                    .collect(),
                warnings,
            },
            attachments,
            incidents,
        });
    }
    Ok((drafts, unresolved))
}

fn item(i: &Incident) -> Item {
    let e = i.enrichment.as_ref();
    Item {
        incident: i.id,
        ip: i.source_ip.clone().unwrap_or_default(),
        category: i.category.clone().unwrap_or_else(|| "other".into()),
        first_seen: i
            .created_at
            .split('.')
            .next()
            .unwrap_or(&i.created_at)
            .to_string()
            + "Z",
        asn: e.and_then(|e| e.asn),
        as_name: e.and_then(|e| e.as_name.clone()),
        country: e.and_then(|e| e.country.clone()),
        ports: Vec::new(),
        details: None,
    }
}

/// The attachment's columns.
pub const CSV_COLUMNS: [&str; 9] = [
    "ip",
    "asn",
    "as_name",
    "country",
    "category",
    "first_seen",
    "incident",
    "ports",
    "details",
];

/// The attachment's header row.
pub fn csv_header() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_COLUMNS);
    w.into_inner().unwrap_or_default()
}

/// One row of the attachment, in [`CSV_COLUMNS`]' order. Every cell is written so
/// that a spreadsheet shows it as text ([`renkei_formats::csv_safe`]).
pub fn csv_record<W: std::io::Write>(w: &mut csv::Writer<W>, cells: [&str; 9]) {
    use renkei_formats::csv_safe::neutralize;
    let _ = w.write_record(cells.map(neutralize).iter().map(|c| c.as_bytes()));
}

/// Items as CSV: the attachment.
pub fn csv_of(items: &[Item]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(csv_header());
    for i in items {
        let ports: Vec<String> = i.ports.iter().map(u16::to_string).collect();
        let asn = i.asn.map(|a| a.to_string()).unwrap_or_default();
        let incident = i.incident.to_string();
        let ports = ports.join(" ");
        csv_record(
            &mut w,
            [
                i.ip.as_str(),
                &asn,
                i.as_name.as_deref().unwrap_or_default(),
                i.country.as_deref().unwrap_or_default(),
                &i.category,
                &i.first_seen,
                &incident,
                &ports,
                i.details.as_deref().unwrap_or_default(),
            ],
        );
    }
    w.into_inner().unwrap_or_default()
}

/// The items back from [`csv_of`]'s text: how a feed's batches, kept per chunk, are
/// gathered into one notification. Rows that do not read are skipped.
pub fn items_of_csv(data: &[u8]) -> Vec<Item> {
    first_items_of_csv(data, usize::MAX)
}

/// The first `n` items of [`csv_of`]'s text.
pub fn first_items_of_csv(data: &[u8], n: usize) -> Vec<Item> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(data)
        .records()
        .filter_map(|r| r.ok())
        .take(n)
        .map(|r| item_of_record(&r))
        .collect()
}

/// The first `n` items of rows written by [`csv_record`] (no header), read with a
/// reader used again for each.
fn first_items(
    reader: &mut csv::Reader<std::io::Cursor<Vec<u8>>>,
    rows: &[u8],
    n: usize,
) -> Vec<Item> {
    let cursor = reader.get_mut();
    cursor.get_mut().clear();
    cursor.get_mut().extend_from_slice(rows);
    if reader.seek(csv::Position::new()).is_err() {
        return Vec::new();
    }
    let mut record = csv::StringRecord::new();
    let mut out = Vec::new();
    // A row that does not read is passed over; the reader moves on past it.
    for _ in 0..n.saturating_mul(2).max(1) {
        if out.len() >= n {
            break;
        }
        match reader.read_record(&mut record) {
            Ok(true) => out.push(item_of_record(&record)),
            Ok(false) => break,
            Err(_) => continue,
        }
    }
    out
}

fn item_of_record(r: &csv::StringRecord) -> Item {
    let text =
        |i: usize| renkei_formats::csv_safe::restore(r.get(i).unwrap_or_default()).to_string();
    let some = |s: String| (!s.is_empty()).then_some(s);
    Item {
        incident: r.get(6).and_then(|v| v.parse().ok()).unwrap_or(0),
        ip: text(0),
        category: text(4),
        first_seen: text(5),
        asn: r.get(1).and_then(|v| v.parse().ok()),
        as_name: some(text(2)),
        country: some(text(3)),
        ports: r
            .get(7)
            .unwrap_or_default()
            .split_ascii_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        details: some(text(8)),
    }
}

/// The IODEF 2.0 document for incidents (also `renkei incident export`), generated
/// at `generated`.
pub fn iodef_of(settings: &Settings, incidents: &[Incident], tlp: Tlp, generated: &str) -> String {
    let id_name = settings
        .team_email()
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "renkei.invalid".into());
    let restriction = match tlp {
        Tlp::Clear => "white",
        Tlp::Green => "green",
        Tlp::Amber | Tlp::AmberStrict => "amber",
        Tlp::Red => "red",
    };
    let out: Vec<renkei_formats::iodef::OutIncident> = incidents
        .iter()
        .map(|i| {
            let e = i.enrichment.as_ref();
            renkei_formats::iodef::OutIncident {
                id_name: id_name.clone(),
                id: i.id.to_string(),
                restriction: restriction.into(),
                generation_time: generated.to_string(),
                detect_time: Some(i.created_at.clone()),
                description: i
                    .subject
                    .clone()
                    .unwrap_or_else(|| format!("Incident {}", i.id)),
                contact_name: settings.team_name(),
                contact_email: settings.team_email(),
                source: i.source_ip.clone(),
                source_ports: Vec::new(),
                asn: e.and_then(|e| e.asn),
                as_name: e.and_then(|e| e.as_name.clone()),
                country: e.and_then(|e| e.country.clone()),
                category: i.category.clone(),
            }
        })
        .collect();
    renkei_formats::iodef::write_v2(&out)
}

/// What would go out, without sending anything.
pub async fn preview(
    store: &Store,
    settings: &Settings,
    ids: &[i64],
    overrides: &HashMap<i64, String>,
) -> Result<Plan> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM notifications")
        .fetch_one(store.pool())
        .await?;
    let mut n = next;
    let (drafts, unresolved) = draft(store, settings, ids, overrides, &mut || {
        n += 1;
        n
    })
    .await?;
    Ok(Plan {
        mails: drafts.into_iter().map(|d| d.planned).collect(),
        unresolved,
    })
}

/// A notification queued.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub notification: i64,
    pub recipient: String,
    pub kind: RecipientKind,
    pub incidents: Vec<i64>,
    pub outbox: i64,
    pub signed: bool,
    pub encrypted: bool,
}

/// Queues the notifications for `ids`: one mail per recipient, in one transaction
/// with their records, the threads' copies and the audit rows.
pub async fn send(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    ids: &[i64],
    overrides: &HashMap<i64, String>,
) -> Result<(Vec<Sent>, Vec<Unresolved>)> {
    if settings.from.trim().is_empty() {
        return Err(IncidentError::invalid(
            "mail.from",
            "set the team's sender address (mail.from) before sending notifications",
        ));
    }
    let now = store.now_str();
    let exercise = exercise_of(store, ids).await?;
    // Rows are numbered first so that the subject and attachments can name them.
    let mut reserved: Vec<i64> = Vec::new();
    let (drafts, unresolved) = {
        let mut placeholder = 0i64;
        draft(store, settings, ids, overrides, &mut || {
            placeholder += 1;
            -placeholder
        })
        .await?
    };
    let mut tx = store.begin().await?;
    let mut sent = Vec::new();
    let mut events = Vec::new();
    for d in drafts {
        let p = &d.planned;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (created_at, created_by, recipient, recipient_name, recipient_kind, country, lang, category, tlp, subject, addresses, signed, encrypted, exercise)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $11, $12, $13) RETURNING id",
        )
        .bind(&now)
        .bind(&actor.label)
        .bind(&p.recipient.email)
        .bind(&p.recipient.name)
        .bind(p.recipient.kind.as_str())
        .bind(&p.recipient.country)
        .bind(&p.recipient.lang)
        .bind(p.items.first().map(|i| i.category.clone()))
        .bind(&p.tlp)
        .bind(p.items.len() as i64)
        .bind(p.signed as i64)
        .bind(p.encrypted as i64)
        .bind(exercise as i64)
        .fetch_one(tx.conn())
        .await?;
        reserved.push(id);
        // The drafts were numbered with placeholders: put the real number in.
        let placeholder = -(reserved.len() as i64);
        let fix = |s: &str| {
            s.replace(
                &format!("RENKEI-N#{placeholder}"),
                &format!("RENKEI-N#{id}"),
            )
            .replace(
                &format!("renkei-notification-{placeholder}"),
                &format!("renkei-notification-{id}"),
            )
        };
        let subject = fix(&p.subject);
        let body = fix(&p.body);
        let attachments: Vec<Attachment> = d
            .attachments
            .iter()
            .map(|a| Attachment {
                filename: fix(&a.filename),
                content_type: a.content_type.clone(),
                data: a.data.clone(),
            })
            .collect();
        let outbox = queue_mail(
            &mut tx,
            settings,
            id,
            &p.recipient,
            &subject,
            &body,
            &attachments,
            exercise,
        )
        .await?;
        let mut reports: Vec<i64> = Vec::new();
        for i in &d.incidents {
            sqlx::query(
                "INSERT INTO notification_incidents (notification_id, incident_id) VALUES ($1, $2)",
            )
            .bind(id)
            .bind(i.id)
            .execute(tx.conn())
            .await?;
            // Waiting for the site's answer, unless the incident is further along.
            // The notification is the incident's first response, if none came before.
            sqlx::query("UPDATE incidents SET first_response_at = COALESCE(first_response_at, $1), updated_at = $1,
                    state = CASE WHEN state IN ('new', 'triaged', 'coordinating') THEN 'waiting_for_reply' ELSE state END
                 WHERE id = $2")
                .bind(&now)
                .bind(i.id)
                .execute(tx.conn())
                .await?;
            if !reports.contains(&i.report_id) {
                reports.push(i.report_id);
            }
            events.push(Event {
                action: "incident.notified",
                object_type: "incident",
                object_id: i.id.to_string(),
                changes: json!({"notification": id, "recipient": p.recipient.email}),
            });
        }
        // The mail is part of the conversation about each incident and report, and
        // of the notification's own: the site's answer finds its way to all of them.
        let owners: Vec<Owner> = std::iter::once(Owner::new("notification", id))
            .chain(d.incidents.iter().map(|i| Owner::new("incident", i.id)))
            .chain(reports.iter().map(|r| Owner::new("report", *r)))
            .collect();
        conversations::keep_queued(
            &mut tx,
            &owners,
            actor,
            conversations::Queued {
                outbox,
                template: Some(TEMPLATE),
                signed: p.signed,
                encrypted: p.encrypted,
                expects_reply: true,
            },
        )
        .await?;
        events.push(Event {
            action: "notification.queued",
            object_type: "notification",
            object_id: id.to_string(),
            changes: json!({
                "recipient": p.recipient.email,
                "kind": p.recipient.kind.as_str(),
                "incidents": d.incidents.iter().map(|i| i.id).collect::<Vec<_>>(),
                "tlp": p.tlp,
                "signed": p.signed,
                "encrypted": p.encrypted,
                "outbox": outbox,
            }),
        });
        sent.push(Sent {
            notification: id,
            recipient: p.recipient.email.clone(),
            kind: p.recipient.kind,
            incidents: d.incidents.iter().map(|i| i.id).collect(),
            outbox,
            signed: p.signed,
            encrypted: p.encrypted,
        });
    }
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    Ok((sent, unresolved))
}

/// Lines listed in a feed notification's text; all of them are in the attachment.
const FEED_ITEMS_IN_BODY: usize = 200;

/// Queues the day's notification of a feed for one recipient, unless one was already
/// queued for that feed, day and recipient (a feed imported twice). Returns its number.
#[allow(clippy::too_many_arguments)]
pub async fn queue_feed(
    tx: &mut renkei_core::store::Tx,
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    recipient: &Recipient,
    feed: &str,
    day: &str,
    category: &str,
    items: &[Item],
    tlp: Tlp,
) -> Result<Option<i64>> {
    if settings.from.trim().is_empty() {
        return Err(IncidentError::invalid(
            "mail.from",
            "set the team's sender address (mail.from) before sending notifications",
        ));
    }
    let exists: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM notifications WHERE feed = $1 AND feed_day = $2 AND recipient = $3",
    )
    .bind(feed)
    .bind(day)
    .bind(&recipient.email)
    .fetch_optional(tx.conn())
    .await?;
    if exists.is_some() {
        return Ok(None);
    }
    let now = store.now_str();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notifications (created_at, created_by, recipient, recipient_name, recipient_kind, country, lang, category, tlp, subject, addresses, signed, encrypted, feed, feed_day)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(&now)
    .bind(&actor.label)
    .bind(&recipient.email)
    .bind(&recipient.name)
    .bind(recipient.kind.as_str())
    .bind(&recipient.country)
    .bind(&recipient.lang)
    .bind(category)
    .bind(tlp.as_str())
    .bind(items.len() as i64)
    .bind(settings.team_key.is_some() as i64)
    .bind(recipient.pgp_key.is_some() as i64)
    .bind(feed)
    .bind(day)
    .fetch_one(tx.conn())
    .await?;
    let template = template(store, &recipient.lang).await?;
    let shown = &items[..items.len().min(FEED_ITEMS_IN_BODY)];
    let mut ctx = context_value(
        &settings.team_name(),
        &recipient.email,
        recipient.name.as_deref(),
        tlp.as_str(),
        id,
        shown,
    );
    // The count is the whole day's, even when the text lists only the first lines.
    ctx = minijinja::context! { count => items.len(), ..ctx };
    let subject = format!(
        "[{}] [RENKEI-N#{id}] {} ({feed} {day})",
        tlp.as_str(),
        render(&template.subject, &ctx)
            .map_err(|e| IncidentError::invalid("template", e))?
            .trim()
    );
    let body = render(&template.body, &ctx).map_err(|e| IncidentError::invalid("template", e))?;
    let attachments = vec![Attachment {
        filename: format!("renkei-{feed}-{day}.csv"),
        content_type: "text/csv; charset=utf-8".into(),
        data: csv_of(items),
    }];
    let outbox = queue_mail(
        tx,
        settings,
        id,
        recipient,
        &subject,
        &body,
        &attachments,
        false,
    )
    .await?;
    conversations::keep_queued(
        tx,
        &[Owner::new("notification", id)],
        actor,
        conversations::Queued {
            outbox,
            template: Some(TEMPLATE),
            signed: settings.team_key.is_some(),
            encrypted: recipient.pgp_key.is_some(),
            expects_reply: false,
        },
    )
    .await?;
    audit::record(
        tx,
        actor,
        Event {
            action: "notification.queued",
            object_type: "notification",
            object_id: id.to_string(),
            changes: json!({"recipient": recipient.email, "kind": recipient.kind.as_str(), "feed": feed, "day": day, "addresses": items.len(), "outbox": outbox}),
        },
    )
    .await?;
    Ok(Some(id))
}

/// A recipient the mail cannot go to (an address that does not read, a key that
/// does not encrypt) is the user's to fix; anything else is ours.
fn recipient_error(e: renkei_mail::MailError) -> IncidentError {
    match e {
        renkei_mail::MailError::Address(m) | renkei_mail::MailError::Pgp(m) => {
            IncidentError::invalid("recipient", m)
        }
        other => other.into(),
    }
}

/// One recipient's day of a feed, gathered from the file's chunks.
pub struct FeedDay {
    pub recipient: Recipient,
    pub day: String,
    /// The events listed in the attachment.
    pub events: usize,
    /// The attachment's rows, without its header ([`csv_record`]'s).
    pub rows: Vec<u8>,
}

/// Queues the notifications of many recipients' days of one feed, as
/// [`queue_feed`] queues one, in a few statements per table: the day of a
/// national feed names thousands of networks. A recipient's day already queued
/// (the same feed imported again) is skipped. Returns each day's notification.
#[allow(clippy::too_many_arguments)]
pub async fn queue_feed_days(
    tx: &mut renkei_core::store::Tx,
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    feed: &str,
    category: &str,
    tlp: Tlp,
    days: &[FeedDay],
) -> Result<Vec<Option<i64>>> {
    if settings.from.trim().is_empty() {
        return Err(IncidentError::invalid(
            "mail.from",
            "set the team's sender address (mail.from) before sending notifications",
        ));
    }
    if days.is_empty() {
        return Ok(Vec::new());
    }
    // Those queued before: one look for the batch.
    let mut before: std::collections::HashSet<(String, String)> = Default::default();
    for part in days.chunks(200) {
        let on: std::collections::BTreeSet<&str> = part.iter().map(|d| d.day.as_str()).collect();
        let sql = format!(
            "SELECT recipient, feed_day FROM notifications WHERE feed = $1 AND feed_day IN ({}) AND recipient IN ({})",
            renkei_core::store::placeholders(2, on.len()),
            renkei_core::store::placeholders(2 + on.len(), part.len())
        );
        let mut q = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql)).bind(feed);
        for day in &on {
            q = q.bind(*day);
        }
        for d in part {
            q = q.bind(&d.recipient.email);
        }
        before.extend(q.fetch_all(tx.conn()).await?);
    }
    let fresh: Vec<usize> = (0..days.len())
        .filter(|i| !before.contains(&(days[*i].recipient.email.clone(), days[*i].day.clone())))
        .collect();
    let mut out = vec![None; days.len()];
    if fresh.is_empty() {
        return Ok(out);
    }
    let ids = tx.reserve_ids("notifications", fresh.len()).await?;
    let now = store.now_str();
    let team = settings.team_name();

    // Each language's template, read and compiled once.
    let mut compiled: HashMap<String, templates::Compiled> = HashMap::new();
    for i in &fresh {
        let lang = &days[*i].recipient.lang;
        if !compiled.contains_key(lang) {
            let t = template(store, lang).await?;
            let c = templates::Compiled::new(TEMPLATE, &t.subject, &t.body)?;
            compiled.insert(lang.clone(), c);
        }
    }
    let header = csv_header();
    // One reader for every day's first rows: building a CSV reader costs more
    // than reading the few rows a mail's text lists.
    let mut first_rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Cursor::new(Vec::new()));
    let mut subjects = Vec::with_capacity(fresh.len());
    let mut bodies = Vec::with_capacity(fresh.len());
    let mut attachments = Vec::with_capacity(fresh.len());
    let mut tos = Vec::with_capacity(fresh.len());
    for (n, i) in fresh.iter().enumerate() {
        let d = &days[*i];
        let mut csv = Vec::with_capacity(header.len() + d.rows.len());
        csv.extend_from_slice(&header);
        csv.extend_from_slice(&d.rows);
        let shown = first_items(&mut first_rows, &d.rows, FEED_ITEMS_IN_BODY);
        let ctx = context_value(
            &team,
            &d.recipient.email,
            d.recipient.name.as_deref(),
            tlp.as_str(),
            ids[n],
            &shown,
        );
        // The count is the whole day's, even when the text lists only the first lines.
        let ctx = minijinja::context! { count => d.events, ..ctx };
        let t = &compiled[&d.recipient.lang];
        subjects.push(format!(
            "[{}] [RENKEI-N#{}] {} ({feed} {})",
            tlp.as_str(),
            ids[n],
            t.subject(&ctx)?.trim(),
            d.day
        ));
        bodies.push(t.body(&ctx)?);
        attachments.push(vec![Attachment {
            filename: format!("renkei-{feed}-{}.csv", d.day),
            content_type: "text/csv; charset=utf-8".into(),
            data: csv,
        }]);
        tos.push(match &d.recipient.name {
            Some(name) => format!("\"{}\" <{}>", name.replace('"', ""), d.recipient.email),
            None => d.recipient.email.clone(),
        });
    }
    let object_ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let keys: Vec<Option<&str>> = fresh
        .iter()
        .map(|i| days[*i].recipient.pgp_key.as_deref())
        .collect();
    let mails: Vec<renkei_mail::NewMail<'_>> = fresh
        .iter()
        .enumerate()
        .map(|(n, _)| renkei_mail::NewMail {
            kind: "notification",
            object_type: "notification",
            object_id: object_ids[n].clone(),
            from: &settings.from,
            to: &tos[n],
            subject: &subjects[n],
            body: &bodies[n],
            in_reply_to: None,
            auto_reply: false,
            attachments: &attachments[n],
            sign: settings.team_key.as_ref(),
            cc: "",
            encrypt_to: keys[n].as_slice(),
            exercise: false,
        })
        .collect();
    let queued = renkei_mail::enqueue_many(tx, &mails)
        .await
        .map_err(recipient_error)?;
    drop(mails);

    const ROWS: usize = 20;
    for (at, part) in fresh.chunks(ROWS).enumerate() {
        let sql = format!(
            "INSERT INTO notifications (id, created_at, created_by, recipient, recipient_name, recipient_kind, country, lang, category, tlp, subject, addresses, signed, encrypted, feed, feed_day, outbox_id) VALUES {}",
            renkei_core::store::value_rows(part.len(), 17)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (k, i) in part.iter().enumerate() {
            let n = at * ROWS + k;
            let d = &days[*i];
            q = q
                .bind(ids[n])
                .bind(&now)
                .bind(&actor.label)
                .bind(&d.recipient.email)
                .bind(&d.recipient.name)
                .bind(d.recipient.kind.as_str())
                .bind(&d.recipient.country)
                .bind(&d.recipient.lang)
                .bind(category)
                .bind(tlp.as_str())
                .bind(&subjects[n])
                .bind(d.events as i64)
                .bind(settings.team_key.is_some() as i64)
                .bind(d.recipient.pgp_key.is_some() as i64)
                .bind(feed)
                .bind(&d.day)
                .bind(queued[n].id);
        }
        q.execute(tx.conn()).await?;
    }
    let kept: Vec<conversations::KeptMail<'_>> = fresh
        .iter()
        .enumerate()
        .map(|(n, i)| conversations::KeptMail {
            owner: Owner::new("notification", ids[n]),
            queued: conversations::Queued {
                outbox: queued[n].id,
                template: Some(TEMPLATE),
                signed: settings.team_key.is_some(),
                encrypted: days[*i].recipient.pgp_key.is_some(),
                expects_reply: false,
            },
            message_id: &queued[n].message_id,
            from: &settings.from,
            to: &tos[n],
            subject: &subjects[n],
            body: &bodies[n],
        })
        .collect();
    conversations::keep_queued_many(tx, actor, &kept).await?;
    let events: Vec<Event<'_>> = fresh
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let d = &days[*i];
            Event {
                action: "notification.queued",
                object_type: "notification",
                object_id: ids[n].to_string(),
                changes: json!({"recipient": d.recipient.email, "kind": d.recipient.kind.as_str(), "feed": feed, "day": d.day, "addresses": d.events, "outbox": queued[n].id}),
            }
        })
        .collect();
    audit::record_many(tx, actor, events).await?;
    for (n, i) in fresh.iter().enumerate() {
        out[*i] = Some(ids[n]);
    }
    Ok(out)
}

/// Whether the incidents to notify are a drill's: all of them or none, since a
/// drill's mail goes to the exercise sink and a real site's must not.
async fn exercise_of(store: &Store, ids: &[i64]) -> Result<bool> {
    let mut exercise = None;
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT DISTINCT exercise FROM incidents WHERE id IN ({})",
            (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for flag in q.fetch_all(store.pool()).await? {
            match exercise {
                None => exercise = Some(flag != 0),
                Some(seen) if seen != (flag != 0) => {
                    return Err(IncidentError::invalid(
                        "incidents",
                        "exercise incidents are notified apart from real ones",
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(exercise.unwrap_or(false))
}

/// Queues a notification's mail and records it on the notification's row.
#[allow(clippy::too_many_arguments)]
async fn queue_mail(
    tx: &mut renkei_core::store::Tx,
    settings: &Settings,
    id: i64,
    recipient: &Recipient,
    subject: &str,
    body: &str,
    attachments: &[Attachment],
    exercise: bool,
) -> Result<i64> {
    let to = match &recipient.name {
        Some(name) => format!("\"{}\" <{}>", name.replace('"', ""), recipient.email),
        None => recipient.email.clone(),
    };
    let outbox = renkei_mail::enqueue(
        tx,
        renkei_mail::NewMail {
            kind: "notification",
            object_type: "notification",
            object_id: id.to_string(),
            from: &settings.from,
            to: &to,
            subject,
            body,
            in_reply_to: None,
            auto_reply: false,
            attachments,
            sign: settings.team_key.as_ref(),
            cc: "",
            encrypt_to: recipient.pgp_key.as_deref().as_slice(),
            exercise,
        },
    )
    .await
    .map_err(recipient_error)?;
    sqlx::query("UPDATE notifications SET subject = $1, outbox_id = $2 WHERE id = $3")
        .bind(subject)
        .bind(outbox)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(outbox)
}

/// A notification as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub created_at: String,
    pub created_by: String,
    pub recipient: String,
    pub recipient_kind: String,
    pub country: Option<String>,
    pub lang: String,
    pub tlp: String,
    pub subject: String,
    pub addresses: i64,
    #[sqlx(try_from = "Bit")]
    pub signed: bool,
    #[sqlx(try_from = "Bit")]
    pub encrypted: bool,
    /// The outbox's word: queued, sending, sent or failed.
    pub mail_status: Option<String>,
    pub mail_error: Option<String>,
    pub message_id: Option<String>,
}

const NOTIFICATION_COLUMNS: &str = "n.id, n.created_at, n.created_by, n.recipient, n.recipient_kind, n.country, n.lang, n.tlp, n.subject, n.addresses, n.signed, n.encrypted, o.status AS mail_status, o.last_error AS mail_error, o.message_id AS message_id";

/// The notifications about one incident, newest first.
pub async fn for_incident(store: &Store, incident: i64) -> Result<Vec<Notification>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications n JOIN notification_incidents ni ON ni.notification_id = n.id
         LEFT JOIN outbox o ON o.id = n.outbox_id WHERE ni.incident_id = $1 ORDER BY n.id DESC"
    )))
    .bind(incident)
    .fetch_all(store.pool())
    .await?)
}

/// Recent notifications, newest first; `status` filters on the mail's state.
pub async fn list(store: &Store, status: Option<&str>, limit: i64) -> Result<Vec<Notification>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications n LEFT JOIN outbox o ON o.id = n.outbox_id
         WHERE ($1 = '' OR o.status = $1) ORDER BY n.id DESC LIMIT $2"
    )))
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// The incidents a notification covered.
pub async fn incidents_of(store: &Store, notification: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT incident_id FROM notification_incidents WHERE notification_id = $1 ORDER BY incident_id",
    )
    .bind(notification)
    .fetch_all(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reader_reads_the_first_rows_of_one_day_after_another() {
        let day = |ips: &[&str]| {
            let items: Vec<Item> = ips
                .iter()
                .map(|ip| Item {
                    incident: 0,
                    ip: ip.to_string(),
                    category: "scan, \"ssh\"".into(),
                    first_seen: "2026-11-21 01:00:00".into(),
                    asn: Some(64500),
                    as_name: None,
                    country: Some("JP".into()),
                    ports: vec![22],
                    details: Some("tag=a;b\nc".into()),
                })
                .collect();
            let csv = csv_of(&items);
            (items, csv[csv_header().len()..].to_vec())
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(std::io::Cursor::new(Vec::new()));
        let (a, rows_a) = day(&["192.0.2.1", "192.0.2.2", "=cmd"]);
        let (b, rows_b) = day(&["198.51.100.9"]);
        assert_eq!(first_items(&mut reader, &rows_a, 200), a);
        assert_eq!(first_items(&mut reader, &rows_b, 200), b);
        assert_eq!(first_items(&mut reader, &rows_a, 2), a[..2].to_vec());
        assert!(first_items(&mut reader, b"", 200).is_empty());
    }

    #[test]
    fn the_built_in_templates_render_in_both_languages() {
        for lang in TEMPLATE_LANGS {
            let (s, b) = default_template(lang);
            let ctx = context_value("CSIRT", "a@b.example", None, "TLP:AMBER", 3, &[]);
            assert!(render(s, &ctx).is_ok(), "{lang} subject");
            let body = render(b, &ctx).unwrap();
            assert!(
                body.contains("RENKEI-N#3") && body.contains("TLP:AMBER"),
                "{lang}: {body}"
            );
        }
    }
}

/// Notifications sent in a period, for the quarterly report.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationStatistics {
    pub from: String,
    pub to: String,
    /// Notifications whose mail went out (the relay accepted it) in the period: a
    /// site is counted as notified only once it was, not when the mail was queued.
    pub notifications: i64,
    /// Addresses they covered.
    pub addresses: i64,
    /// The same as `notifications`; kept for the API's readers.
    pub sent: i64,
    /// Notifications made in the period whose mail is still waiting to go out, and
    /// those whose mail failed for good.
    pub queued: i64,
    pub failed: i64,
    /// The sent ones by the month they went out, by country, category and kind.
    pub by_month: Vec<(String, i64)>,
    pub by_country: Vec<(String, i64)>,
    pub by_category: Vec<(String, i64)>,
    pub by_recipient_kind: Vec<(String, i64)>,
    /// Bulk feed events imported for days in the period, by feed and event type.
    pub feed_events: i64,
    pub feed_events_by_type: Vec<(String, i64)>,
    pub feed_events_by_country: Vec<(String, i64)>,
}

/// The notifications counted as sent in `[$1, $2)`: their mail went out then.
const SENT: &str = "FROM notifications n JOIN outbox o ON o.id = n.outbox_id WHERE o.status = 'sent' AND o.sent_at >= $1 AND o.sent_at < $2 AND n.exercise = 0";

pub async fn statistics(store: &Store, from: &str, to: &str) -> Result<NotificationStatistics> {
    let pairs = |select: &'static str, group: &'static str| async move {
        Ok::<Vec<(String, i64)>, IncidentError>(
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {select} AS k, COUNT(*) AS c {SENT} GROUP BY {select} ORDER BY {group}"
            )))
            .bind(from)
            .bind(to)
            .fetch_all(store.pool())
            .await?,
        )
    };
    let raw_pairs = |sql: &'static str| async move {
        Ok::<Vec<(String, i64)>, IncidentError>(
            sqlx::query_as(sql)
                .bind(from)
                .bind(to)
                .fetch_all(store.pool())
                .await?,
        )
    };
    let (notifications, addresses): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        // PostgreSQL sums BIGINT as NUMERIC, which the Any driver cannot read: cast back.
        "SELECT COUNT(*) AS c, CAST(COALESCE(SUM(n.addresses), 0) AS BIGINT) AS a {SENT}"
    )))
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    let (queued, failed): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN o.status IS NULL OR o.status IN ('queued', 'sending') THEN 1 ELSE 0 END), 0) AS BIGINT) AS q,
                CAST(COALESCE(SUM(CASE WHEN o.status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS f
         FROM notifications n LEFT JOIN outbox o ON o.id = n.outbox_id WHERE n.created_at >= $1 AND n.created_at < $2 AND n.exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    Ok(NotificationStatistics {
        from: from.into(),
        to: to.into(),
        notifications,
        addresses,
        sent: notifications,
        queued,
        failed,
        by_month: pairs("SUBSTR(o.sent_at, 1, 7)", "k").await?,
        by_country: pairs("COALESCE(n.country, '??')", "c DESC, k").await?,
        by_category: pairs("COALESCE(n.category, 'other')", "c DESC, k").await?,
        by_recipient_kind: pairs("n.recipient_kind", "c DESC, k").await?,
        feed_events: sqlx::query_scalar("SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_counts WHERE day >= SUBSTR($1, 1, 10) AND day < SUBSTR($2, 1, 10)")
            .bind(from)
            .bind(to)
            .fetch_one(store.pool())
            .await?,
        feed_events_by_type: raw_pairs("SELECT feed || ' ' || event_type AS k, CAST(SUM(events) AS BIGINT) AS n FROM feed_counts WHERE day >= SUBSTR($1, 1, 10) AND day < SUBSTR($2, 1, 10) GROUP BY feed || ' ' || event_type ORDER BY n DESC, k").await?,
        feed_events_by_country: raw_pairs("SELECT COALESCE(country, '??') AS k, CAST(SUM(events) AS BIGINT) AS n FROM feed_counts WHERE day >= SUBSTR($1, 1, 10) AND day < SUBSTR($2, 1, 10) GROUP BY COALESCE(country, '??') ORDER BY n DESC, k").await?,
    })
}
