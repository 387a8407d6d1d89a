//! Pages of the incident pillar: the public report form, the coordinator's queue with
//! bulk actions, the report page (raw message beside what was read from it), and
//! statistics.

use crate::http::form::Form;
use crate::pages::timeline::{self, TimelineQuery};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_core::tlp::Tlp;
use renkei_incident::classify::Reason;
use renkei_incident::clocks::Due;
use renkei_incident::incidents::{self, Incident, Report, Sort, State as IncidentState};
use renkei_incident::reports::{self, Channel, FormReport};
use renkei_incident::{Category, IncidentError, stats};
use serde::Deserialize;

use crate::api::incidents::{ListQuery, Period};
use crate::http::error::AppError;
use crate::http::i18n::{self, Catalog};
use crate::pages::{Page, Shell, html, html_status, see_other};

#[derive(Template)]
#[template(path = "report_form.html")]
struct ReportFormPage<'a> {
    shell: Shell<'a>,
    form: ReportFormFields,
    error: Option<String>,
    tlps: [Tlp; 5],
}

impl ReportFormPage<'_> {
    fn tlp_selected(&self, t: &Tlp) -> bool {
        self.form
            .tlp
            .as_deref()
            .map(|v| v == t.as_str())
            .unwrap_or(*t == Tlp::Amber)
    }
}

/// The form as posted; hosts one per line.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct ReportFormFields {
    #[serde(default)]
    site_org: String,
    #[serde(default)]
    site_url: String,
    #[serde(default)]
    reporter_name: String,
    #[serde(default)]
    reporter_email: String,
    #[serde(default)]
    reporter_phone: String,
    #[serde(default)]
    hosts: String,
    #[serde(default)]
    occurred_at: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    logs: String,
    #[serde(default)]
    tlp: Option<String>,
    #[serde(default)]
    consent_mediation: Option<String>,
    #[serde(default)]
    consent_named: Option<String>,
    /// A coordinator's: `phone` or `fax` for a report taken that way.
    #[serde(default)]
    received_by: String,
    /// A coordinator's: the report is a drill's.
    #[serde(default)]
    exercise: Option<String>,
}

impl ReportFormFields {
    /// The report as intake takes it. A time typed without an offset is the team's
    /// (as the form says); one that cannot be read goes on as typed, to be refused
    /// with the reason.
    fn report(&self, zone: chrono::FixedOffset, lang: &str) -> FormReport {
        let opt = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let occurred_at = opt(&self.occurred_at).map(|t| {
            renkei_core::time::typed(&t, zone)
                .map(|at| at.with_timezone(&zone).to_rfc3339())
                .unwrap_or(t)
        });
        FormReport {
            site_org: self.site_org.clone(),
            site_url: opt(&self.site_url),
            reporter_name: self.reporter_name.clone(),
            reporter_email: self.reporter_email.clone(),
            reporter_phone: opt(&self.reporter_phone),
            hosts: self
                .hosts
                .lines()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect(),
            occurred_at,
            description: self.description.clone(),
            logs: self.logs.clone(),
            tlp: self.tlp.clone(),
            // The form asks both questions: unticked is a no.
            consent_mediation: Some(self.consent_mediation.is_some()),
            consent_named: Some(self.consent_named.is_some()),
            received_by: opt(&self.received_by),
            lang: Some(lang.to_string()),
            exercise: self.exercise.is_some(),
        }
    }
}

pub(crate) async fn form(page: Page) -> Result<Response, AppError> {
    html(&ReportFormPage {
        shell: page.shell("report"),
        form: ReportFormFields::default(),
        error: None,
        tlps: Tlp::ALL,
    })
}

#[derive(Template)]
#[template(path = "report_thanks.html")]
struct ThanksPage<'a> {
    shell: Shell<'a>,
    tracking: i64,
}

