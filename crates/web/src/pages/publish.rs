//! Dissemination pages: the public alert list and pages (with their revision
//! history), the staff's writing and review forms, and the alert feeds.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_core::lang::Lang;
use renkei_core::tlp::Tlp;
use renkei_formats::syndication;
use renkei_publish::PublishError;
use renkei_publish::alerts::Viewer;
use renkei_publish::alerts::{self, Alert, AlertNumber, AlertSummary, AlertText, Revision};
use renkei_publish::markdown;
use renkei_publish::warnings::{self, Receipt, ReceiptLink, Recipient, Warning};
use serde::Deserialize;

use crate::api::publish::viewer;
use crate::http::error::AppError;
use crate::http::form::{Form, blank};
use crate::http::state::AppState;
use crate::pages::vuln::field;
use crate::pages::{Page, Shell, html, html_status, see_other};

#[derive(Deserialize, Default)]
pub struct AlertQuery {
    lang: Option<String>,
    category: Option<String>,
}

/// The language a page is read in: the one asked for (`?lang=`), else the reader's.
fn reading_lang(page: &Page, lang: Option<&str>) -> Lang {
    lang.and_then(|l| Lang::parse(l).ok()).unwrap_or(page.lang)
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage<'a> {
    shell: Shell<'a>,
    alerts: Vec<AlertSummary>,
    category: String,
    lang: Lang,
}

impl AlertsPage<'_> {
    fn title<'b>(&self, a: &'b AlertSummary) -> &'b str {
        a.title(self.lang)
    }

    fn date<'b>(&self, a: &'b AlertSummary) -> &'b str {
        a.first_published_at
            .as_deref()
            .unwrap_or(&a.created_at)
            .get(..10)
            .unwrap_or("")
    }
}

pub(crate) async fn list(page: Page, Query(q): Query<AlertQuery>) -> Result<Response, AppError> {
    let category = q.category.clone().unwrap_or_default();
    let alerts = alerts::list(page.store(), viewer(page.caller()), Some(&category), 500).await?;
    let lang = reading_lang(&page, q.lang.as_deref());
    html(&AlertsPage {
        shell: page.shell("alerts"),
        alerts,
        category,
        lang,
    })
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage<'a> {
    shell: Shell<'a>,
    alert: Alert,
    lang: Lang,
    /// The published text, as HTML.
    body: String,
    /// A text waiting (staff only), as HTML.
    pending_body: String,
    notes: Vec<(String, String)>,
    error: Option<String>,
    /// Early warning, for staff: the organizations addressed and the address book.
    recipients: Vec<Recipient>,
    orgs: Vec<renkei_core::orgs::Organization>,
    /// Early warning, for a recipient organization's member.
    recipient_view: bool,
    acknowledged_at: Option<String>,
}

impl AlertPage<'_> {
    fn restricted(&self) -> bool {
        self.alert.tlp != Tlp::Clear || self.alert.next_tlp.is_some_and(|t| t != Tlp::Clear)
    }

    fn acknowledged<'b>(&self, r: &'b Recipient) -> Option<&'b Receipt> {
        self.alert
            .published
            .as_ref()
            .and_then(|p| r.acknowledged(p.revision))
    }

    fn tlp_rule(&self) -> &'static str {
        self.shell.t(match self.alert.tlp {
            Tlp::Red => "publish.tlp_red",
            Tlp::AmberStrict => "publish.tlp_amber_strict",
            Tlp::Amber => "publish.tlp_amber",
            Tlp::Green => "publish.tlp_green",
            Tlp::Clear => "publish.tlp_clear",
        })
    }

    fn title<'b>(&self, r: &'b Revision) -> &'b str {
        r.title(self.lang)
    }

    fn change<'b>(&self, r: &'b Revision) -> &'b str {
        r.change(self.lang)
    }

    fn published(&self) -> Option<&Revision> {
        self.alert.published.as_ref()
    }
}

