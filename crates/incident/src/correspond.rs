//! Correspondence: the mail a coordinator writes from a report or from incidents —
//! to the reporter, to the site's contact, to a partner CSIRT, to anyone — started
//! from a template in the recipient's language, previewed, signed with the team's
//! key, encrypted when every recipient has a key on file, and sent through the
//! outbox as part of the conversation. A question puts the incidents in
//! `waiting_for_reply`; the answer (see `replies`) brings them back.

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::lang::Lang;
use renkei_core::store::Tx;
use renkei_mail::conversations::{self, Message, Outgoing, Owner, templates};
use renkei_mail::{Attachment, MailError};
use serde::Serialize;
use serde_json::json;

use crate::incidents::{self, Incident};
use crate::notify;
use crate::replies::{INCIDENT, REPORT};
use crate::{IncidentError, Result};

/// What a mail is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    Report(i64),
    /// One incident or a selection (of one site, typically).
    Incidents(Vec<i64>),
}

/// A mail as the coordinator writes it. An empty subject or body is taken from
/// the template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Letter {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub template: Option<String>,
    /// The template's language; by default the first recipient's.
    pub lang: Option<Lang>,
    /// The message of the thread this answers (`In-Reply-To`).
    pub reply_to: Option<i64>,
    /// Quotes the message answered under the text.
    pub quote: bool,
    /// Files of the report, by number.
    pub report_files: Vec<i64>,
    pub attachments: Vec<Attachment>,
    /// Shows the mail on the reporter's status page.
    pub share: bool,
    /// A question: the incidents wait for the answer.
    pub question: bool,
    /// Referral organizations to point to, by number; none: the `referral`
    /// template picks them by topic and region.
    pub referrals: Vec<i64>,
    /// What the referral is about (police, consumer, legal…), for the choice.
    pub referral_topic: Option<String>,
}

/// The mail as it will go out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Preview {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub template: Option<String>,
    pub lang: Lang,
    pub signed: bool,
    pub encrypted: bool,
    /// Recipients without a key on file: with any of them, the mail goes unencrypted.
    pub without_key: Vec<String>,
    /// Attachment names and sizes.
    pub attachments: Vec<(String, usize)>,
    pub in_reply_to: Option<String>,
}

/// What sending queued.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mailed {
    pub message: i64,
    pub outbox: i64,
    pub message_id: String,
    pub preview: Preview,
    /// Incidents now waiting for the answer.
    pub waiting: Vec<i64>,
}

/// Someone the coordinator may want to write to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    /// `reporter`, `site` or `csirt`.
    pub role: &'static str,
    pub email: String,
    pub name: Option<String>,
    pub lang: String,
    pub has_key: bool,
}

/// The templates a coordinator starts from, in the order offered.
pub const TEMPLATES: [&str; 5] = ["ask_logs", "advice", "referral", "notified_site", "closing"];