pub(crate) async fn submit(
    page: Page,
    Form(fields): Form<ReportFormFields>,
) -> Result<Response, AppError> {
    if !page.state.form_limiter.allow(&page.auth.client).await {
        let error = Some(page.shell("report").t("report.throttled").to_string());
        return html_status(
            StatusCode::TOO_MANY_REQUESTS,
            &ReportFormPage {
                shell: page.shell("report"),
                form: fields,
                error,
                tlps: Tlp::ALL,
            },
        );
    }
    let by = page.auth.principal.user().map(|u| u.id);
    let staff = page
        .auth
        .principal
        .user()
        .is_some_and(|u| u.role.is_staff());
    let channel = match fields.received_by.trim() {
        _ if fields.exercise.is_some() && !staff => {
            Err(IncidentError::invalid("exercise", "for coordinators only"))
        }
        "" => Ok(Channel::Web),
        // Only a coordinator enters a report taken by telephone or fax.
        other if staff => Channel::entered_by_staff(other),
        _ => Err(IncidentError::invalid(
            "received_by",
            "for coordinators only",
        )),
    };
    let result = match channel {
        Ok(channel) => {
            reports::submit_form(
                page.store(),
                &page.state.intake,
                &page.auth.actor(),
                channel,
                &fields.report(page.state.config.server.team_zone(), page.lang.as_str()),
                by,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(out) => html(&ThanksPage {
            shell: page.shell("report"),
            tracking: out.report,
        }),
        Err(IncidentError::Invalid { field, message }) => {
            let label = page.shell("report").t(field_label(field));
            html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ReportFormPage {
                    shell: page.shell("report"),
                    form: fields,
                    error: Some(format!("{label}: {message}")),
                    tlps: Tlp::ALL,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

fn field_label(field: &str) -> &'static str {
    match field {
        "site_org" => "report.site_org",
        "reporter_name" => "report.reporter_name",
        "reporter_email" => "report.reporter_email",
        "description" => "report.description",
        "occurred_at" => "report.occurred_at",
        "hosts" => "report.hosts",
        "tlp" => "report.tlp",
        _ => "report.form",
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct QueuePage<'a> {
    shell: Shell<'a>,
    incidents: Vec<Incident>,
    q: ListQuery,
    /// What the filter finds over all pages, and this page's place in it.
    total: i64,
    page_no: i64,
    per_page: i64,
    sort: Sort,
    descending: bool,
    views: Vec<View>,
    /// The reader's own saved views, and whether each is the one shown.
    saved: Vec<(renkei_incident::views::SavedView, bool)>,
    /// This page's query, for saving it as a view.
    query: String,
    /// This page's address, for the bulk bar to come back to.
    back: String,
    states: [IncidentState; 8],
    categories: [Category; 6],
    tlps: [Tlp; 5],
    coordinators: Vec<(i64, String)>,
    dues: [Due; 3],
    now: String,
    /// Why the search in the box could not be read.
    search_error: Option<String>,
}

/// A saved filter: one click to the incidents a coordinator looks at most.
struct View {
    key: &'static str,
    href: String,
    active: bool,
}

/// Rows per page: a screen or two, so the bulk bar and the pager stay near.
const PER_PAGE: i64 = 50;

impl QueuePage<'_> {
    fn overdue(&self, at: &str) -> bool {
        at <= self.now.as_str()
    }

    fn is(&self, v: &Option<String>, x: &str) -> bool {
        v.as_deref() == Some(x)
    }

    fn text<'b>(&self, v: &'b Option<String>) -> &'b str {
        v.as_deref().unwrap_or("")
    }

    fn owner_name(&self, id: &Option<i64>) -> String {
        id.and_then(|id| self.coordinators.iter().find(|(c, _)| *c == id))
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    fn href(q: &ListQuery) -> String {
        match serde_urlencoded::to_string(q) {
            Ok(qs) if !qs.is_empty() => format!("/incidents?{qs}"),
            _ => "/incidents".into(),
        }
    }

    /// The queue sorted by `column`; the column already sorted by turns around.
    fn sort_href(&self, column: &str) -> String {
        let mut q = self.q.clone();
        q.page = None;
        let same = self.sorted_by(column);
        let descending = Sort::parse(column)
            .map(Sort::descending_by_default)
            .unwrap_or(false);
        q.sort = Some(column.to_string());
        q.dir = match (same, self.descending) {
            (true, d) => Some(if d { "asc" } else { "desc" }.into()),
            (false, _) => Some(if descending { "desc" } else { "asc" }.into()),
        };
        Self::href(&q)
    }

    /// `aria-sort` of a column's heading, and the arrow beside it.
    fn aria_sort(&self, column: &str) -> &'static str {
        match (self.sorted_by(column), self.descending) {
            (false, _) => "none",
            (true, true) => "descending",
            (true, false) => "ascending",
        }
    }

    fn sorted_by(&self, column: &str) -> bool {
        Sort::parse(column).ok() == Some(self.sort)
    }

    fn arrow(&self, column: &str) -> &'static str {
        match self.aria_sort(column) {
            "descending" => "▼",
            "ascending" => "▲",
            _ => "",
        }
    }

    /// The table's columns: what each sorts by, and its heading.
    fn columns(&self) -> Vec<(&'static str, &'static str)> {
        [
            "id", "source", "category", "state", "tlp", "owner", "report", "created", "due",
            "updated",
        ]
        .into_iter()
        .map(|c| (c, self.column_label(c)))
        .collect()
    }

    fn column_label(&self, column: &str) -> &'static str {
        match column {
            "source" => self.shell.t("queue.source"),
            "category" => self.shell.t("queue.category"),
            "state" => self.shell.t("queue.state"),
            "tlp" => "TLP",
            "owner" => self.shell.t("queue.owner"),
            "report" => self.shell.t("queue.report"),
            "due" => self.shell.t("queue.due"),
            "updated" => self.shell.t("queue.updated"),
            "created" => self.shell.t("common.created"),
            _ => "#",
        }
    }

    /// Whether the queue shows what it shows with no filter (the filter form can
    /// stay folded).
    fn plain(&self) -> bool {
        let mut q = self.q.clone();
        q.page = None;
        q.sort = None;
        q.dir = None;
        serde_urlencoded::to_string(&q)
            .unwrap_or_default()
            .is_empty()
    }

    fn sort_title(&self, label: &str) -> String {
        self.shell
            .catalog
            .fill("queue.sort_by", &[("column", &label)])
    }

    fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }

    fn page_href(&self, n: &i64) -> String {
        let mut q = self.q.clone();
        q.page = (*n > 1).then_some(*n);
        Self::href(&q)
    }

    fn previous_href(&self) -> String {
        self.page_href(&(self.page_no - 1))
    }

    fn next_href(&self) -> String {
        self.page_href(&(self.page_no + 1))
    }

    /// The page numbers to offer: the first, the last, and those near this one.
    fn page_numbers(&self) -> Vec<i64> {
        let last = self.pages();
        let mut out: Vec<i64> = (1..=last)
            .filter(|n| *n == 1 || *n == last || (n - self.page_no).abs() <= 2)
            .collect();
        out.dedup();
        out
    }

    /// Whether a gap (…) comes before page `n` in the pager.
    fn gap_before(&self, n: &i64) -> bool {
        let numbers = self.page_numbers();
        numbers
            .iter()
            .position(|x| x == n)
            .is_some_and(|i| i > 0 && numbers[i - 1] + 1 != *n)
    }

    fn range(&self) -> String {
        if self.total == 0 {
            return self.shell.t("queue.total_none").to_string();
        }
        let first = (self.page_no - 1) * self.per_page + 1;
        let last = (first + self.incidents.len() as i64 - 1).max(first);
        // Beyond the cap the count is "more than 10,000", not a number.
        let total = if self.total > incidents::COUNT_CAP {
            self.shell
                .catalog
                .fill("queue.total_more", &[("n", &incidents::COUNT_CAP)])
        } else {
            self.total.to_string()
        };
        self.shell.catalog.fill(
            "queue.total",
            &[("total", &total), ("first", &first), ("last", &last)],
        )
    }

    fn saved_href(&self, v: &renkei_incident::views::SavedView) -> String {
        if v.query.is_empty() {
            "/incidents".into()
        } else {
            format!("/incidents?{}", v.query)
        }
    }

    fn remove_label(&self, v: &renkei_incident::views::SavedView) -> String {
        self.shell
            .catalog
            .fill("queue.remove_view", &[("name", &v.name)])
    }

    fn view_label(&self, key: &str) -> &'static str {
        match key {
            "mine" => self.shell.t("queue.view_mine"),
            "new_today" => self.shell.t("queue.view_new_today"),
            "ageing" => self.shell.t("queue.view_ageing"),
            "replied" => self.shell.t("queue.view_replied"),
            "overdue" => self.shell.t("queue.view_overdue"),
            "exercise" => self.shell.t("exercise.view"),
            _ => self.shell.t("queue.view_open"),
        }
    }
}