async fn alert_page<'a>(
    state: &AppState,
    page: &'a Page,
    number: &str,
    lang: Option<&str>,
    error: Option<String>,
) -> Result<AlertPage<'a>, AppError> {
    let alert = alerts::get(
        &state.store,
        number,
        viewer(page.caller()),
        state.store.now(),
    )
    .await?
    .ok_or_else(AppError::not_found)?;
    let lang = reading_lang(page, lang);
    let body = alert
        .published
        .as_ref()
        .map(|r| markdown::to_html(r.body(lang)))
        .unwrap_or_default();
    let pending_body = alert
        .pending
        .as_ref()
        .map(|r| markdown::to_html(r.body(lang)))
        .unwrap_or_default();
    let linked = alert
        .published
        .as_ref()
        .map(|r| r.notes.clone())
        .unwrap_or_default();
    let notes = alerts::public_notes(&state.store, &linked, state.store.now()).await?;
    let reader = viewer(page.caller());
    let n = AlertNumber::parse(&alert.number)?;
    let (mut recipients, mut orgs, mut acknowledged_at) = (Vec::new(), Vec::new(), None);
    match (reader, page.auth.principal.user()) {
        (Viewer::Staff, Some(user)) => {
            recipients = warnings::recipients(&state.store, user, &n).await?;
            orgs = renkei_core::orgs::list(&state.store, None)
                .await?
                .into_iter()
                .filter(|o| {
                    o.kind != renkei_core::orgs::OrgKind::Team
                        && !recipients.iter().any(|r| r.org_id == o.id)
                })
                .collect();
        }
        (Viewer::Org(_), Some(_)) if alert.tlp != Tlp::Clear => {
            crate::api::publish::read_by(state, &page.auth, &alert).await?;
            acknowledged_at = warnings::acknowledged_by(&state.store, reader, &n).await?;
        }
        _ => {}
    }
    Ok(AlertPage {
        shell: page.shell("alerts"),
        recipient_view: matches!(reader, Viewer::Org(_)) && alert.tlp != Tlp::Clear,
        alert,
        lang,
        body,
        pending_body,
        notes,
        error,
        recipients,
        orgs,
        acknowledged_at,
    })
}

#[derive(Deserialize)]
pub(crate) struct RecipientForm {
    #[serde(default, deserialize_with = "blank")]
    org_id: Option<i64>,
}

/// Addresses an early warning to an organization (staff).
pub(crate) async fn recipient_add(
    page: Page,
    Path(number): Path<String>,
    Form(f): Form<RecipientForm>,
) -> Result<Response, AppError> {
    let (n, org) = recipient_of(&number, &f)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let result = warnings::add(page.store(), &page.state.warnings, user, &n, org).await;
    after_recipient_form(&page.state, &page, &number, result.map(drop)).await
}

/// Takes an organization off an early warning (staff).
pub(crate) async fn recipient_remove(
    page: Page,
    Path(number): Path<String>,
    Form(f): Form<RecipientForm>,
) -> Result<Response, AppError> {
    let (n, org) = recipient_of(&number, &f)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let result = warnings::remove(page.store(), user, &n, org).await;
    after_recipient_form(&page.state, &page, &number, result.map(drop)).await
}

fn recipient_of(number: &str, f: &RecipientForm) -> Result<(AlertNumber, i64), AppError> {
    let org = f
        .org_id
        .ok_or_else(|| AppError::bad_request("invalid_input", "org_id: choose an organization"))?;
    Ok((AlertNumber::parse(number)?, org))
}

async fn after_recipient_form(
    state: &AppState,
    page: &Page,
    number: &str,
    result: Result<(), PublishError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(see_other(&format!(
            "{}#recipients",
            alerts::page_path(number)
        ))),
        Err(e @ (PublishError::Conflict(_) | PublishError::Invalid { .. })) => {
            let view = alert_page(state, page, number, None, Some(e.to_string())).await?;
            html_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(e) => Err(e.into()),
    }
}