/// The shipped text of a template.
pub fn shipped(name: &str, lang: &str) -> Option<templates::Default> {
    let ja = lang == "ja";
    let (subject, body) = match (name, ja) {
        ("ask_logs", true) => (
            "ログのご提供のお願い",
            "{{ recipient_name or recipient }} 様\n\n\
{{ team }} です。ご報告いただいた件{% if incidents %}（{% for i in incidents %}{{ i.ip }}{% if not loop.last %}, {% endif %}{% endfor %}）{% endif %}について、\n\
調査のため、次の情報をお送りいただけますでしょうか。\n\n\
- 該当する時間帯のログ（送信元アドレス・宛先ポート・時刻（タイムゾーン付き）が分かるもの）\n\
- 観測された通信の内容や件数\n\n\
ご返信の際は、件名の {{ tag }} をそのまま残してください。\n\
{% if quoted %}\n{{ quoted }}{% endif %}\n\
-- \n{{ team }}\n",
        ),
        ("ask_logs", false) => (
            "Could you send us logs?",
            "Dear {{ recipient_name or recipient }},\n\n\
This is {{ team }}. To look into the matter you reported{% if incidents %} ({% for i in incidents %}{{ i.ip }}{% if not loop.last %}, {% endif %}{% endfor %}){% endif %},\n\
could you send us the following?\n\n\
- logs of the period concerned (source address, destination port, and time with its time zone)\n\
- what was seen, and how often\n\n\
Please keep {{ tag }} in the subject when you reply.\n\
{% if quoted %}\n{{ quoted }}{% endif %}\n\
-- \n{{ team }}\n",
        ),
        ("advice", true) => (
            "対応についてのご案内",
            "{{ recipient_name or recipient }} 様\n\n\
{{ team }} です。ご報告の件について、次の対応をご検討ください。\n\n\
- 該当ホストのログを保全してください。\n\
- 不審な通信の送信元からのアクセスを遮断してください。\n\
- ソフトウェアを最新の状態に更新してください。\n\n\
ご不明な点は、件名の {{ tag }} を残してご返信ください。\n\
{% if quoted %}\n{{ quoted }}{% endif %}\n\
-- \n{{ team }}\n",
        ),
        ("advice", false) => (
            "What you can do",
            "Dear {{ recipient_name or recipient }},\n\n\
This is {{ team }}. About the matter you reported, please consider:\n\n\
- keeping the logs of the hosts concerned;\n\
- blocking the sources of the suspicious traffic;\n\
- bringing the software up to date.\n\n\
If anything is unclear, reply and keep {{ tag }} in the subject.\n\
{% if quoted %}\n{{ quoted }}{% endif %}\n\
-- \n{{ team }}\n",
        ),
        ("notified_site", true) => (
            "関係するサイトへ連絡しました",
            "{{ recipient_name or recipient }} 様\n\n\
{{ team }} です。ご報告いただいた件について、関係するサイトの管理者へ連絡しました。\n\
{% for i in incidents %}- {{ i.ip }}\n{% endfor %}\
進展がありましたらお知らせします。\n\n\
-- \n{{ team }}\n",
        ),
        ("notified_site", false) => (
            "We have told the site",
            "Dear {{ recipient_name or recipient }},\n\n\
This is {{ team }}. We have told those responsible for the site about the matter\n\
you reported.\n\
{% for i in incidents %}- {{ i.ip }}\n{% endfor %}\
We will let you know how it goes.\n\n\
-- \n{{ team }}\n",
        ),
        ("referral", true) => (
            "ご相談先のご案内",
            "{{ recipient_name or recipient }} 様\n\n\
{{ team }} です。ご連絡いただいた件は、次の窓口でご相談いただくのが適切と考えます。\n\n\
{% for r in referrals %}- {{ r.name }}{% if r.region %}（{{ r.region }}）{% endif %}\n\
{% if r.email %}  メール: {{ r.email }}\n{% endif %}{% if r.phone %}  電話: {{ r.phone }}\n{% endif %}{% if r.url %}  {{ r.url }}\n{% endif %}{% if r.notes %}  {{ r.notes }}\n{% endif %}\
{% else %}- （該当する窓口が登録されていません）\n{% endfor %}\n\
当チームでの対応が必要な点があれば、件名の {{ tag }} を残してご返信ください。\n\
{% if quoted %}\n{{ quoted }}{% endif %}\n\
-- \n{{ team }}\n",
        ),
        ("referral", false) => (
            "Where to turn to",
            "Dear {{ recipient_name or recipient }},\n\n\
This is {{ team }}. For the matter you wrote to us about, the following can help you best:\n\n\
{% for r in referrals %}- {{ r.name }}{% if r.region %} ({{ r.region }}){% endif %}\n\
{% if r.email %}  Mail: {{ r.email }}\n{% endif %}{% if r.phone %}  Phone: {{ r.phone }}\n{% endif %}{% if r.url %}  {{ r.url }}\n{% endif %}{% if r.notes %}  {{ r.notes }}\n{% endif %}\
{% else %}- (no such organization is on file)\n{% endfor %}\n\
If there is anything we should do ourselves, reply and keep {{ tag }} in the subject.\n\
{% if quoted %}\n{{ quoted }}{% endif %}\n\
-- \n{{ team }}\n",
        ),
        ("closing", true) => (
            "本件の対応を終了します",
            "{{ recipient_name or recipient }} 様\n\n\
{{ team }} です。ご報告いただいた件（{{ tag }}）は、対応を終了しました。\n\
ご協力ありがとうございました。再発した場合は、件名の {{ tag }} を残してご連絡ください。\n\n\
-- \n{{ team }}\n",
        ),
        ("closing", false) => (
            "We have closed the matter",
            "Dear {{ recipient_name or recipient }},\n\n\
This is {{ team }}. We have closed the matter you reported ({{ tag }}).\n\
Thank you for your help. Should it happen again, reply and keep {{ tag }} in the\n\
subject.\n\n\
-- \n{{ team }}\n",
        ),
        _ => return None,
    };
    Some(templates::Default { subject, body })
}