/// The saved filters, each as the plain query it stands for, so that a view can be
/// refined with the form and bookmarked like any other.
/// `current` is the queue's query as shown (without its page), to mark the view
/// it is.
fn views(current: &str, me: i64, today: &str) -> Vec<View> {
    let base = ListQuery::default();
    let presets: [(&'static str, ListQuery); 7] = [
        ("open", base.clone()),
        (
            "mine",
            ListQuery {
                owner: Some(me.to_string()),
                ..base.clone()
            },
        ),
        (
            "new_today",
            ListQuery {
                from: Some(today.to_string()),
                ..base.clone()
            },
        ),
        (
            "ageing",
            ListQuery {
                idle: Some("7".into()),
                sort: Some("updated".into()),
                dir: Some("asc".into()),
                ..base.clone()
            },
        ),
        (
            "replied",
            ListQuery {
                replied: Some("1".into()),
                ..base.clone()
            },
        ),
        (
            "overdue",
            ListQuery {
                overdue: Some("1".into()),
                sort: Some("due".into()),
                ..base.clone()
            },
        ),
        // A drill's incidents, listed apart from the real ones.
        (
            "exercise",
            ListQuery {
                exercise: Some("1".into()),
                ..base.clone()
            },
        ),
    ];
    presets
        .into_iter()
        .map(|(key, v)| {
            let qs = serde_urlencoded::to_string(&v).unwrap_or_default();
            View {
                key,
                active: qs == current,
                href: QueuePage::href(&v),
            }
        })
        .collect()
}

pub(crate) async fn queue(page: Page, Query(q): Query<ListQuery>) -> Result<Response, AppError> {
    let zone = page.state.config.server.team_zone();
    // A search that cannot be read is said beside the box, with nothing listed.
    let search_error =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| renkei_incident::search::parse(s).err())
            .map(|e| e.to_string());
    let mut readable = q.clone();
    if search_error.is_some() {
        readable.q = None;
    }
    let mut filter = readable.filter(&renkei_core::time::format(page.now), zone)?;
    let page_no = q.page.unwrap_or(1).max(1);
    filter.limit = PER_PAGE;
    filter.offset = (page_no - 1) * PER_PAGE;
    let store = page.settled().await?;
    let (total, list) = if search_error.is_some() {
        (0, Vec::new())
    } else {
        incidents::page(store, &filter).await?
    };
    let coordinators = incidents::coordinators(page.store()).await?;
    let me = page.user()?.id;
    let today = page.now.with_timezone(&zone).date_naive().to_string();
    let back = QueuePage::href(&q);
    let query = {
        let mut c = q.clone();
        c.page = None;
        serde_urlencoded::to_string(&c).unwrap_or_default()
    };
    let saved = renkei_incident::views::list(page.store(), me)
        .await?
        .into_iter()
        .map(|v| {
            let active = v.query == query;
            (v, active)
        })
        .collect();
    html(&QueuePage {
        shell: page.shell("incidents"),
        incidents: list,
        views: views(&query, me, &today),
        saved,
        query,
        sort: filter.sort,
        descending: filter.descending,
        q,
        total,
        page_no,
        per_page: PER_PAGE,
        back,
        states: IncidentState::ALL,
        categories: Category::ALL,
        tlps: Tlp::ALL,
        coordinators,
        dues: Due::ALL,
        now: renkei_core::time::format(page.now),
        search_error,
    })
}

