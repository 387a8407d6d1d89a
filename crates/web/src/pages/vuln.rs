//! Vulnerability coordination pages: the public notes (ja/en) and the public forms
//! for finders and product developers; the coordinators' and vendors' case pages
//! (each sees what the case's gate lets it see); the vendor registry.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_core::Classify;
use renkei_core::lang::Lang;
use renkei_vuln::cases::{self, CaseDetail, CaseSummary, Message};
use renkei_vuln::notes::{self, Note, NoteSummary};
use renkei_vuln::vendors::{self, Suggestion, Vendor, VendorDetail};
use renkei_vuln::{ProductStatus, Stage, VulnError, registration};
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::form::{Form, blank};
use crate::http::state::AppState;
use crate::pages::{Page, Shell, html, html_status, see_other};

pub(crate) fn field(f: &HashMap<String, String>, k: &str) -> String {
    f.get(k).map(|v| v.trim().to_string()).unwrap_or_default()
}

fn opt(f: &HashMap<String, String>, k: &str) -> Option<String> {
    Some(field(f, k)).filter(|v| !v.is_empty())
}

#[derive(Template)]
#[template(path = "notes.html")]
struct NotesPage<'a> {
    shell: Shell<'a>,
    notes: Vec<NoteSummary>,
    lang: Lang,
}

impl NotesPage<'_> {
    fn l<'b>(&self, text: &'b notes::Bilingual) -> &'b str {
        text.get(self.lang)
    }
}

pub(crate) async fn notes_list(page: Page) -> Result<Response, AppError> {
    let notes = notes::list_published(page.store(), page.now, 500).await?;
    let lang = page.lang;
    html(&NotesPage {
        shell: page.shell("notes"),
        notes,
        lang,
    })
}

#[derive(Template)]
#[template(path = "note.html")]
struct NotePage<'a> {
    shell: Shell<'a>,
    note: Note,
    lang: Lang,
    encoded: String,
}

impl NotePage<'_> {
    fn l<'b>(&self, text: &'b notes::Bilingual) -> &'b str {
        text.get(self.lang)
    }
    fn status(&self, s: &ProductStatus) -> &'static str {
        s.label(self.lang)
    }
    /// The weakness as people read it: its number with the CWE list's name.
    fn cwe_label(&self) -> String {
        let Some(cwe) = self.note.content.cwe.as_deref() else {
            return String::new();
        };
        match renkei_formats::cwe::name_for(cwe, self.lang == Lang::Ja) {
            Some(name) => format!("{cwe}: {name}"),
            None => cwe.to_string(),
        }
    }
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// A published note; before its moment it does not exist.
pub(crate) async fn note_page(
    page: Page,
    Path(key): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, AppError> {
    let note = notes::get(page.store(), &key, page.now, false)
        .await?
        .ok_or_else(AppError::not_found)?;
    let lang = q
        .lang
        .as_deref()
        .and_then(|l| Lang::parse(l).ok())
        .unwrap_or(page.lang);
    let encoded = renkei_vuln::encode_key(&note.key);
    let mut r = html(&NotePage {
        shell: page.shell("notes"),
        note,
        lang,
        encoded,
    })?;
    crate::api::vuln::public_cache(&mut r);
    Ok(r)
}

#[derive(Template)]
#[template(path = "vuln_report.html")]
struct ReportPage<'a> {
    shell: Shell<'a>,
    form: HashMap<String, String>,
    error: Option<String>,
    done: Option<String>,
    /// The finder's status page, shown once after the form.
    status_url: Option<String>,
}

impl ReportPage<'_> {
    fn v(&self, k: &str) -> String {
        field(&self.form, k)
    }
}

pub(crate) async fn report_form(page: Page) -> Result<Response, AppError> {
    html(&ReportPage {
        shell: page.shell("vuln_report"),
        form: HashMap::new(),
        error: None,
        done: None,
        status_url: None,
    })
}