/// A template as used now (the operators' version if there is one).
pub async fn template(store: &Store, name: &str, lang: &str) -> Result<templates::Template> {
    let shipped = shipped(name, lang)
        .ok_or_else(|| IncidentError::invalid("template", format!("no template {name:?}")))?;
    Ok(templates::get(store, name, lang, shipped).await?)
}

/// Saves an operator's version of a template, after checking that it renders.
pub async fn set_template(
    store: &Store,
    actor: &Actor,
    name: &str,
    lang: &str,
    subject: &str,
    body: &str,
) -> Result<templates::Template> {
    if shipped(name, lang).is_none() {
        return Err(IncidentError::invalid(
            "template",
            format!("no template {name:?}"),
        ));
    }
    templates::save(store, actor, name, lang, subject, body, &sample()).await?;
    template(store, name, lang).await
}

fn sample() -> minijinja::Value {
    minijinja::context! {
        team => "Example CSIRT",
        tag => "[RENKEI#1]",
        recipient => "reporter@example.org",
        recipient_name => "Reporter",
        coordinator => "coordinator@csirt.example",
        quoted => "",
        report => minijinja::context! { id => 1, subject => "scan", received_at => "2026-01-01T00:00:00Z" },
        reporter => minijinja::context! { name => "Reporter", email => "reporter@example.org" },
        incidents => vec![minijinja::context! { id => 1, ip => "192.0.2.1", category => "scan", first_seen => "2026-01-01T00:00:00Z" }],
        referrals => vec![minijinja::context! { name => "Example Consumer Centre", topics => "consumer", region => "JP-13", email => "soudan@consumer.example", phone => "188", url => "https://consumer.example", notes => "" }],
    }
}

/// A referral organization as a template shows it.
#[derive(Debug, Clone)]
struct Referral {
    id: i64,
    name: String,
    topics: String,
    region: String,
    email: Option<String>,
    phone: Option<String>,
    url: Option<String>,
    notes: String,
}

/// The referral organizations a mail points to: those chosen, or those of the
/// topic (any, when none is given) serving the reporter's country, the ones of a
/// region before the nationwide ones.
async fn referrals_for(
    store: &Store,
    chosen: &[i64],
    topic: Option<&str>,
    reporter: Option<&str>,
) -> Result<Vec<Referral>> {
    use renkei_core::orgs::{self, OrgKind};
    let all = orgs::list(store, Some(OrgKind::Referral)).await?;
    let country = reporter
        .and_then(|e| e.rsplit('.').next())
        .filter(|tld| tld.len() == 2)
        .map(str::to_ascii_uppercase);
    let mut picked: Vec<&orgs::Organization> = if chosen.is_empty() {
        let topic = topic
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
        all.iter()
            .filter(|o| topic.as_deref().is_none_or(|t| o.topic_list().contains(&t)))
            .filter(|o| {
                o.region.is_empty() || country.as_deref().is_none_or(|c| o.region.starts_with(c))
            })
            .collect()
    } else {
        let mut v = Vec::new();
        for id in chosen {
            v.push(all.iter().find(|o| o.id == *id).ok_or_else(|| {
                IncidentError::invalid("referrals", format!("#{id} is no referral organization"))
            })?);
        }
        v
    };
    if chosen.is_empty() {
        picked.sort_by_key(|o| (o.region.is_empty(), o.name.clone()));
        picked.truncate(5);
    }
    let mut out = Vec::new();
    for o in picked {
        let contacts = orgs::contacts(store, o.id).await?;
        let first = contacts.first();
        out.push(Referral {
            id: o.id,
            name: o.name.clone(),
            topics: o.topics.clone(),
            region: o.region.clone(),
            email: first.map(|c| c.email.clone()),
            phone: first.and_then(|c| c.phone.clone()),
            url: o.domain.as_ref().map(|d| format!("https://{d}/")),
            notes: o.notes.clone(),
        });
    }
    Ok(out)
}