/// A recipient organization's member confirms receipt in the portal.
pub(crate) async fn acknowledge(
    page: Page,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let n = AlertNumber::parse(&number)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    warnings::acknowledge(page.store(), user, &n).await?;
    Ok(see_other(&alerts::page_path(n.as_str())))
}

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage<'a> {
    shell: Shell<'a>,
    warnings: Vec<Warning>,
    lang: Lang,
}

impl WarningsPage<'_> {
    fn title<'b>(&self, w: &'b Warning) -> &'b str {
        w.title(self.lang)
    }
}

/// The early-warning inbox: an organization's own, or (staff) all with receipts.
pub(crate) async fn warnings_page(page: Page) -> Result<Response, AppError> {
    let warnings = warnings::inbox(page.store(), viewer(page.caller())).await?;
    let lang = reading_lang(&page, None);
    html(&WarningsPage {
        shell: page.shell("warnings"),
        warnings,
        lang,
    })
}

#[derive(Template)]
#[template(path = "warning_receipt.html")]
struct ReceiptPage<'a> {
    shell: Shell<'a>,
    token: String,
    link: ReceiptLink,
}

/// The receipt link shows a button: a link scanner that follows it acknowledges
/// nothing.
pub(crate) async fn receipt_page(
    page: Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let link = warnings::receipt_link(page.store(), &token).await?;
    receipt_view(&page, token, link)
}

pub(crate) async fn receipt(page: Page, Path(token): Path<String>) -> Result<Response, AppError> {
    let link = warnings::acknowledge_link(page.store(), &token).await?;
    receipt_view(&page, token, link)
}

fn receipt_view(page: &Page, token: String, link: ReceiptLink) -> Result<Response, AppError> {
    html(&ReceiptPage {
        shell: page.shell("warnings"),
        token,
        link,
    })
}

pub(crate) async fn page(
    page: Page,
    Path(number): Path<String>,
    Query(q): Query<AlertQuery>,
) -> Result<Response, AppError> {
    let view = alert_page(&page.state, &page, &number, q.lang.as_deref(), None).await?;
    html(&view)
}

/// The author submits the alert for review.
pub(crate) async fn alert_submit(
    page: Page,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let n = AlertNumber::parse(&number)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let result = alerts::submit(page.store(), user, &n).await;
    after_alert_step(&page.state, &page, &number, result.map(drop)).await
}

/// The reviewer publishes it (four eyes: never its author).
pub(crate) async fn alert_publish(
    page: Page,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let n = AlertNumber::parse(&number)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let now = page.now;
    let result = alerts::publish(page.store(), user, &n, now, &page.state.warnings).await;
    after_alert_step(&page.state, &page, &number, result.map(drop)).await
}

async fn after_alert_step(
    state: &AppState,
    page: &Page,
    number: &str,
    result: Result<(), PublishError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(see_other(&alerts::page_path(number))),
        Err(
            e @ (PublishError::Conflict(_)
            | PublishError::Forbidden(_)
            | PublishError::Invalid { .. }),
        ) => {
            let view = alert_page(state, page, number, None, Some(e.to_string())).await?;
            html_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "alert_form.html")]
struct AlertForm<'a> {
    shell: Shell<'a>,
    /// None: a new alert.
    number: Option<String>,
    form: HashMap<String, String>,
    error: Option<String>,
    /// The texts as readers will see them, Japanese and English, when the writer
    /// asked to preview instead of saving.
    preview: Option<(String, String)>,
}

impl AlertForm<'_> {
    fn v(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }
}

fn text_of(f: &HashMap<String, String>, with_meta: bool) -> AlertText {
    let raw = |k: &str| f.get(k).cloned().unwrap_or_default();
    AlertText {
        category: with_meta.then(|| field(f, "category")),
        tlp: with_meta.then(|| field(f, "tlp")),
        title_ja: field(f, "title_ja"),
        title_en: field(f, "title_en"),
        body_ja: raw("body_ja"),
        body_en: raw("body_en"),
        change_ja: field(f, "change_ja"),
        change_en: field(f, "change_en"),
        notes: field(f, "notes")
            .split([',', ' ', '\n'])
            .map(str::to_string)
            .collect(),
        exercise: with_meta && f.contains_key("exercise"),
    }
}