pub(crate) async fn report_submit(
    page: Page,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let again = |error: String, status: StatusCode, form: HashMap<String, String>| {
        html_status(
            status,
            &ReportPage {
                shell: page.shell("vuln_report"),
                form,
                error: Some(error),
                done: None,
                status_url: None,
            },
        )
    };
    if page.state.anonymous_submission_throttled(&page.auth).await {
        return again(
            page.shell("vuln_report").t("report.throttled").to_string(),
            StatusCode::TOO_MANY_REQUESTS,
            form,
        );
    }
    let new = cases::NewCase {
        title: field(&form, "title"),
        description: field(&form, "description"),
        affected: field(&form, "affected"),
        cvss_vector: opt(&form, "cvss_vector"),
        cwe: opt(&form, "cwe"),
        cve: None,
        credit: field(&form, "credit"),
        reporter_name: field(&form, "reporter_name"),
        reporter_email: field(&form, "reporter_email"),
        series: None,
        tlp: None,
    };
    match cases::submit(
        page.store(),
        &page.state.vuln,
        &page.auth.actor(),
        new,
        page.lang,
        &page.store().now_str(),
    )
    .await
    {
        Ok(submitted) => html(&ReportPage {
            shell: page.shell("vuln_report"),
            form: HashMap::new(),
            error: None,
            done: Some(submitted.case.to_string()),
            status_url: submitted
                .secret
                .map(|s| cases::finder::link(&page.state.vuln, &s)),
        }),
        Err(e) if e.kind().is_user_error() => {
            again(e.to_string(), StatusCode::UNPROCESSABLE_ENTITY, form)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "vendor_apply.html")]
struct ApplyPage<'a> {
    shell: Shell<'a>,
    form: HashMap<String, String>,
    error: Option<String>,
    done: bool,
}

impl ApplyPage<'_> {
    fn v(&self, k: &str) -> String {
        field(&self.form, k)
    }
}

pub(crate) async fn apply_form(page: Page) -> Result<Response, AppError> {
    html(&ApplyPage {
        shell: page.shell("vendor_apply"),
        form: HashMap::new(),
        error: None,
        done: false,
    })
}