/// Who a mail about `about` would usually go to: the reporter, the site's contact
/// (resolved as for notifications), and the national CSIRT of the address's country.
pub async fn suggestions(
    store: &Store,
    settings: &notify::Settings,
    tables: Option<&renkei_enrich::Tables>,
    about: &About,
) -> Result<Vec<Suggestion>> {
    let (report, incidents) = subject_of(store, about).await?;
    let mut out: Vec<Suggestion> = Vec::new();
    let mut conn = store.pool().acquire().await?;
    if let Some(email) = report
        .as_ref()
        .and_then(|r| r.reporter_email.clone())
        .filter(|e| !e.trim().is_empty())
    {
        let known = known(&mut conn, tables, &email).await?;
        out.push(Suggestion {
            role: "reporter",
            name: report.as_ref().and_then(|r| r.reporter_name.clone()),
            lang: known.lang.unwrap_or_else(|| "ja".into()),
            has_key: known.key.is_some(),
            email,
        });
    }
    for r in notify::sites_of(store, settings, &incidents).await? {
        if !out.iter().any(|s| s.email.eq_ignore_ascii_case(&r.email)) {
            out.push(Suggestion {
                role: match r.kind {
                    notify::RecipientKind::Csirt => "csirt",
                    _ => "site",
                },
                email: r.email,
                name: r.name,
                lang: r.lang,
                has_key: r.has_key,
            });
        }
    }
    for i in &incidents {
        let csirt = i
            .enrichment
            .as_ref()
            .and_then(|e| e.csirt.clone())
            .or_else(|| {
                let country = i.enrichment.as_ref()?.country.clone()?;
                tables?.csirt(&country).cloned()
            });
        if let Some(c) = csirt
            && !out.iter().any(|s| s.email.eq_ignore_ascii_case(&c.email))
        {
            out.push(Suggestion {
                role: "csirt",
                lang: c
                    .lang
                    .clone()
                    .unwrap_or_else(|| renkei_enrich::lang_for_country(&c.country).into()),
                has_key: c.pgp_key.is_some(),
                name: Some(c.name),
                email: c.email,
            });
        }
    }
    Ok(out)
}

/// What is known about an address written to: name, language, key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    pub name: Option<String>,
    pub lang: Option<String>,
    pub key: Option<String>,
}

/// The organizations' contacts first (the team keeps them), then the directories.
pub(crate) async fn known(
    conn: &mut sqlx::AnyConnection,
    tables: Option<&renkei_enrich::Tables>,
    email: &str,
) -> Result<Known> {
    let bare = conversations::bare(email);
    let contacts = renkei_core::orgs::contacts_by_email(conn, &bare).await?;
    let person = tables.and_then(|t| t.person(&bare));
    Ok(Known {
        name: contacts
            .first()
            .map(|c| c.name.clone())
            .or_else(|| person.and_then(|p| p.name.clone())),
        lang: contacts
            .first()
            .map(|c| c.lang.as_str().to_string())
            .or_else(|| person.and_then(|p| p.lang.clone())),
        key: contacts
            .iter()
            .find_map(|c| c.pgp_key.clone())
            .or_else(|| person.and_then(|p| p.pgp_key.clone())),
    })
}

/// The key on file for an address, to check a signature with.
pub(crate) async fn key_on_file(
    conn: &mut sqlx::AnyConnection,
    enricher: Option<&renkei_enrich::Enricher>,
    email: &str,
) -> Result<Option<String>> {
    let tables = enricher.map(|e| e.tables());
    Ok(known(conn, tables.as_deref(), email).await?.key)
}