pub(crate) async fn new_form(page: Page) -> Result<Response, AppError> {
    let form = HashMap::from([("tlp".to_string(), "TLP:CLEAR".to_string())]);
    html(&AlertForm {
        shell: page.shell("alerts"),
        number: None,
        form,
        error: None,
        preview: None,
    })
}

/// The form again with its Markdown shown as readers will see it; nothing saved.
fn preview_of(f: &HashMap<String, String>) -> Option<(String, String)> {
    f.contains_key("preview").then(|| {
        let body = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        (
            renkei_publish::markdown::to_html(body("body_ja")),
            renkei_publish::markdown::to_html(body("body_en")),
        )
    })
}

pub(crate) async fn create(
    page: Page,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let user = crate::api::publish::signed_in(&page.auth)?;
    if let Some(preview) = preview_of(&f) {
        return html(&AlertForm {
            shell: page.shell("alerts"),
            number: None,
            form: f,
            error: None,
            preview: Some(preview),
        });
    }
    match alerts::create(page.store(), user, &text_of(&f, true), page.now).await {
        Ok(a) => Ok(see_other(&alerts::page_path(&a.number))),
        Err(e @ PublishError::Invalid { .. }) => html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AlertForm {
                shell: page.shell("alerts"),
                number: None,
                form: f,
                error: Some(e.to_string()),
                preview: None,
            },
        ),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn edit_form(
    page: Page,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let alert = alerts::get(page.store(), &number, viewer(page.caller()), page.now)
        .await?
        .ok_or_else(AppError::not_found)?;
    let mut form = HashMap::new();
    // A pending revision is edited as it is; an update starts from the published text.
    if let Some(r) = alert.pending.as_ref().or(alert.published.as_ref()) {
        let updating = alert.pending.is_none();
        for (k, v) in [
            ("title_ja", &r.title_ja),
            ("title_en", &r.title_en),
            ("body_ja", &r.body_ja),
            ("body_en", &r.body_en),
        ] {
            form.insert(k.to_string(), v.clone());
        }
        if !updating {
            form.insert("change_ja".into(), r.change_ja.clone());
            form.insert("change_en".into(), r.change_en.clone());
        }
        form.insert("notes".into(), r.notes.join(" "));
    }
    form.insert("category".into(), alert.category.clone());
    let tlp = alert.next_tlp.unwrap_or(alert.tlp);
    form.insert("tlp".into(), tlp.as_str().to_string());
    html(&AlertForm {
        shell: page.shell("alerts"),
        number: Some(alert.number),
        form,
        error: None,
        preview: None,
    })
}

pub(crate) async fn save(
    page: Page,
    Path(number): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let n = AlertNumber::parse(&number)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    if let Some(preview) = preview_of(&f) {
        return html(&AlertForm {
            shell: page.shell("alerts"),
            number: Some(number),
            form: f,
            error: None,
            preview: Some(preview),
        });
    }
    match alerts::write(page.store(), user, &n, &text_of(&f, true)).await {
        Ok(_) => Ok(see_other(&alerts::page_path(n.as_str()))),
        Err(e @ (PublishError::Invalid { .. } | PublishError::Conflict(_))) => html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AlertForm {
                shell: page.shell("alerts"),
                number: Some(number),
                form: f,
                error: Some(e.to_string()),
                preview: None,
            },
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct FeedQuery {
    lang: Option<String>,
}

fn feed_response(content_type: &'static str, body: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    crate::api::vuln::public_cache(&mut r);
    r
}

/// The feed's language (Japanese unless `?lang=en`) and its own address.
fn feed_lang(q: &FeedQuery, path: &str) -> (Lang, String) {
    match q.lang.as_deref() {
        Some("en") => (Lang::En, format!("{path}?lang=en")),
        _ => (Lang::Ja, path.to_string()),
    }
}

/// A feed as Atom or RSS 2.0, by the extension of the address asked for.
fn feed_as(feed: &syndication::Feed, path: &str) -> Response {
    if path.ends_with(".rss") {
        feed_response(
            "application/rss+xml; charset=utf-8",
            syndication::rss(feed, &feed.title),
        )
    } else {
        feed_response(
            "application/atom+xml; charset=utf-8",
            syndication::atom(feed),
        )
    }
}

async fn alert_feed(state: &AppState, q: &FeedQuery, path: &str) -> Result<Response, AppError> {
    let list = alerts::list(&state.store, alerts::Viewer::Public, None, 100).await?;
    let (lang, self_path) = feed_lang(q, path);
    let feed = alerts::feed(&state.vuln, &list, lang, state.store.now(), &self_path);
    Ok(feed_as(&feed, path))
}

pub(crate) async fn atom(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, AppError> {
    alert_feed(&state, &q, "/feeds/alerts.atom").await
}

pub(crate) async fn rss(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, AppError> {
    alert_feed(&state, &q, "/feeds/alerts.rss").await
}

use renkei_publish::weekly::{self, WeeklyItem, WeeklyReport, WeeklyText};

#[derive(Template)]
#[template(path = "weekly_list.html")]
struct WeeklyListPage<'a> {
    shell: Shell<'a>,
    reports: Vec<WeeklyReport>,
    lang: Lang,
    next: String,
}

impl WeeklyListPage<'_> {
    fn title(&self, w: &WeeklyReport) -> String {
        weekly::title(w, self.lang)
    }
}

pub(crate) async fn weekly_list(
    page: Page,
    Query(q): Query<FeedQuery>,
) -> Result<Response, AppError> {
    let reports = weekly::list(page.store(), viewer(page.caller()), 200).await?;
    let lang = reading_lang(&page, q.lang.as_deref());
    let next = crate::api::publish::schedule(&page.state)
        .await?
        .next_issue(page.now.date_naive())
        .to_string();
    html(&WeeklyListPage {
        shell: page.shell("weekly"),
        reports,
        lang,
        next,
    })
}

#[derive(Template)]
#[template(path = "weekly.html")]
struct WeeklyPage<'a> {
    shell: Shell<'a>,
    report: WeeklyReport,
    lang: Lang,
    memo: String,
}

impl WeeklyPage<'_> {
    fn title(&self) -> String {
        weekly::title(&self.report, self.lang)
    }
    fn item_title<'b>(&self, i: &'b WeeklyItem) -> &'b str {
        i.title(self.lang)
    }
    fn item_summary<'b>(&self, i: &'b WeeklyItem) -> &'b str {
        i.summary(self.lang)
    }
}

