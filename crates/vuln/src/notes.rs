//! Vulnerability notes: the public face of a case. A note is given its ID when the
//! coordinator schedules publication at the agreed moment; its first revision is kept
//! up to date with the case until then, and becomes readable — with every vendor's
//! status at once — when the clock reaches that moment. Later updates are new
//! revisions. CSAF 2.0, CVE JSON 5, JVNRSS and Atom are renderings of a revision.

use chrono::{DateTime, Datelike, Utc};
use rand::Rng;
use renkei_core::access::Principal;
use renkei_core::audit::{self, Event};
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::{Store, time};
use renkei_formats::{csaf, cve5, cvss::Cvss31, syndication};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cases::{self, CaseCvss, CaseDetail};
use crate::model::{ProductStatus, Series};
use crate::{Result, Settings, VulnError, encode_key};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Bilingual {
    pub ja: String,
    pub en: String,
}

impl Bilingual {
    pub fn get(&self, lang: Lang) -> &str {
        match (lang, self.ja.is_empty(), self.en.is_empty()) {
            (Lang::Ja, false, _) | (Lang::En, _, true) => &self.ja,
            _ => &self.en,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoteProduct {
    /// The case product's number: the CSAF product ID, stable across revisions.
    pub key: i64,
    pub name: String,
    pub cpe: Option<String>,
    pub purl: Option<String>,
    pub status: ProductStatus,
    pub fixed_in: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoteVendor {
    pub name: String,
    pub statement: Bilingual,
    pub products: Vec<NoteProduct>,
}

/// What one revision of a note says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoteContent {
    pub title: Bilingual,
    pub overview: Bilingual,
    pub solution: Bilingual,
    pub workaround: Bilingual,
    pub affected: String,
    pub cvss: Option<CaseCvss>,
    pub cwe: Option<String>,
    pub cve: Option<String>,
    pub references: Vec<String>,
    pub credits: Vec<String>,
    pub vendors: Vec<NoteVendor>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RevisionInfo {
    pub revision: i64,
    pub date: String,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Note {
    pub key: String,
    pub series: Series,
    pub publish_at: String,
    /// The latest revision's date.
    pub updated_at: String,
    pub revisions: Vec<RevisionInfo>,
    pub content: NoteContent,
    #[serde(skip)]
    pub case_key: String,
    /// Whether the note is public now; an export of one that is not is a draft.
    #[serde(skip)]
    pub published: bool,
    /// The case's TLP, which a draft export carries.
    #[serde(skip)]
    pub tlp: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoteSummary {
    pub key: String,
    pub series: Series,
    pub title: Bilingual,
    pub publish_at: String,
    pub updated_at: String,
    pub revision: i64,
}

/// The note text a case gives now.
pub fn snapshot(d: &CaseDetail) -> NoteContent {
    let c = &d.case;
    let pick = |ja: &str, en: &str, fallback: &str| Bilingual {
        ja: if ja.is_empty() {
            fallback.to_string()
        } else {
            ja.to_string()
        },
        en: if en.is_empty() {
            fallback.to_string()
        } else {
            en.to_string()
        },
    };
    let t = &c.note_text;
    let either = |ja: &str, en: &str| Bilingual {
        ja: if ja.is_empty() {
            en.to_string()
        } else {
            ja.to_string()
        },
        en: if en.is_empty() {
            ja.to_string()
        } else {
            en.to_string()
        },
    };
    NoteContent {
        title: pick(&t.ja.title, &t.en.title, &c.title),
        overview: pick(&t.ja.overview, &t.en.overview, &c.description),
        solution: either(&t.ja.solution, &t.en.solution),
        workaround: either(&t.ja.workaround, &t.en.workaround),
        affected: c.affected.clone(),
        cvss: c.cvss.clone(),
        cwe: c.cwe.clone(),
        cve: c.cve.clone(),
        references: c.references.clone(),
        credits: c.credited().into_iter().collect(),
        vendors: d
            .vendors
            .iter()
            .map(|v| NoteVendor {
                name: v.name.clone(),
                statement: Bilingual {
                    ja: v.statement_ja.clone(),
                    en: v.statement_en.clone(),
                },
                products: v
                    .products
                    .iter()
                    .map(|p| NoteProduct {
                        key: p.id,
                        name: p.name.clone(),
                        cpe: p.cpe.clone(),
                        purl: p.purl.clone(),
                        status: p.status,
                        fixed_in: p.fixed_in.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Keeps a scheduled note's first revision equal to its case until publication.
pub async fn refresh_pending(
    store: &Store,
    settings: &Settings,
    case_key: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let d = cases::detail_for_team(store, settings, case_key, now).await?;
    let Some(note) = &d.case.note else {
        return Ok(());
    };
    if note.published {
        return Ok(());
    }
    let content = serde_json::to_string(&snapshot(&d)).unwrap_or_default();
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE note_revisions SET content = $1, created_at = $2 \
         WHERE revision = 1 AND note_id = (SELECT id FROM notes WHERE note_key = $3)",
    )
    .bind(content)
    .bind(time::format(now))
    .bind(&note.key)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Publish although some vendors have not agreed to the date: the reason is
    /// recorded.
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// Schedules publication at the proposed moment: the note gets its ID now and goes
/// public — with every vendor's status — when the clock reaches that moment, and not
/// before.
pub async fn schedule(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    s: Schedule,
    now: DateTime<Utc>,
) -> Result<crate::cases::CaseDetail> {
    let (detail, view) = cases::authorize(store, settings, principal, key, now).await?;
    cases::coordinator_only(view)?;
    let c = &detail.case;
    if c.note.as_ref().is_some_and(|n| n.published) {
        return Err(VulnError::Conflict(
            "the note is already published; make a new revision instead".into(),
        ));
    }
    let Some(at) = c.proposed_publish_at.clone() else {
        return Err(VulnError::Conflict(
            "propose a publication date first".into(),
        ));
    };
    if time::parse(&at).is_none_or(|t| t <= now) {
        return Err(VulnError::Conflict(
            "the proposed date has passed; propose another".into(),
        ));
    }
    let waiting: Vec<&str> = detail
        .vendors
        .iter()
        .filter(|v| !v.unreachable && v.date_answer != "accepted")
        .map(|v| v.name.as_str())
        .collect();
    let reason = s
        .override_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if !waiting.is_empty() && reason.is_none() {
        return Err(VulnError::Conflict(format!(
            "not every vendor has agreed to the date (waiting for {}); give override_reason to publish anyway",
            waiting.join(", ")
        )));
    }
    let content = serde_json::to_string(&snapshot(&detail)).unwrap_or_default();
    let now_s = time::format(now);
    let prefix = settings.prefix(c.series).to_string();
    let digits = settings.vuln.note_digits;
    let mut tx = store.begin().await?;
    let note_key = match &c.note {
        Some(n) => {
            sqlx::query("UPDATE notes SET publish_at = $1 WHERE note_key = $2")
                .bind(&at)
                .bind(&n.key)
                .execute(tx.conn())
                .await?;
            sqlx::query(
                "UPDATE note_revisions SET content = $1, created_at = $2 \
                 WHERE revision = 1 AND note_id = (SELECT id FROM notes WHERE note_key = $3)",
            )
            .bind(&content)
            .bind(&now_s)
            .bind(&n.key)
            .execute(tx.conn())
            .await?;
            n.key.clone()
        }
        None => {
            let mut chosen = None;
            for _ in 0..20 {
                let low = 10u64.pow(digits - 1);
                let number = rand::rng().random_range(low..low * 10);
                let candidate = format!("{prefix}{number}");
                let taken: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM notes WHERE note_key = $1")
                        .bind(&candidate)
                        .fetch_one(tx.conn())
                        .await?;
                if taken == 0 {
                    chosen = Some(candidate);
                    break;
                }
            }
            let note_key = chosen
                .ok_or_else(|| VulnError::Conflict("no free note number; try again".into()))?;
            let note_id: i64 = sqlx::query_scalar(
                "INSERT INTO notes (case_id, note_key, series, publish_at, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(c.id)
            .bind(&note_key)
            .bind(c.series.as_str())
            .bind(&at)
            .bind(&now_s)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| VulnError::from_insert(e, "a note for this case"))?;
            sqlx::query(
                "INSERT INTO note_revisions (note_id, revision, summary, content, created_at) VALUES ($1, 1, $2, $3, $4)",
            )
            .bind(note_id)
            .bind("Initial release / 初版")
            .bind(&content)
            .bind(&now_s)
            .execute(tx.conn())
            .await?;
            note_key
        }
    };
    sqlx::query("UPDATE cases SET state = 'scheduled', updated_at = $1 WHERE id = $2")
        .bind(&now_s)
        .bind(c.id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &cases::actor_of(principal),
        Event {
            action: "case.schedule",
            object_type: "case",
            object_id: c.key.clone(),
            changes: json!({"note": note_key, "publish_at": at, "waiting": waiting, "override_reason": reason}),
        },
    )
    .await?;
    tx.commit().await?;
    cases::detail_for_team(store, settings, key, now).await
}

/// A new revision of a published note, from the case as it is now.
pub async fn revise(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    summary: &str,
    now: DateTime<Utc>,
) -> Result<Note> {
    let (detail, view) = cases::authorize(store, settings, principal, key, now).await?;
    cases::coordinator_only(view)?;
    let Some(note) = detail.case.note.clone().filter(|n| n.published) else {
        return Err(VulnError::Conflict(
            "only a published note is revised; until then it follows the case".into(),
        ));
    };
    let summary = summary.trim();
    if summary.is_empty() || summary.len() > 500 {
        return Err(VulnError::invalid(
            "summary",
            "say what changed (at most 500 characters)",
        ));
    }
    let content = serde_json::to_string(&snapshot(&detail)).unwrap_or_default();
    let mut tx = store.begin().await?;
    let (note_id, last): (i64, i64) = {
        sqlx::query_as(
            "SELECT n.id, MAX(r.revision) AS last FROM notes n JOIN note_revisions r ON r.note_id = n.id \
             WHERE n.note_key = $1 GROUP BY n.id",
        )
        .bind(&note.key)
        .fetch_one(tx.conn())
        .await?
    };
    sqlx::query("INSERT INTO note_revisions (note_id, revision, summary, content, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(note_id)
        .bind(last + 1)
        .bind(summary)
        .bind(&content)
        .bind(time::format(now))
        .execute(tx.conn())
        .await
        .map_err(|e| VulnError::from_insert(e, "this revision"))?;
    audit::record(
        &mut tx,
        &cases::actor_of(principal),
        Event {
            action: "note.revise",
            object_type: "note",
            object_id: note.key.clone(),
            changes: json!({"revision": last + 1, "summary": summary}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, &note.key, now, true)
        .await?
        .ok_or(VulnError::NotFound("note"))
}

/// A note by its key. Unless `unpublished` is set (the team's own tools), a note
/// whose moment has not come is not found.
pub async fn get(
    store: &Store,
    note_key: &str,
    now: DateTime<Utc>,
    unpublished: bool,
) -> Result<Option<Note>> {
    #[derive(sqlx::FromRow)]
    struct Head {
        id: i64,
        note_key: String,
        series: Series,
        publish_at: String,
        case_key: String,
        tlp: String,
    }
    let Some(head) = sqlx::query_as::<_, Head>(
        "SELECT n.id, n.note_key, n.series, n.publish_at, c.case_key, c.tlp FROM notes n JOIN cases c ON c.id = n.case_id \
         WHERE n.note_key = $1",
    )
    .bind(note_key)
    .fetch_optional(store.pool())
    .await?
    else {
        return Ok(None);
    };
    let publish_at = head.publish_at;
    let published = time::parse(&publish_at).is_some_and(|t| t <= now);
    if !unpublished && !published {
        return Ok(None);
    }
    let revisions: Vec<(i64, String, String, String)> = sqlx::query_as("SELECT revision, summary, content, created_at FROM note_revisions WHERE note_id = $1 ORDER BY revision")
        .bind(head.id)
        .fetch_all(store.pool())
        .await?;
    let Some((_, _, content, _)) = revisions.last() else {
        return Ok(None);
    };
    let content = note_content(content)?;
    let infos: Vec<RevisionInfo> = revisions
        .into_iter()
        .map(|(revision, summary, _, created_at)| RevisionInfo {
            revision,
            date: revision_date(revision, &publish_at, created_at),
            summary,
        })
        .collect();
    Ok(Some(Note {
        key: head.note_key,
        series: head.series,
        updated_at: infos
            .last()
            .map(|i| i.date.clone())
            .unwrap_or_else(|| publish_at.clone()),
        publish_at,
        revisions: infos,
        content,
        case_key: head.case_key,
        published,
        tlp: head.tlp,
    }))
}

/// A stored revision's text: written by Renkei, so one that does not parse is a
/// fault, not something to show half of.
fn note_content(text: &str) -> Result<NoteContent> {
    serde_json::from_str(text).map_err(|e| {
        VulnError::Core(renkei_core::CoreError::Internal(format!(
            "note content: {e}"
        )))
    })
}

/// The first revision is dated by its publication, not by when it was prepared.
fn revision_date(revision: i64, publish_at: &str, created_at: String) -> String {
    if revision == 1 {
        publish_at.to_string()
    } else {
        created_at
    }
}

/// Published notes, newest first.
pub async fn list_published(
    store: &Store,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<NoteSummary>> {
    #[derive(sqlx::FromRow)]
    struct Listed {
        note_key: String,
        series: Series,
        publish_at: String,
        revision: i64,
        content: String,
        created_at: String,
    }
    let rows: Vec<Listed> = sqlx::query_as(
        "SELECT n.note_key, n.series, n.publish_at, r.revision, r.content, r.created_at FROM notes n \
         JOIN note_revisions r ON r.note_id = n.id \
         WHERE n.publish_at <= $1 AND r.revision = (SELECT MAX(x.revision) FROM note_revisions x WHERE x.note_id = n.id) \
         ORDER BY n.publish_at DESC LIMIT $2",
    )
    .bind(time::format(now))
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(NoteSummary {
                key: r.note_key,
                series: r.series,
                title: note_content(&r.content)?.title,
                updated_at: revision_date(r.revision, &r.publish_at, r.created_at),
                publish_at: r.publish_at,
                revision: r.revision,
            })
        })
        .collect()
}

/// A case that has no note yet, as a draft to exchange with partner coordinators:
/// the note the case would give now, named by the case's key, marked with its TLP.
pub fn draft(d: &CaseDetail, now: DateTime<Utc>) -> Note {
    let at = time::format(now);
    Note {
        key: d.case.key.clone(),
        series: d.case.series,
        publish_at: d
            .case
            .proposed_publish_at
            .clone()
            .unwrap_or_else(|| at.clone()),
        updated_at: at.clone(),
        revisions: vec![RevisionInfo {
            revision: 1,
            date: at,
            summary: "Draft for coordination".into(),
        }],
        content: snapshot(d),
        case_key: d.case.key.clone(),
        published: false,
        tlp: d.case.tlp.clone(),
    }
}

/// A note by case key or note key, published or not: for the team's exports.
pub async fn for_export(store: &Store, id: &str, now: DateTime<Utc>) -> Result<Note> {
    let note_key: Option<String> = match crate::CaseId::parse(id) {
        Ok(case) => sqlx::query_scalar(
            "SELECT n.note_key FROM notes n JOIN cases c ON c.id = n.case_id WHERE c.case_key = $1",
        )
        .bind(case.as_str())
        .fetch_optional(store.pool())
        .await?,
        Err(_) => Some(id.to_string()),
    };
    let Some(note_key) = note_key else {
        return Err(VulnError::Conflict(format!(
            "{id} has no note yet: schedule its publication first"
        )));
    };
    get(store, &note_key, now, true)
        .await?
        .ok_or(VulnError::NotFound("note"))
}

/// The note as a CSAF 2.0 security advisory in `lang` (`en` or `ja`).
pub fn to_csaf(settings: &Settings, note: &Note, lang: &str) -> Result<Value> {
    let lang = asked(lang);
    let c = &note.content;
    let advisory = csaf::Advisory {
        tracking_id: note.key.clone(),
        title: c.title.get(lang).to_string(),
        lang: lang.as_str().into(),
        publisher: csaf::Publisher {
            name: settings.vuln.publisher_name.clone(),
            namespace: settings.vuln.publisher_namespace.clone(),
        },
        url: settings.note_url(&note.key),
        summary: c.title.get(lang).to_string(),
        description: c.overview.get(lang).to_string(),
        solution: c.solution.get(lang).to_string(),
        workaround: c.workaround.get(lang).to_string(),
        cve: c.cve.clone(),
        cwe: c
            .cwe
            .as_deref()
            .and_then(|id| renkei_formats::cwe::name(id).map(|n| (id.to_string(), n.to_string()))),
        cvss: c.cvss.as_ref().and_then(|x| Cvss31::parse(&x.vector).ok()),
        vendors: c
            .vendors
            .iter()
            .map(|v| csaf::Vendor {
                name: v.name.clone(),
                statement: Some(v.statement.get(lang).to_string()).filter(|s| !s.is_empty()),
                products: v
                    .products
                    .iter()
                    .map(|p| csaf::Product {
                        key: p.key.to_string(),
                        name: p.name.clone(),
                        cpe: p.cpe.clone(),
                        purl: p.purl.clone(),
                        status: p.status.csaf(),
                        fixed_in: p.fixed_in.clone(),
                    })
                    .collect(),
            })
            .collect(),
        references: c
            .references
            .iter()
            .map(|u| csaf::Reference {
                url: u.clone(),
                summary: u.clone(),
            })
            .collect(),
        credits: c.credits.clone(),
        revisions: note
            .revisions
            .iter()
            .map(|r| csaf::Revision {
                number: r.revision as u32,
                date: r.date.clone(),
                summary: r.summary.clone(),
            })
            .collect(),
        generator_version: env!("CARGO_PKG_VERSION").into(),
        // A note not yet public is a draft for partners, marked with the case's TLP.
        status: if note.published { "final" } else { "draft" }.into(),
        tlp: if note.published {
            "WHITE".into()
        } else {
            csaf::tlp_label(&note.tlp).into()
        },
    };
    Ok(csaf::write(&advisory)?)
}

/// The note as a CVE JSON 5 record with the CNA container.
pub fn to_cve5(settings: &Settings, note: &Note) -> Result<Value> {
    let c = &note.content;
    let Some(cve) = c.cve.clone() else {
        return Err(VulnError::Conflict(format!(
            "{} has no CVE ID: set the case's cve first",
            note.key
        )));
    };
    let mut references = vec![settings.note_url(&note.key)];
    references.extend(c.references.iter().cloned());
    let record = cve5::Record {
        cve_id: cve,
        assigner_org_id: if settings.vuln.cna_org_id.is_empty() {
            "00000000-0000-4000-8000-000000000000".into()
        } else {
            settings.vuln.cna_org_id.clone()
        },
        assigner_short_name: if settings.vuln.cna_short_name.is_empty() {
            "renkei".into()
        } else {
            settings.vuln.cna_short_name.clone()
        },
        title: c.title.get(Lang::En).to_string(),
        description: c.overview.get(Lang::En).to_string(),
        lang: "en".into(),
        affected: c
            .vendors
            .iter()
            .flat_map(|v| {
                v.products.iter().map(|p| cve5::Affected {
                    vendor: v.name.clone(),
                    product: p.name.clone(),
                    status: p.status.cve5(),
                    fixed_in: p.fixed_in.clone(),
                    cpe: p.cpe.clone(),
                })
            })
            .collect(),
        cwe: c
            .cwe
            .as_deref()
            .and_then(|id| renkei_formats::cwe::name(id).map(|n| (id.to_string(), n.to_string()))),
        cvss: c.cvss.as_ref().and_then(|x| Cvss31::parse(&x.vector).ok()),
        references,
        credits: c.credits.clone(),
        date_published: note.publish_at.clone(),
        date_updated: note.updated_at.clone(),
    };
    Ok(cve5::write(&record)?)
}

fn jvn_item(settings: &Settings, note: &Note, lang: Lang) -> syndication::JvnItem {
    let c = &note.content;
    syndication::JvnItem {
        identifier: note.key.clone(),
        title: c.title.get(lang).to_string(),
        link: settings.note_url(&note.key),
        description: c.overview.get(lang).to_string(),
        references: c
            .cve
            .iter()
            .map(|id| {
                (
                    "CVE".to_string(),
                    id.clone(),
                    format!("https://www.cve.org/CVERecord?id={id}"),
                )
            })
            .collect(),
        cpes: c
            .vendors
            .iter()
            .flat_map(|v| {
                v.products.iter().filter_map(|p| {
                    p.cpe
                        .clone()
                        .map(|cpe| (v.name.clone(), p.name.clone(), cpe))
                })
            })
            .collect(),
        cvss: c.cvss.as_ref().map(|x| {
            let mut sev = x.severity.to_lowercase();
            if let Some(first) = sev.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            (x.score, sev, x.vector.clone())
        }),
        issued: note.publish_at.clone(),
        modified: note.updated_at.clone(),
    }
}

/// The note as a JVNRSS document with one item.
pub fn to_jvnrss(settings: &Settings, note: &Note, lang: &str) -> String {
    let lang = asked(lang);
    syndication::jvnrss(
        &settings.vuln.publisher_name,
        &format!("{}/notes", settings.public_url),
        lang.as_str(),
        &[jvn_item(settings, note, lang)],
    )
}

/// The language a document was asked for in: Japanese only when asked for, as
/// CSAF and JVNRSS readers default to English.
fn asked(lang: &str) -> Lang {
    if lang == "ja" { Lang::Ja } else { Lang::En }
}

/// The Atom feed of published notes.
pub fn atom(settings: &Settings, notes: &[NoteSummary], lang: &str, now: DateTime<Utc>) -> String {
    let lang = asked(lang);
    let self_link = format!("{}/feeds/vulnerabilities.atom", settings.public_url);
    syndication::atom(&syndication::Feed {
        id: self_link.clone(),
        title: format!(
            "{} — {}",
            settings.vuln.publisher_name,
            catalog(lang).get("vuln.notes_title")
        ),
        self_link,
        link: format!("{}/notes", settings.public_url),
        lang: lang.as_str().to_string(),
        updated: notes
            .iter()
            .map(|n| n.updated_at.clone())
            .max()
            .unwrap_or_else(|| time::format(now)),
        entries: notes
            .iter()
            .map(|n| syndication::Entry {
                id: settings.note_url(&n.key),
                title: format!("{}: {}", n.key, n.title.get(lang)),
                link: settings.note_url(&n.key),
                published: n.publish_at.clone(),
                updated: n.updated_at.clone(),
                // The other language's title: a reader of one sees both.
                summary: n
                    .title
                    .get(match lang {
                        Lang::Ja => Lang::En,
                        Lang::En => Lang::Ja,
                    })
                    .to_string(),
            })
            .collect(),
    })
}

/// Where the team's public OpenPGP key is served, named by its fingerprint.
pub fn openpgp_key_url(settings: &Settings, fingerprint: &str) -> String {
    format!(
        "{}/.well-known/csaf/openpgp/{fingerprint}.asc",
        settings.public_url
    )
}

/// The ROLIE feed of the TLP:WHITE advisories (CSAF section 7.1.20).
pub fn rolie_feed_url(settings: &Settings) -> String {
    format!(
        "{}/.well-known/csaf/white/feed-tlp-white.json",
        settings.public_url
    )
}

/// CSAF's provider-metadata.json (section 7.2.1) for this installation: the
/// TLP:WHITE directory and its ROLIE feed, and the team's key that signs each
/// advisory (`.asc`), when one is configured.
pub fn provider_metadata(settings: &Settings, last_updated: &str) -> Value {
    let keys: Vec<Value> = settings
        .team_key
        .iter()
        .map(|k| {
            let fingerprint = k.fingerprint().to_ascii_uppercase();
            json!({"fingerprint": fingerprint, "url": openpgp_key_url(settings, &fingerprint)})
        })
        .collect();
    json!({
        "canonical_url": format!("{}/.well-known/csaf/provider-metadata.json", settings.public_url),
        "distributions": [{
            "directory_url": format!("{}/.well-known/csaf/white/", settings.public_url),
            "rolie": {"feeds": [{
                "summary": "TLP:WHITE advisories",
                "tlp_label": "WHITE",
                "url": rolie_feed_url(settings),
            }]},
        }],
        "last_updated": last_updated,
        "list_on_CSAF_aggregators": true,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": true,
        "public_openpgp_keys": keys,
        "publisher": {
            "category": "coordinator",
            "name": settings.vuln.publisher_name,
            "namespace": settings.vuln.publisher_namespace,
        },
        "role": "csaf_provider",
    })
}

/// The ROLIE feed (RFC 8322, as CSAF section 7.1.20 profiles it) of the published
/// advisories, newest first, each with its hashes and — when the team signs — its
/// signature.
pub fn rolie_feed(settings: &Settings, notes: &[NoteSummary], now: DateTime<Utc>) -> Value {
    let base = format!("{}/.well-known/csaf/white", settings.public_url);
    let updated = notes
        .iter()
        .map(|n| n.updated_at.clone())
        .max()
        .unwrap_or_else(|| time::format(now));
    let entries: Vec<Value> = notes
        .iter()
        .map(|n| {
            let url = format!("{base}/{}", csaf_path(n));
            let mut links = vec![
                json!({"rel": "self", "href": url}),
                json!({"rel": "hash", "href": format!("{url}.sha256")}),
                json!({"rel": "hash", "href": format!("{url}.sha512")}),
            ];
            if settings.team_key.is_some() {
                links.push(json!({"rel": "signature", "href": format!("{url}.asc")}));
            }
            json!({
                "id": n.key,
                "title": n.title.get(Lang::En),
                "link": links,
                "published": n.publish_at,
                "updated": n.updated_at,
                "content": {"type": "application/json", "src": url},
                "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"},
            })
        })
        .collect();
    json!({"feed": {
        "id": "renkei-csaf-feed-tlp-white",
        "title": format!("{} CSAF advisories (TLP:WHITE)", settings.vuln.publisher_name),
        "link": [{"rel": "self", "href": rolie_feed_url(settings)}],
        "category": [{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}],
        "updated": updated,
        "entry": entries,
    }})
}

/// The team's `/.well-known/security.txt` (RFC 9116): how to report, in which
/// languages, with which key, and where the CSAF provider metadata is. `contact` is
/// the team's mail address, if it has one.
pub fn security_txt(settings: &Settings, contact: Option<&str>, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if let Some(mail) = contact.filter(|m| !m.is_empty()) {
        out.push_str(&format!("Contact: mailto:{mail}\n"));
    }
    out.push_str(&format!(
        "Contact: {}/vulnerabilities/report\n",
        settings.public_url
    ));
    // Renewed as it is read: a fixed date would go stale in a running installation.
    let expires = (now + chrono::Duration::days(180)).format("%Y-%m-%dT%H:%M:%SZ");
    out.push_str(&format!("Expires: {expires}\n"));
    if let Some(k) = &settings.team_key {
        out.push_str(&format!(
            "Encryption: {}\n",
            openpgp_key_url(settings, &k.fingerprint().to_ascii_uppercase())
        ));
    }
    out.push_str("Preferred-Languages: ja, en\n");
    out.push_str(&format!(
        "Canonical: {}/.well-known/security.txt\n",
        settings.public_url
    ));
    out.push_str(&format!("Policy: {}/about\n", settings.public_url));
    out.push_str(&format!(
        "CSAF: {}/.well-known/csaf/provider-metadata.json\n",
        settings.public_url
    ));
    out
}

/// Where an advisory lives under the CSAF directory: `<year>/<file name>`.
pub fn csaf_path(n: &NoteSummary) -> String {
    let year = time::parse(&n.publish_at).map(|t| t.year()).unwrap_or(1970);
    format!("{year}/{}", csaf::file_name(&n.key))
}

/// The note a CSAF directory path names, if published.
pub fn note_key_for_path<'a>(
    notes: &'a [NoteSummary],
    year: &str,
    file: &str,
) -> Option<&'a NoteSummary> {
    let wanted = format!("{year}/{file}");
    notes.iter().find(|n| csaf_path(n) == wanted)
}

/// index.txt and changes.csv of the CSAF directory (sections 7.1.13 and 7.1.14).
pub fn csaf_index(notes: &[NoteSummary]) -> (String, String) {
    let mut index = String::new();
    let mut changes = String::new();
    let mut sorted: Vec<&NoteSummary> = notes.iter().collect();
    sorted.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    for n in &sorted {
        index.push_str(&csaf_path(n));
        index.push('\n');
        let updated = time::parse(&n.updated_at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| n.updated_at.clone());
        changes.push_str(&format!("\"{}\",\"{}\"\n", csaf_path(n), updated));
    }
    (index, changes)
}

/// The public address of a note page (HTML).
pub fn page_path(note_key: &str) -> String {
    format!("/notes/{}", encode_key(note_key))
}

/// What a public answer may say about vulnerability notes: the one rule that a
/// reference to a note — its ID, its CVE, its title — appears in front of the
/// public only once the note itself is public. Alerts, observation annotations, the
/// weekly and quarterly reports all ask this, so an alert published ahead of its
/// note, or an annotation written during the embargo, never gives the note away.
#[derive(Debug, Clone, Default)]
pub struct Disclosure {
    public_keys: std::collections::HashSet<String>,
    embargoed_keys: std::collections::HashSet<String>,
    embargoed_cves: std::collections::HashSet<String>,
}

impl Disclosure {
    /// Reads which notes are public at `now`, and which IDs and CVEs still belong
    /// to a case whose note is not (or that has no note yet).
    pub async fn at(store: &Store, now: DateTime<Utc>) -> Result<Disclosure> {
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT n.note_key, n.publish_at, c.cve FROM cases c LEFT JOIN notes n ON n.case_id = c.id",
        )
        .fetch_all(store.pool())
        .await?;
        let mut d = Disclosure::default();
        for (key, publish_at, cve) in rows {
            let public = publish_at
                .as_deref()
                .and_then(time::parse)
                .is_some_and(|t| t <= now);
            match (key, public) {
                (Some(k), true) => {
                    d.public_keys.insert(k);
                }
                (Some(k), false) => {
                    d.embargoed_keys.insert(k);
                }
                (None, _) => {}
            }
            if !public && let Some(c) = cve {
                d.embargoed_cves.extend(
                    c.split([',', ' '])
                        .filter(|c| !c.is_empty())
                        .map(|c| c.trim().to_ascii_uppercase()),
                );
            }
        }
        Ok(d)
    }

    /// Any reference: a CVE ID is judged as a CVE, anything else as a note ID.
    pub fn reference(&self, reference: &str) -> bool {
        use renkei_core::access::NoteDisclosure as _;
        if reference.trim().to_ascii_uppercase().starts_with("CVE-") {
            self.cve(reference)
        } else {
            self.note_key(reference)
        }
    }

    /// The references of `refs` that may be shown, in their order.
    pub fn filter(&self, refs: &[String]) -> Vec<String> {
        refs.iter().filter(|r| self.reference(r)).cloned().collect()
    }
}

impl renkei_core::access::NoteDisclosure for Disclosure {
    /// A note ID may be shown when a published note carries it.
    fn note_key(&self, key: &str) -> bool {
        let key = key.trim();
        self.public_keys.contains(key) && !self.embargoed_keys.contains(key)
    }

    /// A CVE ID may be shown unless it belongs to a case whose note is not public.
    /// (A CVE the team never coordinated is public elsewhere already.)
    fn cve(&self, cve: &str) -> bool {
        !self
            .embargoed_cves
            .contains(&cve.trim().to_ascii_uppercase())
    }
}