/// The report and incidents a mail is about, checked to exist.
async fn subject_of(
    store: &Store,
    about: &About,
) -> Result<(Option<incidents::Report>, Vec<Incident>)> {
    match about {
        About::Report(id) => {
            let report = incidents::report(store, *id).await?;
            let ids: Vec<i64> =
                sqlx::query_scalar("SELECT id FROM incidents WHERE report_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(store.pool())
                    .await?;
            let mut list = Vec::new();
            for i in ids {
                list.push(incidents::get(store, i).await?);
            }
            Ok((Some(report), list))
        }
        About::Incidents(ids) => {
            if ids.is_empty() {
                return Err(IncidentError::invalid("incidents", "choose at least one"));
            }
            if ids.len() > 500 {
                return Err(IncidentError::invalid("incidents", "at most 500 at once"));
            }
            let mut list = Vec::new();
            for i in ids {
                list.push(incidents::get(store, *i).await?);
            }
            let first = list[0].report_id;
            let report = if list.iter().all(|i| i.report_id == first) {
                Some(incidents::report(store, first).await?)
            } else {
                None
            };
            Ok((report, list))
        }
    }
}

fn owners_of(about: &About, incidents: &[Incident]) -> Vec<Owner> {
    match about {
        About::Report(id) => vec![Owner::new(REPORT, *id)],
        About::Incidents(_) => incidents
            .iter()
            .map(|i| Owner::new(INCIDENT, i.id))
            .collect(),
    }
}

fn tag_of(about: &About) -> String {
    match about {
        About::Report(id) => format!("[RENKEI#{id}]"),
        About::Incidents(ids) => format!("[RENKEI-I#{}]", ids.first().copied().unwrap_or(0)),
    }
}

/// Everything the mail is made of, checked: what preview shows and send queues.
struct Built {
    preview: Preview,
    owners: Vec<Owner>,
    incidents: Vec<Incident>,
    attachments: Vec<Attachment>,
    keys: Vec<String>,
    in_reply_to: Option<String>,
    /// The referral organizations the mail points to.
    referred: Vec<i64>,
}

async fn build(
    store: &Store,
    settings: &notify::Settings,
    tables: Option<&renkei_enrich::Tables>,
    actor: &Actor,
    about: &About,
    letter: &Letter,
) -> Result<Built> {
    let (report, incidents) = subject_of(store, about).await?;
    let owners = owners_of(about, &incidents);
    let to: Vec<String> = clean(&letter.to);
    let cc: Vec<String> = clean(&letter.cc);
    if to.is_empty() {
        return Err(IncidentError::invalid("to", "at least one recipient"));
    }
    if to.len() + cc.len() > 50 {
        return Err(IncidentError::invalid("to", "at most 50 recipients"));
    }
    conversations::check_addresses("to", &to).map_err(refused)?;
    conversations::check_addresses("cc", &cc).map_err(refused)?;
    let mut conn = store.pool().acquire().await?;
    let mut keys = Vec::new();
    let mut without_key = Vec::new();
    let mut first_known = None;
    for a in to.iter().chain(&cc) {
        let k = known(&mut conn, tables, a).await?;
        if first_known.is_none() {
            first_known = Some(k.clone());
        }
        match k.key {
            Some(key) => keys.push(key),
            None => without_key.push(a.clone()),
        }
    }
    drop(conn);
    let first = first_known.unwrap_or_default();
    let lang = letter
        .lang
        .unwrap_or_else(|| Lang::parse(first.lang.as_deref().unwrap_or("ja")).unwrap_or(Lang::Ja));

    // The message answered: it must belong to this conversation.
    let thread_owners = thread_owners(about, &incidents);
    let answered: Option<Message> = match letter.reply_to {
        Some(m) => Some(
            conversations::message_in(store, &thread_owners, m)
                .await?
                .ok_or(IncidentError::NotFound("message"))?,
        ),
        None => None,
    };
    // The reporter's identity goes to no one else without their consent.
    let reporter = report
        .as_ref()
        .and_then(|r| r.reporter_email.as_deref())
        .map(conversations::bare);
    let only_to_reporter = reporter
        .as_ref()
        .is_some_and(|r| to.iter().chain(&cc).all(|a| conversations::bare(a) == *r));
    let may_name = only_to_reporter
        || report
            .as_ref()
            .is_some_and(|r| r.consent_named == Some(true));
    let quoted = match (&answered, letter.quote) {
        (Some(m), true) => {
            let from_reporter = m
                .mail_from
                .as_deref()
                .map(conversations::bare)
                .is_some_and(|f| Some(&f) == reporter.as_ref());
            conversations::quote(m, may_name || !from_reporter)
        }
        _ => String::new(),
    };
    let tag = tag_of(about);
    let (mut subject, mut body) = (letter.subject.trim().to_string(), letter.body.clone());
    let referring = !letter.referrals.is_empty() || letter.template.as_deref() == Some("referral");
    let referrals = if referring {
        referrals_for(
            store,
            &letter.referrals,
            letter.referral_topic.as_deref(),
            report.as_ref().and_then(|r| r.reporter_email.as_deref()),
        )
        .await?
    } else {
        Vec::new()
    };
    if let Some(name) = letter.template.as_deref().filter(|n| !n.is_empty()) {
        let t = template(store, name, lang.as_str()).await?;
        let names = |i: &Incident| {
            i.source_ip
                .clone()
                .or_else(|| i.source_host.clone())
                .unwrap_or_default()
        };
        let ctx = minijinja::context! {
            team => settings.team_name(),
            tag => &tag,
            recipient => conversations::bare(&to[0]),
            recipient_name => first.name.clone(),
            coordinator => &actor.label,
            quoted => &quoted,
            report => report.as_ref().map(|r| minijinja::context! {
                id => r.id, subject => r.subject.clone(), received_at => r.received_at.clone(),
            }),
            // Only when the reporter agreed to be named, or is the one written to.
            reporter => report.as_ref().filter(|_| may_name).map(|r| minijinja::context! {
                name => r.reporter_name.clone(), email => r.reporter_email.clone(),
            }),
            incidents => incidents.iter().map(|i| minijinja::context! {
                id => i.id,
                ip => names(i),
                category => i.category.clone(),
                first_seen => i.created_at.clone(),
            }).collect::<Vec<_>>(),
            referrals => referrals.iter().map(|r| minijinja::context! {
                name => &r.name, topics => &r.topics, region => &r.region, email => &r.email,
                phone => &r.phone, url => &r.url, notes => &r.notes,
            }).collect::<Vec<_>>(),
        };
        if subject.is_empty() {
            subject = templates::render(
                &format!("{name}/{} subject", lang.as_str()),
                &t.subject,
                &ctx,
            )?
            .trim()
            .to_string();
        }
        if body.trim().is_empty() {
            body = templates::render(&format!("{name}/{}", lang.as_str()), &t.body, &ctx)?;
        }
    } else if letter.quote && !quoted.is_empty() {
        body = format!("{}\n\n{quoted}", body.trim_end());
    }
    if subject.is_empty() {
        subject = match &answered {
            Some(m) => format!(
                "Re: {}",
                m.subject
                    .as_deref()
                    .unwrap_or("")
                    .trim_start_matches("Re: ")
            ),
            None => String::new(),
        };
    }
    if !subject.contains(&tag) {
        subject = format!("{tag} {subject}").trim().to_string();
    }
    conversations::header_field("subject", &subject)?;
    if body.trim().is_empty() {
        return Err(IncidentError::invalid(
            "body",
            "write the mail or choose a template",
        ));
    }
    let body = body.replace("\r\n", "\n");

    let mut attachments = letter.attachments.clone();
    if !letter.report_files.is_empty() {
        let Some(r) = &report else {
            return Err(IncidentError::invalid(
                "report_files",
                "the incidents come from several reports",
            ));
        };
        for f in &letter.report_files {
            let row: Option<(Option<String>, String, Vec<u8>)> = sqlx::query_as(
                "SELECT filename, content_type, data FROM report_attachments WHERE id = $1 AND report_id = $2",
            )
            .bind(f)
            .bind(r.id)
            .fetch_optional(store.pool())
            .await?;
            let (name, content_type, data) = row.ok_or(IncidentError::NotFound("file"))?;
            attachments.push(Attachment {
                filename: name.unwrap_or_else(|| format!("file-{f}")),
                content_type,
                data,
            });
        }
    }
    let total: usize = attachments.iter().map(|a| a.data.len()).sum();
    if total > 20 << 20 {
        return Err(IncidentError::invalid(
            "attachments",
            "at most 20 MB of files in one mail",
        ));
    }
    for a in &attachments {
        conversations::header_field("attachments", &a.filename)?;
    }
    let encrypted = without_key.is_empty() && !keys.is_empty();
    let in_reply_to = answered.as_ref().and_then(|m| m.message_id.clone());
    Ok(Built {
        preview: Preview {
            to,
            cc,
            subject,
            body,
            template: letter.template.clone().filter(|t| !t.is_empty()),
            lang,
            signed: settings.team_key.is_some(),
            encrypted,
            without_key: if keys.is_empty() {
                Vec::new()
            } else {
                without_key
            },
            attachments: attachments
                .iter()
                .map(|a| (a.filename.clone(), a.data.len()))
                .collect(),
            in_reply_to: in_reply_to.clone(),
        },
        owners,
        incidents,
        attachments,
        keys: if encrypted { keys } else { Vec::new() },
        in_reply_to,
        referred: referrals.iter().map(|r| r.id).collect(),
    })
}

/// The conversation a message answered may come from: the report's and its
/// incidents', or the incidents' and their reports'.
fn thread_owners(about: &About, list: &[Incident]) -> Vec<Owner> {
    let mut owners: Vec<Owner> = list.iter().map(|i| Owner::new(INCIDENT, i.id)).collect();
    match about {
        About::Report(id) => owners.push(Owner::new(REPORT, *id)),
        About::Incidents(_) => {
            let mut reports: Vec<i64> = list.iter().map(|i| i.report_id).collect();
            reports.sort_unstable();
            reports.dedup();
            owners.extend(reports.into_iter().map(|r| Owner::new(REPORT, r)));
        }
    }
    owners
}

fn clean(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for typed in list {
        for a in conversations::address_list(typed) {
            if !out
                .iter()
                .any(|o| conversations::bare(o) == conversations::bare(&a))
            {
                out.push(a);
            }
        }
    }
    out
}

/// The mail as it will go out, without sending it.
pub async fn preview(
    store: &Store,
    settings: &notify::Settings,
    tables: Option<&renkei_enrich::Tables>,
    actor: &Actor,
    about: &About,
    letter: &Letter,
) -> Result<Preview> {
    Ok(build(store, settings, tables, actor, about, letter)
        .await?
        .preview)
}

/// Sends the mail: queued in the outbox in one transaction with its place in the
/// conversation, the incidents' new state (for a question) and the audit row.
pub async fn send(
    store: &Store,
    settings: &notify::Settings,
    tables: Option<&renkei_enrich::Tables>,
    actor: &Actor,
    about: &About,
    letter: &Letter,
) -> Result<Mailed> {
    if settings.from.trim().is_empty() {
        return Err(IncidentError::invalid(
            "mail.from",
            "set the team's sender address (mail.from) before writing mail",
        ));
    }
    let b = build(store, settings, tables, actor, about, letter).await?;
    let mut tx = store.begin().await?;
    let keys: Vec<&str> = b.keys.iter().map(String::as_str).collect();
    let exercise = crate::exercise::of_owners(&mut tx, &b.owners).await?;
    let sent = conversations::send(
        &mut tx,
        &b.owners,
        &Outgoing {
            kind: "conversation",
            author: actor,
            from: &settings.from,
            to: &b.preview.to,
            cc: &b.preview.cc,
            subject: &b.preview.subject,
            body: &b.preview.body,
            template: b.preview.template.as_deref(),
            in_reply_to: b.in_reply_to.as_deref(),
            attachments: &b.attachments,
            sign: settings.team_key.as_ref(),
            encrypt_to: &keys,
            shared: letter.share,
            expects_reply: letter.question,
            automatic: false,
            exercise,
        },
    )
    .await
    .map_err(refused)?;
    let waiting = after_sending(&mut tx, &b, letter.question).await?;
    let now = tx.now_str();
    for org in &b.referred {
        sqlx::query(
            "INSERT INTO message_referrals (message_id, org_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(sent.message)
        .bind(org)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    let mut events = vec![Event {
        action: "conversation.sent",
        object_type: "message",
        object_id: sent.message.to_string(),
        changes: json!({
            "threads": b.owners.iter().map(|o| format!("{}/{}", o.kind, o.id)).collect::<Vec<_>>(),
            "to": b.preview.to,
            "cc": b.preview.cc,
            "subject": b.preview.subject,
            "template": b.preview.template,
            "signed": b.preview.signed,
            "encrypted": b.preview.encrypted,
            "question": letter.question,
            "shared": letter.share,
            "outbox": sent.outbox,
            "referrals": b.referred,
        }),
    }];
    for i in &waiting {
        events.push(Event {
            action: "incident.state_changed",
            object_type: "incident",
            object_id: i.to_string(),
            changes: json!({"state": {"new": "waiting_for_reply"}, "because": {"message": sent.message}}),
        });
    }
    audit::record_many(&mut tx, actor, events).await?;
    tx.commit().await?;
    Ok(Mailed {
        message: sent.message,
        outbox: sent.outbox,
        message_id: sent.message_id,
        preview: b.preview,
        waiting,
    })
}

fn refused(e: MailError) -> IncidentError {
    match e {
        MailError::Invalid { field, message } => IncidentError::invalid(field, message),
        other => other.into(),
    }
}

/// A coordinator who writes has seen the replies; a question makes the open
/// incidents wait for the answer. Returns the incidents that now wait.
async fn after_sending(tx: &mut Tx, b: &Built, question: bool) -> Result<Vec<i64>> {
    let now = tx.now_str();
    let all: Vec<i64> = b.incidents.iter().map(|i| i.id).collect();
    // A mail from a coordinator is the first response, if none came before.
    tx.execute_for_ids(
        "UPDATE incidents SET reply_at = NULL, first_response_at = COALESCE(first_response_at, $1) WHERE id IN ({ids})",
        &[&now],
        &all,
    )
    .await?;
    let waiting: Vec<i64> = if question {
        b.incidents
            .iter()
            .filter(|i| {
                matches!(
                    i.state,
                    incidents::State::New
                        | incidents::State::Triaged
                        | incidents::State::Coordinating
                )
            })
            .map(|i| i.id)
            .collect()
    } else {
        Vec::new()
    };
    tx.execute_for_ids(
        "UPDATE incidents SET state = 'waiting_for_reply', updated_at = $1 WHERE id IN ({ids})",
        &[&now],
        &waiting,
    )
    .await?;
    let mut reports: Vec<i64> = b.incidents.iter().map(|i| i.report_id).collect();
    reports.extend(b.owners.iter().filter(|o| o.kind == REPORT).map(|o| o.id));
    reports.sort_unstable();
    reports.dedup();
    tx.execute_for_ids(
        "UPDATE reports SET reply_at = NULL WHERE id IN ({ids})",
        &[],
        &reports,
    )
    .await?;
    Ok(waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_renders_in_both_languages() {
        for name in TEMPLATES {
            for lang in ["ja", "en"] {
                let t = shipped(name, lang).unwrap();
                let s = templates::render(name, t.subject, &sample()).unwrap();
                let b = templates::render(name, t.body, &sample()).unwrap();
                assert!(!s.contains('\n') && !s.is_empty(), "{name}/{lang}: {s:?}");
                assert!(b.contains("Example CSIRT"), "{name}/{lang}: {b}");
            }
        }
        assert!(shipped("nothing", "ja").is_none());
    }

    #[test]
    fn typed_recipients_are_split_and_deduplicated() {
        assert_eq!(
            clean(&["a@x.example, b@y.example".into(), "A@X.example".into()]),
            vec!["a@x.example".to_string(), "b@y.example".to_string()]
        );
    }
}