pub(crate) async fn weekly_page(
    page: Page,
    Path(key): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, AppError> {
    let report = weekly::get(page.store(), &key, viewer(page.caller()))
        .await?
        .ok_or_else(AppError::not_found)?;
    let lang = reading_lang(&page, q.lang.as_deref());
    let memo = markdown::to_html(report.memo(lang));
    html(&WeeklyPage {
        shell: page.shell("weekly"),
        report,
        lang,
        memo,
    })
}

#[derive(Template)]
#[template(path = "weekly_form.html")]
struct WeeklyForm<'a> {
    shell: Shell<'a>,
    date: String,
    items: Vec<WeeklyItem>,
    kinds: [&'static str; 3],
    memo_title_ja: String,
    memo_title_en: String,
    memo_ja: String,
    memo_en: String,
    error: Option<String>,
    /// The memo as readers will see it, Japanese and English (nothing saved).
    preview: Option<(String, String)>,
}

impl WeeklyForm<'_> {
    fn heading(&self) -> String {
        self.shell
            .catalog
            .fill("publish.weekly_edit_title", &[("date", &self.date)])
    }
}

/// A row with nothing in it yet.
fn blank_item(kind: weekly::ItemKind) -> WeeklyItem {
    WeeklyItem {
        kind,
        reference: String::new(),
        title_ja: String::new(),
        title_en: String::new(),
        summary_ja: String::new(),
        summary_en: String::new(),
        url: String::new(),
    }
}