pub(crate) async fn apply_submit(
    page: Page,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let again = |error: String, status: StatusCode, form: HashMap<String, String>| {
        html_status(
            status,
            &ApplyPage {
                shell: page.shell("vendor_apply"),
                form,
                error: Some(error),
                done: false,
            },
        )
    };
    if page.state.anonymous_submission_throttled(&page.auth).await {
        return again(
            page.shell("vendor_apply").t("report.throttled").to_string(),
            StatusCode::TOO_MANY_REQUESTS,
            form,
        );
    }
    let mut languages = Vec::new();
    for l in ["ja", "en"] {
        if form.contains_key(&format!("lang_{l}")) {
            languages.push(l.to_string());
        }
    }
    let app = vendors::Application {
        company: field(&form, "company"),
        name: field(&form, "name"),
        email: field(&form, "email"),
        pgp_key: opt(&form, "pgp_key"),
        products: field(&form, "products")
            .lines()
            .map(str::to_string)
            .collect(),
        languages,
        country: None,
        by_mail: form.contains_key("by_mail"),
    };
    match vendors::apply(
        page.store(),
        &page.auth.client,
        app,
        &page.store().now_str(),
    )
    .await
    {
        Ok(_) => html(&ApplyPage {
            shell: page.shell("vendor_apply"),
            form: HashMap::new(),
            error: None,
            done: true,
        }),
        Err(e) if e.kind().is_user_error() => {
            again(e.to_string(), StatusCode::UNPROCESSABLE_ENTITY, form)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage<'a> {
    shell: Shell<'a>,
    cases: Vec<CaseSummary>,
}

pub(crate) async fn cases_list(page: Page) -> Result<Response, AppError> {
    let cases = cases::list(page.store(), page.caller(), page.now).await?;
    html(&CasesPage {
        shell: page.shell("cases"),
        cases,
    })
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage<'a> {
    shell: Shell<'a>,
    d: CaseDetail,
    /// Coordinators: the CSIRTs in the address book that could take part.
    csirts: Vec<renkei_core::orgs::Organization>,
    messages: Vec<Message>,
    /// Coordinators: the finder's thread.
    finder: Vec<renkei_mail::conversations::Message>,
    /// A vendor that has not acknowledged: its summary.
    summary: String,
    suggestions: Vec<Suggestion>,
    registry: Vec<Vendor>,
    statuses: &'static [ProductStatus],
    stages: Vec<Stage>,
    error: Option<String>,
    clock: CaseClock,
}

/// Where a case stands against the team's target (the seeds' 45 days from report to
/// publication): the days gone, and the milestones on the way with their day.
pub struct CaseClock {
    pub days: i64,
    pub target: i64,
    /// Published, or scheduled with its date: the count stops there.
    pub done: bool,
    pub steps: Vec<CaseStep>,
}

pub struct CaseStep {
    pub key: &'static str,
    pub at: String,
    pub day: i64,
    /// Still to come (a publication date ahead).
    pub ahead: bool,
}

/// The earliest of some stored times, with the text it was stored as.
fn earliest<'a>(
    times: impl Iterator<Item = &'a str>,
) -> Option<(chrono::DateTime<chrono::Utc>, &'a str)> {
    times
        .filter_map(|s| renkei_core::time::parse(s).map(|t| (t, s)))
        .min()
}

impl CaseClock {
    fn of(d: &CaseDetail, target: i64, now: chrono::DateTime<chrono::Utc>) -> CaseClock {
        let parse = |s: &str| renkei_core::time::parse(s);
        let start = parse(&d.case.received_at).unwrap_or(now);
        let day = |at: chrono::DateTime<chrono::Utc>| (at - start).num_days();
        let mut steps = vec![CaseStep {
            key: "received",
            at: d.case.received_at.clone(),
            day: 0,
            ahead: false,
        }];
        if let Some((t, s)) = earliest(d.vendors.iter().map(|v| v.notified_at.as_str())) {
            steps.push(CaseStep {
                key: "notified",
                at: s.to_string(),
                day: day(t),
                ahead: false,
            });
        }
        if let Some((t, s)) = earliest(
            d.vendors
                .iter()
                .filter_map(|v| v.acknowledged_at.as_deref()),
        ) {
            steps.push(CaseStep {
                key: "acknowledged",
                at: s.to_string(),
                day: day(t),
                ahead: false,
            });
        }
        let publication = d
            .case
            .note
            .as_ref()
            .map(|n| (n.publish_at.as_str(), "published"))
            .or_else(|| {
                d.case
                    .proposed_publish_at
                    .as_deref()
                    .map(|p| (p, "proposed"))
            });
        let mut end = now;
        let mut done = false;
        if let Some((s, key)) = publication
            && let Some(t) = parse(s)
        {
            steps.push(CaseStep {
                key,
                at: s.to_string(),
                day: day(t),
                ahead: t > now,
            });
            if key == "published" {
                end = t;
                done = true;
            }
        }
        CaseClock {
            days: day(end).max(0),
            target: target.max(1),
            done,
            steps,
        }
    }

    /// How far along the bar is, in percent of the target (at most 100).
    pub fn percent(&self) -> i64 {
        (self.days * 100 / self.target).clamp(0, 100)
    }

    pub fn over(&self) -> bool {
        self.days > self.target
    }
}

impl CasePage<'_> {
    /// The case's weakness with its name in the reader's language.
    fn cwe_name(&self) -> &'static str {
        let japanese = self.shell.lang == "ja";
        self.d
            .case
            .cwe
            .as_deref()
            .and_then(|c| renkei_formats::cwe::name_for(c, japanese))
            .unwrap_or("")
    }

    fn clock_words(&self) -> String {
        let c = &self.clock;
        let words = self.shell.catalog;
        let head = words.fill(
            if c.done {
                "case_clock.done"
            } else {
                "case_clock.elapsed"
            },
            &[("days", &c.days), ("target", &c.target)],
        );
        if c.done {
            return head;
        }
        let tail = if c.over() {
            words.fill("case_clock.over", &[("n", &(c.days - c.target))])
        } else {
            words.fill("case_clock.left", &[("n", &(c.target - c.days))])
        };
        format!("{head} · {tail}")
    }

    fn step_day(&self, step: &CaseStep) -> String {
        self.shell
            .catalog
            .fill("case_clock.day", &[("n", &step.day)])
    }

    fn coordinator(&self) -> bool {
        self.d.view == "coordinator"
    }
    /// The note is out: dates are no longer proposed, answered or scheduled.
    fn published(&self) -> bool {
        self.d.case.note.as_ref().is_some_and(|n| n.published)
    }
    fn summary_only(&self) -> bool {
        self.d.view == "vendor_summary"
    }
    fn any_unacknowledged(&self) -> bool {
        self.d.vendors.iter().any(|v| v.acknowledged_at.is_none())
    }
    /// The finder's name or address, as they gave it (coordinators only).
    fn reporter(&self, field: &str) -> &str {
        self.d.case.reporter_field(field)
    }
    fn impact(&self) -> String {
        cases::impact(
            &self.d.case,
            Lang::parse(self.shell.lang).unwrap_or_default(),
        )
    }
    fn status(&self, s: &ProductStatus) -> &'static str {
        s.label(Lang::parse(self.shell.lang).unwrap_or_default())
    }
    /// Vendors and coordinators record a vendor's status; partners do not.
    fn records_status(&self) -> bool {
        matches!(self.d.view, "coordinator" | "vendor")
    }
    fn partner(&self) -> bool {
        self.d.view == "partner"
    }
    /// Whose thread a message is in: a vendor's, a partner's, or the team's notes.
    fn thread_name(&self, m: &Message) -> String {
        if let Some(org) = m.partner_org_id {
            return self
                .d
                .partners
                .iter()
                .find(|p| p.org_id == org)
                .map(|p| format!("{} ({})", p.name, self.shell.t("vuln.partner")))
                .unwrap_or_default();
        }
        self.vendor_name(&m.vendor_id)
    }
    fn vendor_name(&self, id: &Option<i64>) -> String {
        match id {
            None => self.shell.t("vuln.internal").to_string(),
            Some(id) => self
                .d
                .vendors
                .iter()
                .find(|v| v.vendor_id == *id)
                .map(|v| v.name.clone())
                .unwrap_or_default(),
        }
    }
}