#[derive(Deserialize)]
pub struct SaveViewForm {
    name: String,
    #[serde(default)]
    query: String,
}

/// Keeps the queue's current filters under a name, for the reader only. The query
/// is checked as the queue reads it, so a saved view always opens.
pub(crate) async fn view_save(
    page: Page,
    Form(f): Form<SaveViewForm>,
) -> Result<Response, AppError> {
    let q: ListQuery = serde_urlencoded::from_str(&f.query).map_err(|_| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "query: not the queue's filters",
        )
    })?;
    q.filter(
        &renkei_core::time::format(page.now),
        page.state.config.server.team_zone(),
    )?;
    let mut q = q;
    q.page = None;
    let query = serde_urlencoded::to_string(&q).unwrap_or_default();
    let me = page.user()?.id;
    renkei_incident::views::save(page.store(), &page.auth.actor(), me, &f.name, &query).await?;
    Ok(see_other(&QueuePage::href(&q)))
}

pub(crate) async fn view_remove(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let me = page.user()?.id;
    renkei_incident::views::remove(page.store(), &page.auth.actor(), me, id).await?;
    Ok(see_other("/incidents"))
}

/// What the queue's bulk bar sends: the checked incidents (one `ids` field each),
/// the values beside the buttons, and the queue to go back to. Each button posts to
/// its own route (`formaction`), so no handler dispatches on an action's name.
struct Bulk {
    ids: Vec<i64>,
    fields: Vec<(String, String)>,
}

impl Bulk {
    fn read(pairs: Vec<(String, String)>, page: &Page) -> Result<Bulk, AppError> {
        let ids: Vec<i64> = pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .filter_map(|(_, v)| v.trim().parse().ok())
            .collect();
        if ids.is_empty() {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                page.shell("").t("queue.none_selected"),
            ));
        }
        Ok(Bulk { ids, fields: pairs })
    }

    fn get(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }

    /// Back to the queue as it was filtered.
    fn back(&self) -> Response {
        let back = self.get("back");
        see_other(if back.starts_with("/incidents") {
            &back
        } else {
            "/incidents"
        })
    }
}