/// Blank rows offered under the items, for news and anything else to add.
const BLANK_ROWS: usize = 3;

fn weekly_form<'a>(
    page: &'a Page,
    date: String,
    text: WeeklyText,
    error: Option<String>,
    preview: Option<(String, String)>,
) -> WeeklyForm<'a> {
    let mut items = text.items.unwrap_or_default();
    items.extend((0..BLANK_ROWS).map(|_| blank_item(weekly::ItemKind::News)));
    WeeklyForm {
        shell: page.shell("weekly"),
        date,
        items,
        kinds: ["alert", "note", "news"],
        memo_title_ja: text.memo_title_ja.unwrap_or_default(),
        memo_title_en: text.memo_title_en.unwrap_or_default(),
        memo_ja: text.memo_ja.unwrap_or_default(),
        memo_en: text.memo_en.unwrap_or_default(),
        error,
        preview,
    }
}

/// Opens the next issue, filled with what was published since the last one, and
/// goes to its form; when it is open already, to that.
pub(crate) async fn weekly_new(page: Page) -> Result<Response, AppError> {
    let user = crate::api::publish::signed_in(&page.auth)?;
    let schedule = crate::api::publish::schedule(&page.state).await?;
    let zone = page.state.config.server.team_zone();
    let next = schedule.next_issue(page.now.with_timezone(&zone).date_naive());
    match weekly::create(page.store(), &schedule, user, Some(next), page.now).await {
        Ok(w) => Ok(see_other(&format!("/weekly/{}/edit", w.issue_date))),
        Err(PublishError::Conflict(_)) => Ok(see_other(&format!("/weekly/{next}/edit"))),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn weekly_edit(page: Page, Path(key): Path<String>) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    let w = weekly::get(page.store(), &date.to_string(), alerts::Viewer::Staff)
        .await?
        .ok_or_else(AppError::not_found)?;
    if w.is_published() {
        return Ok(see_other(&weekly::page_path(&w.issue_date)));
    }
    let text = WeeklyText {
        items: Some(w.items),
        memo_title_ja: Some(w.memo_title_ja),
        memo_title_en: Some(w.memo_title_en),
        memo_ja: Some(w.memo_ja),
        memo_en: Some(w.memo_en),
    };
    html(&weekly_form(&page, date.to_string(), text, None, None))
}

/// The form's rows back as items: every row has each field once, in order, so a
/// row starts at its `kind`; rows with no title and no number are dropped.
fn weekly_text(pairs: &[(String, String)]) -> (WeeklyText, bool) {
    let mut items: Vec<WeeklyItem> = Vec::new();
    let mut text = WeeklyText::default();
    let mut preview = false;
    for (k, v) in pairs {
        let last = items.last_mut();
        match (k.as_str(), last) {
            ("kind", _) => items.push(blank_item(weekly::ItemKind::from(v.clone()))),
            ("ref", Some(it)) => it.reference = v.trim().to_string(),
            ("url", Some(it)) => it.url = v.trim().to_string(),
            ("title_ja", Some(it)) => it.title_ja = v.trim().to_string(),
            ("title_en", Some(it)) => it.title_en = v.trim().to_string(),
            ("summary_ja", Some(it)) => it.summary_ja = v.trim().to_string(),
            ("summary_en", Some(it)) => it.summary_en = v.trim().to_string(),
            ("memo_title_ja", _) => text.memo_title_ja = Some(v.clone()),
            ("memo_title_en", _) => text.memo_title_en = Some(v.clone()),
            ("memo_ja", _) => text.memo_ja = Some(v.clone()),
            ("memo_en", _) => text.memo_en = Some(v.clone()),
            ("preview", _) => preview = true,
            _ => {}
        }
    }
    items.retain(|it| {
        !(it.title_ja.is_empty() && it.title_en.is_empty() && it.reference.is_empty())
    });
    text.items = Some(items);
    (text, preview)
}

pub(crate) async fn weekly_save(
    page: Page,
    Path(key): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let (text, preview) = weekly_text(&pairs);
    if preview {
        let shown = (
            markdown::to_html(text.memo_ja.as_deref().unwrap_or("")),
            markdown::to_html(text.memo_en.as_deref().unwrap_or("")),
        );
        return html(&weekly_form(
            &page,
            date.to_string(),
            text,
            None,
            Some(shown),
        ));
    }
    match weekly::write(page.store(), user, date, &text).await {
        Ok(w) => Ok(see_other(&weekly::page_path(&w.issue_date))),
        Err(e @ (PublishError::Invalid { .. } | PublishError::Conflict(_))) => html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &weekly_form(&page, date.to_string(), text, Some(e.to_string()), None),
        ),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn weekly_publish(
    page: Page,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let w = weekly::publish(page.store(), user, date, page.now).await?;
    Ok(see_other(&weekly::page_path(&w.issue_date)))
}

async fn weekly_feed(state: &AppState, q: &FeedQuery, path: &str) -> Result<Response, AppError> {
    let list = weekly::list(&state.store, alerts::Viewer::Public, 100).await?;
    let (lang, self_path) = feed_lang(q, path);
    let feed = weekly::feed(&state.vuln, &list, lang, state.store.now(), &self_path);
    Ok(feed_as(&feed, path))
}

pub(crate) async fn weekly_atom(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, AppError> {
    weekly_feed(&state, &q, "/feeds/weekly.atom").await
}

pub(crate) async fn weekly_rss(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, AppError> {
    weekly_feed(&state, &q, "/feeds/weekly.rss").await
}

use renkei_publish::lists::{self, MailingList, SendProgress};

#[derive(Template)]
#[template(path = "lists.html")]
struct ListsPage<'a> {
    shell: Shell<'a>,
    lists: Vec<MailingList>,
    lang: Lang,
    message: Option<String>,
    error: Option<String>,
}

impl ListsPage<'_> {
    fn name<'b>(&self, l: &'b MailingList) -> &'b str {
        self.lang.pick(&l.name_ja, &l.name_en)
    }
}