async fn show_case(
    state: &AppState,
    page: &Page,
    key: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let now = state.store.now();
    let d = cases::read(&state.store, &state.vuln, page.caller(), key, now).await?;
    let (messages, summary) = if d.view == "vendor_summary" {
        let summary = d
            .vendors
            .first()
            .map(|v| cases::summary_for(&d.case, v, page.lang))
            .unwrap_or_default();
        (Vec::new(), summary)
    } else {
        (
            cases::messages(&state.store, &state.vuln, page.caller(), key, now).await?,
            String::new(),
        )
    };
    let finder = if d.view == "coordinator" {
        cases::finder::thread_for(&state.store, &d).await?
    } else {
        Vec::new()
    };
    let on: Vec<i64> = d.vendors.iter().map(|v| v.vendor_id).collect();
    let registered = || async {
        Ok::<Vec<Vendor>, AppError>(
            vendors::list(&state.store)
                .await?
                .into_iter()
                .filter(|v| !on.contains(&v.id) && v.state == renkei_vuln::VendorState::Registered)
                .collect(),
        )
    };
    let (suggestions, registry, csirts) = match d.view {
        "coordinator" => {
            let taking_part: Vec<i64> = d.partners.iter().map(|p| p.org_id).collect();
            (
                cases::suggestions_for(&state.store, &d).await?,
                registered().await?,
                renkei_core::orgs::list(&state.store, Some(renkei_core::orgs::OrgKind::Csirt))
                    .await?
                    .into_iter()
                    .filter(|o| !taking_part.contains(&o.id))
                    .collect(),
            )
        }
        // A partner adds the vendors of its constituency from the registry.
        "partner" => (Vec::new(), registered().await?, Vec::new()),
        _ => (Vec::new(), Vec::new(), Vec::new()),
    };
    let clock = CaseClock::of(&d, state.config.vuln.publication_target_days, now);
    let p = CasePage {
        shell: page.shell("cases"),
        d,
        csirts,
        messages,
        finder,
        summary,
        suggestions,
        registry,
        statuses: ProductStatus::ALL,
        stages: vec![
            Stage::Acknowledged,
            Stage::Investigating,
            Stage::DateAgreed,
            Stage::FixReady,
        ],
        error,
        clock,
    };
    if status == StatusCode::OK {
        html(&p)
    } else {
        html_status(status, &p)
    }
}