/// The checked incidents to one owner (or none).
pub(crate) async fn bulk_assign(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    // "Assign to me" is its own button, whatever the owner selector says.
    let owner = if bulk.get("to_me") == "1" {
        Some(page.user()?.id)
    } else {
        bulk.get("owner").parse::<i64>().ok().filter(|o| *o != 0)
    };
    for id in &bulk.ids {
        incidents::assign(page.store(), &page.auth.actor(), *id, owner).await?;
    }
    Ok(bulk.back())
}

/// The checked incidents to one state.
pub(crate) async fn bulk_state(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    let to = IncidentState::parse(&bulk.get("state"))?;
    for id in &bulk.ids {
        incidents::set_state(page.store(), &page.auth.actor(), *id, to).await?;
    }
    Ok(bulk.back())
}

/// The checked incidents closed.
pub(crate) async fn bulk_close(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    for id in &bulk.ids {
        incidents::set_state(page.store(), &page.auth.actor(), *id, IncidentState::Closed).await?;
    }
    Ok(bulk.back())
}

/// The reports of the checked incidents to one category (each report once).
pub(crate) async fn bulk_classify(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    let category = Category::parse(&bulk.get("category"))?;
    let mut done = std::collections::BTreeSet::new();
    for id in &bulk.ids {
        let report = incidents::get(page.store(), *id).await?.report_id;
        if done.insert(report) {
            incidents::set_category(page.store(), &page.auth.actor(), report, category).await?;
        }
    }
    Ok(bulk.back())
}

/// The checked incidents merged into the first.
pub(crate) async fn bulk_merge(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    incidents::merge(
        page.store(),
        &page.auth.actor(),
        bulk.ids[0],
        &bulk.ids[1..],
    )
    .await?;
    Ok(bulk.back())
}

/// The notification form, for the checked incidents.
pub(crate) async fn bulk_notify(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    let q: Vec<String> = bulk.ids.iter().map(|i| format!("ids={i}")).collect();
    Ok(see_other(&format!("/notify?{}", q.join("&"))))
}