async fn lists_page<'a>(
    state: &AppState,
    page: &'a Page,
    message: Option<String>,
    error: Option<String>,
) -> Result<ListsPage<'a>, AppError> {
    Ok(ListsPage {
        shell: page.shell("lists"),
        lists: lists::lists(&state.store).await?,
        lang: page.lang,
        message,
        error,
    })
}

pub(crate) async fn lists_index(page: Page) -> Result<Response, AppError> {
    let view = lists_page(&page.state, &page, None, None).await?;
    html(&view)
}

pub(crate) async fn subscribe(
    page: Page,
    Path(slug): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    if page.state.anonymous_submission_throttled(&page.auth).await {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this address; try again later",
        ));
    }
    let lang = crate::api::publish::subscriber_lang(Some(&field(&f, "lang")), page.lang)?;
    match lists::subscribe(
        page.store(),
        &page.state.lists,
        &slug,
        &field(&f, "email"),
        lang,
    )
    .await
    {
        Ok(()) => {
            let view = lists_page(
                &page.state,
                &page,
                Some(page.shell("lists").t("publish.check_mail").to_string()),
                None,
            )
            .await?;
            html(&view)
        }
        Err(e @ PublishError::Invalid { .. }) => {
            let view = lists_page(&page.state, &page, None, Some(e.to_string())).await?;
            html_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "list_link.html")]
struct ListLinkPage<'a> {
    shell: Shell<'a>,
    /// confirm or unsubscribe
    action: &'static str,
    token: String,
    email: String,
    done: bool,
}