pub(crate) async fn case_page(page: Page, Path(key): Path<String>) -> Result<Response, AppError> {
    show_case(&page.state, &page, &key, None, StatusCode::OK).await
}

/// What a case-page form led to: back to the case, or the case again with the
/// refusal (a bad date, a missing agreement); "not found" stays a plain 404 so that
/// the page reveals nothing.
async fn after_case_form(
    state: &AppState,
    page: &Page,
    key: &str,
    result: Result<(), VulnError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/cases/{key}"))),
        Err(VulnError::NotFound(_)) => Err(AppError::not_found()),
        Err(e @ VulnError::Core(renkei_core::CoreError::Forbidden)) => Err(e.into()),
        Err(e @ VulnError::NotAcknowledged) => Err(e.into()),
        Err(e) if e.kind().is_user_error() => {
            let status = if matches!(e, VulnError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            show_case(state, page, key, Some(e.to_string()), status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct MessageForm {
    #[serde(default)]
    body: String,
    /// Coordinators: the vendor's thread; none for an internal note.
    #[serde(default, deserialize_with = "blank")]
    vendor_id: Option<i64>,
    /// Coordinators: `v:<vendor>` or `p:<partner organization>`; empty for an
    /// internal note.
    #[serde(default)]
    thread: String,
}

pub(crate) async fn case_message(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<MessageForm>,
) -> Result<Response, AppError> {
    let pick = |prefix: &str| {
        f.thread
            .strip_prefix(prefix)
            .and_then(|id| id.trim().parse::<i64>().ok())
    };
    let message = cases::NewMessage {
        body: f.body.trim().to_string(),
        vendor_id: f.vendor_id.or_else(|| pick("v:")),
        partner_org_id: pick("p:"),
    };
    let (store, s, p) = page.vuln();
    let result = cases::post_message(store, s, p, &key, message, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct AddVendorForm {
    #[serde(default, deserialize_with = "blank")]
    vendor_id: Option<i64>,
}

pub(crate) async fn case_add_vendor(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<AddVendorForm>,
) -> Result<Response, AppError> {
    let result = match f.vendor_id {
        Some(vendor_id) => {
            let add = cases::AddVendor {
                vendor_id,
                products: None,
            };
            let (store, s, p) = page.vuln();
            cases::add_vendor(store, s, p, &key, add, page.now)
                .await
                .map(drop)
        }
        None => Err(VulnError::invalid("vendor_id", "choose a vendor")),
    };
    after_case_form(&page.state, &page, &key, result).await
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default, deserialize_with = "blank")]
    vendor_id: Option<i64>,
    #[serde(default, deserialize_with = "blank")]
    stage: Option<String>,
    statement_ja: Option<String>,
    statement_en: Option<String>,
    /// A checkbox: present when ticked.
    unreachable: Option<String>,
    /// `status_{product}` and `fixed_{product}` for each of the vendor's products.
    #[serde(flatten)]
    products: HashMap<String, String>,
}

pub(crate) async fn case_status(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<StatusForm>,
) -> Result<Response, AppError> {
    let (store, s, p, now) = (page.store(), &page.state.vuln, page.caller(), page.now);
    let (d, _) = cases::authorize(store, s, p, &key, now).await?;
    let coordinator = d.view == "coordinator";
    let own = match f.vendor_id {
        Some(id) => d.vendors.iter().find(|v| v.vendor_id == id),
        None => d.vendors.first(),
    };
    let products = own
        .map(|v| {
            v.products
                .iter()
                .filter_map(|pr| {
                    let status = opt(&f.products, &format!("status_{}", pr.id))?;
                    Some(cases::ProductUpdate {
                        name: pr.name.clone(),
                        status,
                        fixed_in: opt(&f.products, &format!("fixed_{}", pr.id)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let update = cases::VendorUpdate {
        vendor_id: f.vendor_id.filter(|_| coordinator),
        stage: f.stage,
        statement_ja: f.statement_ja,
        statement_en: f.statement_en,
        products,
        unreachable: coordinator.then_some(f.unreachable.is_some()),
    };
    let result = cases::update_vendor(store, s, p, &key, update, now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct ProposeForm {
    #[serde(default)]
    publish_at: String,
    #[serde(default, deserialize_with = "blank")]
    tz: Option<String>,
}

pub(crate) async fn case_propose_date(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<ProposeForm>,
) -> Result<Response, AppError> {
    let proposal = cases::DateProposal {
        publish_at: f.publish_at.trim().to_string(),
        tz: f.tz,
    };
    let (store, s, p) = page.vuln();
    let result = cases::propose_date(store, s, p, &key, proposal, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct AnswerForm {
    #[serde(default)]
    accept: String,
    #[serde(default, deserialize_with = "blank")]
    requested_date: Option<String>,
    #[serde(default, deserialize_with = "blank")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "blank")]
    vendor_id: Option<i64>,
}

pub(crate) async fn case_answer_date(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<AnswerForm>,
) -> Result<Response, AppError> {
    let answer = cases::DateAnswer {
        accept: f.accept.trim() == "yes",
        requested_date: f.requested_date,
        reason: f.reason,
        vendor_id: f.vendor_id,
    };
    let (store, s, p) = page.vuln();
    let result = cases::answer_date(store, s, p, &key, answer, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct ScheduleForm {
    #[serde(default, deserialize_with = "blank")]
    override_reason: Option<String>,
}

pub(crate) async fn case_schedule(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let schedule = notes::Schedule {
        override_reason: f.override_reason,
    };
    let (store, s, p) = page.vuln();
    let result = notes::schedule(store, s, p, &key, schedule, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct ReviseForm {
    #[serde(default)]
    summary: String,
}

pub(crate) async fn case_revise(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<ReviseForm>,
) -> Result<Response, AppError> {
    let (store, s, p) = page.vuln();
    let result = notes::revise(store, s, p, &key, f.summary.trim(), page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Template)]
#[template(path = "vendors.html")]
struct VendorsPage<'a> {
    shell: Shell<'a>,
    vendors: Vec<Vendor>,
}

pub(crate) async fn vendors_list(page: Page) -> Result<Response, AppError> {
    html(&VendorsPage {
        shell: page.shell("vendors"),
        vendors: vendors::list(page.store()).await?,
    })
}

#[derive(Template)]
#[template(path = "vendor.html")]
struct VendorPage<'a> {
    shell: Shell<'a>,
    v: VendorDetail,
    states: &'static [renkei_vuln::VendorState],
    error: Option<String>,
}

impl VendorPage<'_> {
    /// The application's fields as the page lists them, labels from the catalogs.
    fn application(&self) -> Vec<(&'static str, String)> {
        let app = &self.v.application;
        let text = |k: &str| app[k].as_str().unwrap_or("").to_string();
        let list = |k: &str| {
            app[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let yes_no = if app["by_mail"].as_bool().unwrap_or(false) {
            self.shell.t("vuln.yes")
        } else {
            self.shell.t("vuln.no")
        };
        vec![
            ("vuln.company", text("company")),
            ("vuln.name", text("name")),
            ("vuln.email", text("email")),
            ("vuln.products", list("products")),
            ("vuln.languages", list("languages")),
            ("vuln.by_mail", yes_no.to_string()),
            ("vuln.applied_from", text("from")),
        ]
    }

    fn key_confirmed(&self, at: &str, by: &str) -> String {
        self.shell.catalog.fill(
            "vuln.key_confirmed",
            &[("at", &self.shell.when(at)), ("by", &by)],
        )
    }
}

pub(crate) async fn vendor_page(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let v = vendors::get(page.store(), id).await?;
    html(&VendorPage {
        shell: page.shell("vendors"),
        v,
        states: renkei_vuln::VendorState::ALL,
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct VendorStateForm {
    #[serde(default)]
    state: String,
    #[serde(default, deserialize_with = "blank")]
    terms_version: Option<String>,
}

/// Moves a vendor through the registration steps.
pub(crate) async fn vendor_state(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<VendorStateForm>,
) -> Result<Response, AppError> {
    let change = vendors::StateChange {
        state: f.state.trim().to_string(),
        terms_version: f.terms_version,
    };
    let now = page.state.store.now_str();
    let result = vendors::set_state(
        page.store(),
        &page.state.vuln,
        &page.auth.actor(),
        id,
        change,
        &now,
    )
    .await;
    after_vendor_form(&page.state, &page, id, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct VendorContactForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default, deserialize_with = "blank")]
    pgp_key: Option<String>,
}

pub(crate) async fn vendor_contact(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<VendorContactForm>,
) -> Result<Response, AppError> {
    let contact = vendors::NewContact {
        name: f.name.trim().to_string(),
        email: f.email.trim().to_string(),
        pgp_key: f.pgp_key,
    };
    let now = page.state.store.now_str();
    let result = vendors::add_contact(
        page.store(),
        &page.state.vuln,
        &page.auth.actor(),
        id,
        contact,
        &now,
    )
    .await;
    after_vendor_form(&page.state, &page, id, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct VendorProductForm {
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "blank")]
    cpe: Option<String>,
    #[serde(default, deserialize_with = "blank")]
    purl: Option<String>,
}

pub(crate) async fn vendor_product(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<VendorProductForm>,
) -> Result<Response, AppError> {
    let product = vendors::NewProduct {
        name: f.name.trim().to_string(),
        cpe: f.cpe,
        purl: f.purl,
    };
    let now = page.state.store.now_str();
    let result = vendors::add_product(page.store(), &page.auth.actor(), id, product, &now).await;
    after_vendor_form(&page.state, &page, id, result.map(drop)).await
}

/// A coordinator keeps documents exchanged during registration (sent or returned).
pub(crate) async fn vendor_documents_add(
    page: Page,
    Path(id): Path<i64>,
    form: crate::http::form::WithFiles,
) -> Result<Response, AppError> {
    let direction = form.get("direction");
    let now = page.state.store.now_str();
    let actor = page.auth.actor();
    let mut result = Ok(());
    if form.files.is_empty() {
        result = Err(VulnError::invalid("file", "choose a file"));
    }
    for f in &form.files {
        if let Err(e) = registration::add_document(
            page.store(),
            &actor,
            id,
            direction.trim(),
            &f.filename,
            &f.content_type,
            &f.data,
            &now,
        )
        .await
        {
            result = Err(e);
            break;
        }
    }
    after_vendor_form(&page.state, &page, id, result).await
}

/// A registration document, as an attachment whatever its type.
pub(crate) async fn vendor_document(
    page: Page,
    Path((id, doc)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let (meta, data) = registration::document(page.store(), id, doc).await?;
    Ok(crate::api::vuln::file_response(
        &meta.filename,
        &meta.sha256,
        data,
    ))
}

#[derive(Deserialize)]
pub(crate) struct MeetingForm {
    #[serde(default)]
    held_on: String,
    #[serde(default)]
    attendees: String,
    #[serde(default)]
    minutes: String,
}

pub(crate) async fn vendor_meeting(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<MeetingForm>,
) -> Result<Response, AppError> {
    let new = registration::NewMeeting {
        held_on: f.held_on,
        attendees: f.attendees,
        minutes: f.minutes,
    };
    let now = page.state.store.now_str();
    let result =
        registration::record_meeting(page.store(), &page.auth.actor(), id, new, &now).await;
    after_vendor_form(&page.state, &page, id, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct KeyConfirmForm {
    #[serde(default)]
    fingerprint: String,
}

pub(crate) async fn vendor_key_confirm(
    page: Page,
    Path((id, contact)): Path<(i64, i64)>,
    Form(f): Form<KeyConfirmForm>,
) -> Result<Response, AppError> {
    let given = registration::KeyConfirmation {
        fingerprint: f.fingerprint,
    };
    let now = page.state.store.now_str();
    let result =
        registration::confirm_key(page.store(), &page.auth.actor(), id, contact, &given, &now)
            .await;
    after_vendor_form(&page.state, &page, id, result.map(drop)).await
}

pub(crate) async fn vendor_welcome(
    page: Page,
    Path((id, contact)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let result = registration::welcome_contacts(
        page.store(),
        &page.state.vuln,
        &page.auth.actor(),
        id,
        Some(contact),
    )
    .await;
    after_vendor_form(&page.state, &page, id, result.map(drop)).await
}

async fn after_vendor_form(
    state: &AppState,
    page: &Page,
    id: i64,
    result: Result<(), VulnError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/vendors/{id}"))),
        Err(e) if e.kind().is_user_error() && !matches!(e, VulnError::NotFound(_)) => {
            let v = vendors::get(&state.store, id).await?;
            html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &VendorPage {
                    shell: page.shell("vendors"),
                    v,
                    states: renkei_vuln::VendorState::ALL,
                    error: Some(e.to_string()),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct AcknowledgeForm {
    #[serde(default, deserialize_with = "blank")]
    vendor_id: Option<i64>,
    #[serde(default)]
    via: String,
}

/// A vendor acknowledges (the details open), or a coordinator records that it did.
pub(crate) async fn case_acknowledge(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<AcknowledgeForm>,
) -> Result<Response, AppError> {
    let ack = cases::Acknowledge {
        vendor_id: f.vendor_id,
        via: Some(f.via).filter(|v| !v.trim().is_empty()),
    };
    let (store, s, p) = page.vuln();
    let result = cases::acknowledge(store, s, p, &key, ack, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

/// A file of the case, as an attachment whatever its type, so that nothing in it is
/// ever rendered on this site.
pub(crate) async fn case_file(
    page: Page,
    Path((key, file)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let (store, s, p) = page.vuln();
    let (meta, data) = cases::fetch(store, s, p, &key, file, page.now).await?;
    Ok(crate::api::vuln::file_response(
        &meta.filename,
        &meta.sha256,
        data,
    ))
}

/// A coordinator adds files to the case, for the team or for the vendors.
pub(crate) async fn case_file_add(
    page: Page,
    Path(key): Path<String>,
    form: crate::http::form::WithFiles,
) -> Result<Response, AppError> {
    let shared_with = form.get("shared_with");
    let (store, s, p) = page.vuln();
    let mut result = Ok(());
    if form.files.is_empty() {
        result = Err(VulnError::invalid("file", "choose a file"));
    }
    for f in &form.files {
        if let Err(e) = cases::add_file(
            store,
            s,
            p,
            &key,
            &f.filename,
            &f.content_type,
            &shared_with,
            &f.data,
            page.now,
        )
        .await
        {
            result = Err(e);
            break;
        }
    }
    after_case_form(&page.state, &page, &key, result).await
}

#[derive(Deserialize)]
pub(crate) struct FinderForm {
    #[serde(default)]
    body: String,
}

/// A coordinator writes to the finder.
pub(crate) async fn case_finder_reply(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<FinderForm>,
) -> Result<Response, AppError> {
    let (store, s, p) = page.vuln();
    let result = cases::finder::reply(store, s, p, &key, &f.body, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

/// A coordinator ends the finder's links and mails a new one.
pub(crate) async fn case_finder_link(
    page: Page,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let (store, s, p) = page.vuln();
    let result = cases::finder::send_new_link(store, s, p, &key, page.lang, page.now).await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}

#[derive(Deserialize)]
pub(crate) struct PartnerForm {
    #[serde(default, deserialize_with = "blank")]
    org_id: Option<i64>,
    #[serde(default)]
    tracking_id: String,
}

/// A coordinator adds a partner coordinator to the case.
pub(crate) async fn case_add_partner(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<PartnerForm>,
) -> Result<Response, AppError> {
    let (store, s, p) = page.vuln();
    let result = match f.org_id {
        Some(org_id) => cases::add_partner(
            store,
            s,
            p,
            &key,
            cases::AddPartner {
                org_id,
                tracking_id: f.tracking_id,
            },
            page.now,
        )
        .await
        .map(drop),
        None => Err(VulnError::invalid("org_id", "choose the partner")),
    };
    after_case_form(&page.state, &page, &key, result).await
}

/// A partner records its tracking ID for the case (or a coordinator for it).
pub(crate) async fn case_partner_tracking(
    page: Page,
    Path(key): Path<String>,
    Form(f): Form<PartnerForm>,
) -> Result<Response, AppError> {
    let (store, s, p) = page.vuln();
    let result = cases::set_tracking(
        store,
        s,
        p,
        &key,
        cases::TrackingUpdate {
            org_id: f.org_id,
            tracking_id: f.tracking_id,
        },
        page.now,
    )
    .await;
    after_case_form(&page.state, &page, &key, result.map(drop)).await
}