/// The selection goes to the compose page.
pub(crate) async fn bulk_write(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let bulk = Bulk::read(pairs, &page)?;
    let q: Vec<String> = bulk.ids.iter().map(|i| format!("ids={i}")).collect();
    Ok(see_other(&format!("/incidents/write?{}", q.join("&"))))
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    shell: Shell<'a>,
    report: Report,
    raw: String,
    incidents: Vec<Incident>,
    timeline: Vec<crate::pages::timeline::Entry>,
    shows: [&'static str; 4],
    show: &'static str,
    focus: Option<i64>,
    categories: [Category; 6],
    states: [IncidentState; 8],
    tlps: [Tlp; 5],
    coordinators: Vec<(i64, String)>,
    reasons: Vec<String>,
    /// Each incident's audited history, by incident.
    histories: Vec<(i64, Vec<renkei_core::audit::AuditEntry>)>,
    /// Where the compose page is, for this report.
    write_base: String,
    /// Whether the reporter's status page has a live link.
    status_link: bool,
    templates: [&'static str; 5],
    attachments: Vec<incidents::Attachment>,
    ips: Vec<(String, String)>,
    urls: Vec<String>,
    domains: Vec<String>,
    emails: Vec<String>,
    ports: Vec<String>,
    warnings: Vec<String>,
    /// The sites asked to be taken down, for all the report's incidents.
    takedowns: Vec<renkei_incident::takedowns::Takedown>,
    now: String,
}

/// The classifier's reasons in the reader's language. Reports classified before
/// reasons were stored as keys keep their English sentences.
fn reasons(words: &'static Catalog, v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| match serde_json::from_value::<Reason>(x.clone()) {
                    Ok(r) => {
                        let what = r
                            .facts
                            .get("what")
                            .map(|w| words.name("reason_what", w).to_string())
                            .unwrap_or_default();
                        let mut args: Vec<(&str, &dyn std::fmt::Display)> = r
                            .facts
                            .iter()
                            .filter(|(k, _)| k.as_str() != "what")
                            .map(|(k, v)| (k.as_str(), v as &dyn std::fmt::Display))
                            .collect();
                        args.push(("what", &what));
                        words.fill(&format!("reason.{}", r.reason), &args)
                    }
                    Err(_) => x
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn report(
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, AppError> {
    let report = incidents::report(page.store(), id).await?;
    let raw_bytes = incidents::raw(page.store(), id).await?;
    // Show the raw message as text; Japanese mail is decoded from whatever it was sent in.
    let shown = &raw_bytes[..raw_bytes.len().min(512 * 1024)];
    let raw = renkei_formats::mime::decode_japanese(shown).0;
    // A report that came as JSON (the web form, the API) reads better laid out.
    let raw = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(v @ serde_json::Value::Object(_)) => serde_json::to_string_pretty(&v).unwrap_or(raw),
        _ => raw,
    };
    let mut list = Vec::new();
    let store = page.settled().await?;
    for i in &report.incidents {
        list.push(incidents::get(store, *i).await?);
    }
    let timeline = timeline::build(
        page.store(),
        i18n::catalog(page.lang),
        id,
        &report.incidents,
        &q,
    )
    .await?;
    let show = q.show();
    let mut histories = Vec::new();
    for i in &report.incidents {
        histories.push((
            *i,
            renkei_core::audit::for_object(page.store(), "incident", &i.to_string()).await?,
        ));
    }
    let ind = &report.indicators;
    let ips = ind["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        i["ip"].as_str().unwrap_or("").to_string(),
                        i["role"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ports = ind["ports"]
        .as_array()
        .map(|a| a.iter().map(|p| p["port"].to_string()).collect())
        .unwrap_or_default();
    html(&ReportPage {
        shell: page.shell("incidents"),
        reasons: reasons(i18n::catalog(page.lang), &report.proposed_reasons),
        histories,
        write_base: format!("/reports/{id}/write"),
        status_link: renkei_mail::conversations::links::live(
            page.store(),
            &renkei_mail::conversations::Owner::new("report", id),
        )
        .await
        .map_err(AppError::internal)?,
        templates: renkei_incident::correspond::TEMPLATES,
        attachments: incidents::attachments(page.store(), id).await?,
        urls: strings(&ind["urls"]),
        domains: strings(&ind["domains"]),
        emails: strings(&ind["emails"]),
        warnings: strings(&report.warnings),
        takedowns: renkei_incident::takedowns::of_incidents(page.store(), &report.incidents)
            .await?,
        now: renkei_core::time::format(page.now),
        ips,
        ports,
        report,
        raw,
        incidents: list,
        timeline,
        shows: timeline::SHOWS,
        show,
        focus: q.incident,
        categories: Category::ALL,
        states: IncidentState::ALL,
        tlps: Tlp::ALL,
        coordinators: incidents::coordinators(page.store()).await?,
    })
}

impl ReportPage<'_> {
    /// The report's text in runs, each marked when it is one of the indicators found
    /// in it (addresses, URLs, domains, mail addresses), so the page can highlight
    /// them. Very long texts or lists are shown unmarked rather than slowly.
    fn body_segments(&self) -> Vec<(String, bool)> {
        let needles: Vec<&str> = self
            .ips
            .iter()
            .map(|(ip, _)| ip.as_str())
            .chain(self.urls.iter().map(String::as_str))
            .chain(self.emails.iter().map(String::as_str))
            .chain(self.domains.iter().map(String::as_str))
            .collect();
        marked(&self.report.body, &needles)
    }

    fn takedowns_of(&self, id: &i64) -> Vec<&renkei_incident::takedowns::Takedown> {
        self.takedowns
            .iter()
            .filter(|t| t.incident_id == *id)
            .collect()
    }

    fn overdue(&self, at: &str) -> bool {
        at <= self.now.as_str()
    }

    fn history(&self, id: &i64) -> &[renkei_core::audit::AuditEntry] {
        self.histories
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, h)| h.as_slice())
            .unwrap_or(&[])
    }

    fn consent(&self, given: &Option<bool>) -> &'static str {
        match given {
            Some(true) => self.shell.name("consent", "yes"),
            Some(false) => self.shell.name("consent", "no"),
            None => self.shell.name("consent", "unasked"),
        }
    }

    fn is_owner(&self, owner: &Option<i64>, id: &i64) -> bool {
        *owner == Some(*id)
    }

    fn effective_category(&self) -> &str {
        self.report
            .category
            .as_deref()
            .or(self.report.proposed_category.as_deref())
            .unwrap_or("")
    }
}

#[derive(Deserialize)]
pub struct CategoryForm {
    category: String,
}

pub(crate) async fn report_category(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<CategoryForm>,
) -> Result<Response, AppError> {
    incidents::set_category(
        page.store(),
        &page.auth.actor(),
        id,
        Category::parse(&f.category)?,
    )
    .await?;
    Ok(see_other(&format!("/reports/{id}")))
}

#[derive(Deserialize)]
pub struct NoteForm {
    body: String,
}

pub(crate) async fn report_note(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<NoteForm>,
) -> Result<Response, AppError> {
    incidents::add_message(page.store(), &page.auth.actor(), id, "note", None, &f.body).await?;
    Ok(see_other(&format!("/reports/{id}#thread")))
}

#[derive(Deserialize)]
pub struct IncidentForm {
    state: Option<String>,
    owner: Option<String>,
    tlp: Option<String>,
    /// The page the form was on (the incident's own, or its report's).
    back: Option<String>,
}

pub(crate) async fn incident_update(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<IncidentForm>,
) -> Result<Response, AppError> {
    let actor = page.auth.actor();
    let current = incidents::get(page.store(), id).await?;
    if let Some(o) = f.owner.as_deref() {
        let owner = o.trim().parse::<i64>().ok().filter(|o| *o != 0);
        incidents::assign(page.store(), &actor, id, owner).await?;
    }
    if let Some(s) = f.state.as_deref().filter(|s| !s.is_empty()) {
        incidents::set_state(page.store(), &actor, id, IncidentState::parse(s)?).await?;
    }
    if let Some(t) = f.tlp.as_deref().filter(|s| !s.is_empty()) {
        incidents::set_tlp(page.store(), &actor, id, Tlp::parse(t)?).await?;
    }
    match f.back.as_deref() {
        Some(back) if back == format!("/incidents/{id}") => Ok(see_other(back)),
        _ => Ok(see_other(&format!(
            "/reports/{}#incident-{id}",
            current.report_id
        ))),
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage<'a> {
    shell: Shell<'a>,
    i: Incident,
    report: Report,
    /// The report's text, the incident's own address marked.
    text: Vec<(String, bool)>,
    notifications: Vec<renkei_incident::notify::Notification>,
    takedowns: Vec<renkei_incident::takedowns::Takedown>,
    history: Vec<renkei_core::audit::AuditEntry>,
    timeline: Vec<crate::pages::timeline::Entry>,
    shows: [&'static str; 4],
    show: &'static str,
    focus: Option<i64>,
    write_base: String,
    next: Option<i64>,
    previous: Option<i64>,
    me: i64,
    states: [IncidentState; 8],
    tlps: [Tlp; 5],
    coordinators: Vec<(i64, String)>,
    now: String,
}

impl IncidentPage<'_> {
    fn overdue(&self, at: &str) -> bool {
        at <= self.now.as_str()
    }

    fn is_owner(&self, owner: &Option<i64>, id: &i64) -> bool {
        *owner == Some(*id)
    }

    fn owner_name(&self) -> String {
        self.i
            .owner_id
            .and_then(|id| self.coordinators.iter().find(|(c, _)| *c == id))
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| "—".into())
    }
}

/// One incident on a page of its own: what it is, who has it and what is due, the
/// report it came from with its address marked, the mail about it, the sites told,
/// takedowns and its history; the next open incident one key away.
pub(crate) async fn incident(
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, AppError> {
    let store = page.settled().await?;
    let i = incidents::get(store, id).await?;
    let report = incidents::report(store, i.report_id).await?;
    let q = TimelineQuery {
        show: q.show,
        incident: Some(id),
    };
    let timeline = timeline::build(
        page.store(),
        i18n::catalog(page.lang),
        i.report_id,
        &report.incidents,
        &q,
    )
    .await?;
    let show = q.show();
    let needles: Vec<&str> = i
        .source_ip
        .iter()
        .chain(i.source_host.iter())
        .map(String::as_str)
        .collect();
    let text = marked(&report.body, &needles);
    let (next, previous) = incidents::neighbours(store, id).await?;
    html(&IncidentPage {
        shell: page.shell("incidents"),
        notifications: renkei_incident::notify::for_incident(store, id).await?,
        takedowns: renkei_incident::takedowns::of_incidents(store, &[id]).await?,
        history: renkei_core::audit::for_object(page.store(), "incident", &id.to_string()).await?,
        write_base: format!("/reports/{}/write", i.report_id),
        timeline,
        shows: timeline::SHOWS,
        show,
        focus: Some(id),
        next,
        previous,
        me: page.user()?.id,
        states: IncidentState::ALL,
        tlps: Tlp::ALL,
        coordinators: incidents::coordinators(page.store()).await?,
        now: renkei_core::time::format(page.now),
        text,
        report,
        i,
    })
}

/// A text in runs, each marked when it is one of `needles`, so a page can highlight
/// them. Very long texts or lists are shown unmarked rather than slowly.
fn marked(body: &str, needles: &[&str]) -> Vec<(String, bool)> {
    let needles: Vec<&str> = needles
        .iter()
        .copied()
        .filter(|n| n.len() >= 3)
        .take(300)
        .collect();
    if body.len() > 512 * 1024 || needles.is_empty() {
        return vec![(body.to_string(), false)];
    }
    let mut spans: Vec<(usize, usize)> = needles
        .iter()
        .flat_map(|n| body.match_indices(n).map(|(i, m)| (i, i + m.len())))
        .collect();
    // Earliest first, the longest of those that start together.
    spans.sort_by_key(|&(start, end)| (start, std::cmp::Reverse(end)));
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            continue;
        }
        if start > at {
            out.push((body[at..start].to_string(), false));
        }
        out.push((body[start..end].to_string(), true));
        at = end;
    }
    if at < body.len() {
        out.push((body[at..].to_string(), false));
    }
    out
}
#[derive(Template)]
#[template(path = "statistics.html")]
struct StatsPage<'a> {
    shell: Shell<'a>,
    s: stats::Statistics,
    from: String,
    to: String,
    /// Reports and incidents against the period before and a year before, in words.
    compared: Vec<String>,
    /// Each category's count in the period before.
    before: Vec<(String, i64)>,
}