async fn link_page(
    state: &AppState,
    page: &Page,
    action: &'static str,
    token: String,
    done: bool,
) -> Result<Response, AppError> {
    let (_, email, _) = lists::by_token(&state.store, &token).await?;
    html(&ListLinkPage {
        shell: page.shell("lists"),
        action,
        token,
        email,
        done,
    })
}

/// The link in the confirmation mail shows a button: a link scanner that follows
/// it subscribes nobody.
pub(crate) async fn confirm_page(
    page: Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    link_page(&page.state, &page, "confirm", token, false).await
}

pub(crate) async fn confirm(page: Page, Path(token): Path<String>) -> Result<Response, AppError> {
    lists::confirm(page.store(), &token).await?;
    link_page(&page.state, &page, "confirm", token, true).await
}

pub(crate) async fn unsubscribe_page(
    page: Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    link_page(&page.state, &page, "unsubscribe", token, false).await
}

/// The one-click POST (RFC 8058) and the page's button both land here.
pub(crate) async fn unsubscribe(
    page: Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    lists::unsubscribe(page.store(), &token).await?;
    link_page(&page.state, &page, "unsubscribe", token, true).await
}

#[derive(Template)]
#[template(path = "list_sends.html")]
struct SendsPage<'a> {
    shell: Shell<'a>,
    sends: Vec<SendProgress>,
    lists: Vec<MailingList>,
    /// What may be sent: published alerts and weekly issues, newest first.
    alerts: Vec<AlertSummary>,
    weeklies: Vec<WeeklyReport>,
    lang: Lang,
    error: Option<String>,
}

impl SendsPage<'_> {
    fn alert_label(&self, a: &AlertSummary) -> String {
        format!("{} {} ({})", a.number, a.title(self.lang), a.tlp.as_str())
    }
    fn weekly_label(&self, w: &WeeklyReport) -> String {
        weekly::title(w, self.lang)
    }
    fn busy(&self) -> bool {
        self.sends.iter().any(|s| !s.done)
    }
    fn percent(&self, s: &SendProgress) -> i64 {
        if s.total == 0 {
            100
        } else {
            (s.sent + s.failed) * 100 / s.total
        }
    }
}

/// What the send form offers: the published alerts and weekly issues to pick from.
async fn sendable(page: &Page) -> Result<(Vec<AlertSummary>, Vec<WeeklyReport>), AppError> {
    let alerts = alerts::list(page.store(), Viewer::Staff, None, 100)
        .await?
        .into_iter()
        .filter(|a| a.status == alerts::AlertStatus::Published)
        .collect();
    let weeklies = weekly::list(page.store(), Viewer::Staff, 100)
        .await?
        .into_iter()
        .filter(|w| w.published_at.is_some())
        .collect();
    Ok((alerts, weeklies))
}

pub(crate) async fn sends(page: Page) -> Result<Response, AppError> {
    let (alerts, weeklies) = sendable(&page).await?;
    html(&SendsPage {
        shell: page.shell("lists"),
        sends: lists::sends(page.store(), 50).await?,
        lists: lists::lists(page.store()).await?,
        alerts,
        weeklies,
        lang: page.lang,
        error: None,
    })
}

pub(crate) async fn send_start(
    page: Page,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let user = crate::api::publish::signed_in(&page.auth)?;
    let opt = |k: &str| Some(field(&f, k)).filter(|v| !v.is_empty());
    let what = crate::api::publish::publication(opt("alert"), opt("weekly"));
    let result = match what {
        Ok(what) => lists::start_send(
            page.store(),
            &page.state.lists,
            user,
            &field(&f, "list"),
            &what,
        )
        .await
        .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/lists/sends")),
        Err(e) if e.status.is_client_error() => {
            let (alerts, weeklies) = sendable(&page).await?;
            html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SendsPage {
                    shell: page.shell("lists"),
                    sends: lists::sends(page.store(), 50).await?,
                    lists: lists::lists(page.store()).await?,
                    alerts,
                    weeklies,
                    lang: page.lang,
                    error: Some(e.message.clone()),
                },
            )
        }
        Err(e) => Err(e),
    }
}