impl StatsPage<'_> {
    fn arrow(&self, key: &str, now: &i64) -> (i64, &'static str) {
        renkei_report::quarterly::compare::against(&self.before, key, *now)
    }

    /// Seconds as hours, one decimal; a dash when nothing was measured.
    fn hours(&self, secs: &Option<i64>) -> String {
        match stats::Spread::hours(*secs) {
            Some(h) => self.shell.catalog.fill("stats.hours", &[("n", &h)]),
            None => "—".into(),
        }
    }
}

/// The statistics of a period; with none chosen, the quarter of today, or — when
/// nothing was received since it began — the quarter of the latest report, so the
/// page never opens on an empty quarter when there is data.
pub(crate) async fn statistics(page: Page, Query(p): Query<Period>) -> Result<Response, AppError> {
    let unchosen = [&p.from, &p.to]
        .iter()
        .all(|v| v.as_deref().is_none_or(|v| v.trim().is_empty()));
    let mut today = page.now.date_naive();
    if unchosen {
        let (from, _) = p.resolve(today)?;
        let latest = stats::latest_report_at(page.store()).await?;
        if let Some(at) = latest.as_deref().and_then(renkei_core::time::parse)
            && renkei_core::time::format(at) < from
        {
            today = at.date_naive();
        }
    }
    let (from, to) = p.resolve(today)?;
    let s = stats::statistics(page.store(), &from, &to).await?;
    // The period of the same length just before, and the same period a year before;
    // a quarter is compared with the quarter before, as the activity report does.
    let (start, end) = (
        renkei_core::time::parse(&from).ok_or_else(|| AppError::internal("period start"))?,
        renkei_core::time::parse(&to).ok_or_else(|| AppError::internal("period end"))?,
    );
    let year = |t: chrono::DateTime<chrono::Utc>| {
        t.checked_sub_months(chrono::Months::new(12)).unwrap_or(t)
    };
    let span = end - start;
    let fmt = renkei_core::time::format;
    let previous = stats::statistics(page.store(), &fmt(start - span), &from).await?;
    let year_ago = stats::statistics(page.store(), &fmt(year(start)), &fmt(year(end))).await?;
    let quarter = renkei_report::Quarter::of(start.date_naive());
    let first = if quarter.bounds() == (from.clone(), to.clone()) {
        "previous"
    } else {
        "period"
    };
    let lang = page.lang;
    let shell = page.shell("statistics");
    let compared = [
        (
            shell.t("stats.reports"),
            s.reports,
            previous.reports,
            year_ago.reports,
        ),
        (
            shell.t("stats.incidents"),
            s.incidents,
            previous.incidents,
            year_ago.incidents,
        ),
    ]
    .into_iter()
    .map(|(what, now, before, year)| {
        renkei_report::quarterly::compare::Compared::new(now, before, year, &[])
            .sentence_against(what, first, lang)
    })
    .collect();
    html(&StatsPage {
        shell,
        from: from[..10].to_string(),
        to: to[..10].to_string(),
        before: previous
            .by_category
            .into_iter()
            .map(|c| (c.key, c.count))
            .collect(),
        compared,
        s,
    })
}
