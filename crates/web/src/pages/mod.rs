//! The server-rendered pages. Every flow works without JavaScript: plain forms,
//! POST-redirect-GET, and a CSRF field in each form.

pub mod documents;
pub mod feeds;
pub mod finder;
pub mod incidents;
pub mod indicators;
pub mod mail;
pub mod notify;
pub mod observe;
pub mod ops;
pub mod passkey;
pub mod publish;
pub mod report;
pub mod sso;
pub mod status;
pub mod takedowns;
pub mod timeline;
pub mod vuln;
pub mod work;

use crate::http::form::Form;
use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use renkei_core::Classify;
use renkei_core::access::{Role, Scope, Scopes, UserInfo};
use renkei_core::accounts::{self, ApiToken, LoginOutcome, NewUser, User};
use renkei_core::audit::{self, AuditEntry, Verdict};
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, Contact, NewContact, NewOrganization, OrgKind, Organization};
use renkei_core::{CoreError, second_factor, secrets};
use serde::Deserialize;

use crate::http::auth::{self, CookieSpec, CsrfToken};
use crate::http::context::Ctx;
use crate::http::error::{AppError, Rendered};
use crate::http::i18n::{self, Catalog, LANG_COOKIE};
use crate::http::state::AppState;

/// What every page handler needs, taken by one extractor: the node's shared state,
/// the caller, the CSRF token for its forms, the language, and the clock read once
/// for the request.
pub struct Page {
    /// The node's state, the caller and the request's clock, as API handlers get
    /// them; `page.state`, `page.store()` and the like reach through.
    pub ctx: Ctx,
    pub csrf: String,
    pub lang: Lang,
    /// Where the page is, so the language switch can come back to it.
    pub path: String,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let lang = i18n::request_lang(&parts.headers, ctx.auth.principal.user().map(|u| u.lang));
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        Ok(Page {
            ctx,
            csrf,
            lang,
            path,
        })
    }
}

impl std::ops::Deref for Page {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl Page {
    pub fn shell(&self, active: &'static str) -> Shell<'_> {
        Shell {
            catalog: i18n::catalog(self.lang),
            lang: self.lang.as_str(),
            user: self.auth.principal.user(),
            csrf: &self.csrf,
            path: &self.path,
            active,
            zone: self.state.config.server.team_zone(),
        }
    }

    pub(crate) fn user(&self) -> Result<&UserInfo, AppError> {
        self.auth
            .principal
            .user()
            .ok_or_else(|| AppError::from(CoreError::Unauthenticated))
    }
}

/// The frame around every page: header, navigation, language switch.
pub struct Shell<'a> {
    pub catalog: &'static Catalog,
    pub lang: &'a str,
    pub user: Option<&'a UserInfo>,
    pub csrf: &'a str,
    pub path: &'a str,
    pub active: &'static str,
    /// The team's zone: every time on a page is shown in it.
    pub zone: chrono::FixedOffset,
}

impl Shell<'_> {
    pub fn t(&self, key: &'static str) -> &'static str {
        self.catalog.get(key)
    }

    /// A stored time as people read it: in the team's zone, to the minute, with the
    /// offset.
    pub fn when(&self, stored: &str) -> String {
        renkei_core::time::shown_str(stored, self.zone)
    }

    /// A stored time in a narrow column: month, day and minute in the team's zone
    /// (the year too when it is not this one); pages put [`Shell::when`] beside it
    /// as its title.
    pub fn short(&self, stored: &str) -> String {
        match renkei_core::time::parse(stored) {
            Some(t) => {
                let local = t.with_timezone(&self.zone);
                let this_year =
                    chrono::Datelike::year(&chrono::Utc::now().with_timezone(&self.zone));
                if chrono::Datelike::year(&local) == this_year {
                    local.format("%m-%d %H:%M").to_string()
                } else {
                    local.format("%Y-%m-%d %H:%M").to_string()
                }
            }
            None => stored.to_string(),
        }
    }

    /// Every word of a catalog group (`audit_action`), as (stored code, word), in
    /// the order of the codes, for a selector that shows words and sends codes.
    pub fn group(&self, group: &str) -> Vec<(&'static str, &'static str)> {
        let catalog: &'static Catalog = self.catalog;
        let prefix = format!("{group}.");
        let mut out: Vec<(&'static str, &'static str)> = catalog
            .keys()
            .filter_map(|k| {
                k.strip_prefix(prefix.as_str())
                    .map(|code| (code, catalog.get(k)))
            })
            .collect();
        out.sort();
        out
    }

    /// An optional stored time, or a dash.
    pub fn when_opt(&self, stored: &Option<String>) -> String {
        stored
            .as_deref()
            .map(|s| self.when(s))
            .unwrap_or_else(|| "—".into())
    }

    /// The day a stored time falls on, in the team's zone.
    pub fn day(&self, stored: &str) -> String {
        renkei_core::time::day_str(stored, self.zone)
    }

    /// A stored word (`group.id` in the catalogs) as people read it.
    pub fn name<'a>(&self, group: &str, id: &'a str) -> &'a str {
        self.catalog.name(group, id)
    }

    pub fn is_staff(&self) -> bool {
        self.user.is_some_and(|u| u.role.is_staff())
    }

    pub fn role_name(&self) -> &'static str {
        match self.user.map(|u| u.role) {
            Some(Role::Admin) => self.t("role.admin"),
            Some(Role::Coordinator) => self.t("role.coordinator"),
            Some(Role::Vendor) => self.t("role.vendor"),
            Some(Role::Constituent) => self.t("role.constituent"),
            Some(Role::Sensor) => self.t("role.sensor"),
            None => "",
        }
    }

    pub fn kind_name(&self, kind: &OrgKind) -> &'static str {
        match kind {
            OrgKind::Team => self.t("kind.team"),
            OrgKind::Constituent => self.t("kind.constituent"),
            OrgKind::Vendor => self.t("kind.vendor"),
            OrgKind::Csirt => self.t("kind.csirt"),
            OrgKind::Isp => self.t("kind.isp"),
            OrgKind::Referral => self.t("kind.referral"),
        }
    }
}

/// A script every page loads (a destructive button asks first).
pub(crate) async fn site_script() -> Response {
    script(include_str!("../../static/site.js"))
}

/// The incident queue's keyboard.
pub(crate) async fn queue_script() -> Response {
    script(include_str!("../../static/queue.js"))
}

fn script(body: &'static str) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// One pillar in the top bar: where its name leads, and its pages.
pub struct MenuPillar {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    pub items: Vec<MenuItem>,
    pub active: bool,
}

/// One page in a pillar's menu. `id` names the link where tests and keyboard
/// users look for it.
pub struct MenuItem {
    pub label: &'static str,
    pub href: &'static str,
    pub id: &'static str,
    pub active: bool,
}

impl Shell<'_> {
    /// The top bar: one menu per pillar the reader works in, each page under the
    /// pillar it belongs to, with the same words as the page's own title.
    pub fn menu(&self) -> Vec<MenuPillar> {
        let Some(user) = self.user else {
            return Vec::new();
        };
        let staff = user.role.is_staff();
        let vendor = user.role == Role::Vendor;
        let org = user.role.needs_org();
        let item =
            |label: &'static str, href: &'static str, id: &'static str, key: &str| MenuItem {
                label: self.t(label),
                href,
                id,
                active: self.active == key,
            };
        let mut menu = Vec::new();
        if staff {
            menu.push((
                "incidents",
                "/incidents",
                vec![
                    item("queue.title", "/incidents", "incidents-link", "incidents"),
                    item("review.title", "/reports/review", "review-link", "review"),
                    item(
                        "notifications.title",
                        "/notifications",
                        "notifications-link",
                        "notifications",
                    ),
                    item("orgs.title", "/orgs", "orgs-link", "orgs"),
                    item(
                        "notifications.templates",
                        "/admin/templates",
                        "templates-link",
                        "templates",
                    ),
                ],
            ));
        }
        if staff || vendor {
            let mut items = vec![item("vuln.nav_cases", "/cases", "cases-link", "cases")];
            if staff {
                items.push(item(
                    "vuln.registry_title",
                    "/vendors",
                    "vendors-link",
                    "vendors",
                ));
            }
            items.push(item("vuln.nav_notes", "/notes", "notes-link", "notes"));
            menu.push(("vulns", "/cases", items));
        } else {
            menu.push((
                "vulns",
                "/notes",
                vec![
                    item("vuln.nav_notes", "/notes", "notes-link", "notes"),
                    item("menu.mine", "/vulnerabilities/mine", "mine-link", "mine"),
                    item(
                        "vuln.nav_report",
                        "/vulnerabilities/report",
                        "vuln-report-link",
                        "vuln_report",
                    ),
                ],
            ));
        }
        let mut observe = vec![item(
            "observe.title",
            "/observation",
            "observation-link",
            "observation",
        )];
        if staff {
            observe.push(item(
                "observe.nav_sensors",
                "/observation/sensors",
                "sensors-link",
                "sensors",
            ));
        }
        menu.push(("observe", "/observation", observe));
        let mut publish = Vec::new();
        if org {
            publish.push(item(
                "publish.nav_warnings",
                "/warnings",
                "warnings-link",
                "warnings",
            ));
        }
        publish.push(item(
            "publish.nav_alerts",
            "/alerts",
            "alerts-link",
            "alerts",
        ));
        if staff {
            publish.push(item(
                "publish.nav_warnings",
                "/warnings",
                "warnings-link",
                "warnings",
            ));
        }
        publish.push(item(
            "publish.nav_weekly",
            "/weekly",
            "weekly-link",
            "weekly",
        ));
        publish.push(if staff {
            item("publish.sends_title", "/lists/sends", "lists-link", "lists")
        } else {
            item("publish.nav_lists", "/lists", "lists-link", "lists")
        });
        publish.push(item(
            "documents.title",
            "/documents",
            "documents-link",
            "documents",
        ));
        menu.push((
            "publish",
            if org { "/warnings" } else { "/alerts" },
            publish,
        ));
        if staff {
            menu.push((
                "reports",
                "/activity",
                vec![
                    item("activity.nav", "/activity", "activity-link", "activity"),
                    item(
                        "stats.title",
                        "/statistics",
                        "statistics-link",
                        "statistics",
                    ),
                ],
            ));
        }
        if user.role == Role::Admin {
            menu.push((
                "admin",
                "/admin/users",
                vec![
                    item("nav.users", "/admin/users", "users-link", "users"),
                    item("nav.audit", "/admin/audit", "audit-link", "audit"),
                    item(
                        "ops.title",
                        "/admin/operations",
                        "operations-link",
                        "operations",
                    ),
                ],
            ));
        }
        menu.into_iter()
            .map(|(key, href, items)| MenuPillar {
                key,
                label: self.t(match key {
                    "incidents" => "menu.incidents",
                    "vulns" => "menu.vulns",
                    "observe" => "menu.observe",
                    "publish" => "menu.publish",
                    "reports" => "menu.reports",
                    _ => "menu.admin",
                }),
                href,
                active: items.iter().any(|i| i.active),
                items,
            })
            .collect()
    }
}

pub(crate) fn html<T: Template>(page: &T) -> Result<Response, AppError> {
    Ok(Html(page.render()?).into_response())
}

/// A complete page sent with an error status (a form shown again with its problem).
pub(crate) fn html_status<T: Template>(status: StatusCode, page: &T) -> Result<Response, AppError> {
    let mut response = (status, Html(page.render()?)).into_response();
    response.extensions_mut().insert(Rendered);
    Ok(response)
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub catalog: &'static Catalog,
    pub lang: &'a str,
    pub status: u16,
    pub code: &'a str,
    pub message: &'a str,
    /// What an operator looks the failure up by in the logs.
    pub request_id: &'a str,
}

impl ErrorPage<'_> {
    pub fn t(&self, key: &'static str) -> &'static str {
        self.catalog.get(key)
    }

    /// The heading: what went wrong, by status, in the reader's language.
    pub fn heading(&self) -> &'static str {
        self.catalog
            .lookup(&format!("error_status.{}", self.status))
            .unwrap_or_else(|| self.catalog.get("error.title"))
    }

    /// What to say: the catalog's words for a general code (not found, not
    /// allowed); the error's own message when it names something specific (what
    /// was wrong with the input, what it conflicts with).
    pub fn words(&self) -> &str {
        self.catalog
            .lookup(&format!("error_code.{}", self.code))
            .unwrap_or(self.message)
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    shell: Shell<'a>,
}

pub(crate) async fn home(page: Page) -> Result<Response, AppError> {
    html(&HomePage {
        shell: page.shell("home"),
    })
}

pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    match renkei_core::counts::ping(&state.store).await {
        Ok(_) => axum::Json(serde_json::json!({"status": "ok", "database": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "database": "unreachable"})),
            )
                .into_response();
            r.extensions_mut().insert(Rendered);
            r
        }
    }
}

/// Liveness: the process answers. It reads nothing, so that a database outage
/// makes nodes unready (`/readyz`), not restarted.
pub(crate) async fn livez() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Readiness: the database answers and has every migration this node needs. A node
/// answers nothing while it runs migrations at start, and 503 here until the
/// database is back, so a load balancer sends it no requests meanwhile.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let (status, body) = match state.store.schema().await {
        Ok(schema) if schema.ready() => (
            StatusCode::OK,
            serde_json::json!({"status": "ready", "database": "ok", "schema": schema}),
        ),
        Ok(schema) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "unready", "database": "ok", "schema": schema,
                "reason": "the database lacks migrations this node needs: they have not run, or one failed"}),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "unready", "database": "unreachable"}),
            )
        }
    };
    let mut r = (status, axum::Json(body)).into_response();
    r.extensions_mut().insert(Rendered);
    r
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let c = renkei_core::counts::counts(&state.store).await?;
    let q = crate::pages::ops::queues(&state).await?;
    let nodes = renkei_core::nodes::nodes(&state.store).await?;
    let leases = renkei_core::jobs::leases(&state.store).await?;
    let overdue = renkei_incident::clocks::overdue(&state.store, &state.clocks).await?;
    let mut gauges = vec![
        (
            "renkei_nodes_alive",
            "Nodes that sent a heartbeat in the last 30 s.",
            nodes.iter().filter(|n| n.alive).count() as i64,
        ),
        (
            "renkei_job_leases_held",
            "Job leases held now.",
            leases.iter().filter(|l| l.held).count() as i64,
        ),
        (
            "renkei_outbox_queued",
            "Mail waiting to be sent.",
            q.outbox_queued,
        ),
        (
            "renkei_outbox_sending",
            "Mail being handed to the relay.",
            q.outbox_sending,
        ),
        ("renkei_outbox_failed", "Mail given up on.", q.outbox_failed),
        (
            "renkei_list_deliveries_queued",
            "Mailing-list messages waiting.",
            q.list_queued,
        ),
        (
            "renkei_sensor_batches_waiting",
            "Sensor batches not yet counted.",
            q.sensor_batches_waiting,
        ),
        ("renkei_users", "Accounts.", c.users),
        (
            "renkei_organizations",
            "Organizations in the address book.",
            c.organizations,
        ),
        (
            "renkei_audit_entries",
            "Rows in the audit log.",
            c.audit_entries,
        ),
        (
            "renkei_feed_chunks_waiting",
            "Bulk-feed chunks not yet counted.",
            q.feed_chunks_waiting,
        ),
        (
            "renkei_incidents_new_replies",
            "Open incidents with a reply nobody has answered yet.",
            renkei_incident::incidents::new_replies(&state.store).await?,
        ),
        (
            "renkei_incidents_overdue_first_response",
            "Open incidents nobody has written about within the first-response limit.",
            overdue.first_response,
        ),
        (
            "renkei_incidents_overdue_reply",
            "Incidents whose question has waited for an answer past the limit.",
            overdue.reply,
        ),
        (
            "renkei_incidents_overdue_close",
            "Open incidents past the time to close.",
            overdue.close,
        ),
    ];
    let lanes = [
        (
            "renkei_bus_batches_pending",
            "Sensor batches on the bus not yet handed to a node.",
            q.bus_batches_pending,
        ),
        (
            "renkei_bus_batches_unacked",
            "Sensor batches handed to a node and not yet acknowledged.",
            q.bus_batches_unacked,
        ),
        (
            "renkei_bus_feeds_pending",
            "Bulk-feed chunks on the bus not yet handed to a node.",
            q.bus_feeds_pending,
        ),
        (
            "renkei_bus_feeds_unacked",
            "Bulk-feed chunks handed to a node and not yet acknowledged.",
            q.bus_feeds_unacked,
        ),
    ];
    for (name, help, value) in lanes {
        if let Some(v) = value {
            gauges.push((name, help, v as i64));
        }
    }
    let body = state.metrics.render(&gauges);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    shell: Shell<'a>,
    /// Held back: the form also asks for a code (the slower path).
    ask_code: bool,
    /// The SSO button's address, when a provider is configured.
    sso: Option<String>,
    sso_label: String,
    next: String,
    email: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// The address of the "sign in with the organization's provider" button, if one is
/// configured.
fn sso_href(state: &AppState, next: &str) -> Option<String> {
    (!state.config.sso.issuer_url.is_empty())
        .then(|| format!("/login/sso?next={}", auth::urlencode(next)))
}

pub(crate) async fn login_form(
    page: Page,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    if page.auth.principal.user().is_some() {
        return Ok(see_other(&auth::safe_next(q.next.as_deref())));
    }
    let shell = page.shell("login");
    let notice =
        (q.expired.is_some() || page.auth.session_expired).then(|| shell.t("login.expired"));
    let next = auth::safe_next(q.next.as_deref());
    html(&LoginPage {
        ask_code: false,
        sso: sso_href(&page.state, &next),
        sso_label: page.state.config.sso.label.clone(),
        next,
        email: String::new(),
        error: None,
        notice,
        shell,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
    /// A code from the authenticator app, on the slower path of a held-back source.
    code: Option<String>,
}

pub(crate) async fn login(page: Page, Form(form): Form<LoginForm>) -> Result<Response, AppError> {
    let client = page.auth.client.clone();
    let next = auth::safe_next(form.next.as_deref());
    let shell = page.shell("login");
    let Some(ticket) = page.state.limiter.attempt(&client, &form.email).await else {
        // The slower path: once per window, the right password together with a code
        // from the account's second factor still signs in from a held-back address.
        if let Some(code) = form.code.as_deref().filter(|c| !c.trim().is_empty())
            && page.state.limiter.slow_attempt(&client, &form.email).await
            && let LoginOutcome::Success(user) =
                accounts::login(page.store(), &form.email, &form.password, &client).await?
            && second_factor::spend_code(page.store(), user.id, code).await?
        {
            return open_session(&page.state, &page, user.id, &next, "second_factor").await;
        }
        accounts::login_throttled(page.store(), &form.email, &client).await?;
        let error = Some(shell.t("login.throttled"));
        return html_status(
            StatusCode::TOO_MANY_REQUESTS,
            &LoginPage {
                ask_code: true,
                sso: sso_href(&page.state, &next),
                sso_label: page.state.config.sso.label.clone(),
                shell,
                next,
                email: form.email,
                error,
                notice: None,
            },
        );
    };
    match accounts::login(page.store(), &form.email, &form.password, &client).await? {
        LoginOutcome::Success(user) => {
            page.state.limiter.succeeded(ticket).await;
            if second_factor::is_enrolled(page.store(), user.id).await? {
                // The password was right; the session waits for the code.
                let challenge = second_factor::open_challenge(page.store(), user.id).await?;
                let mut response =
                    see_other(&format!("/login/code?next={}", auth::urlencode(&next)));
                response.headers_mut().append(
                    header::SET_COOKIE,
                    challenge_cookie(&page.state, &challenge, 300),
                );
                return Ok(response);
            }
            open_session(&page.state, &page, user.id, &next, "password").await
        }
        LoginOutcome::Failed => {
            let error = Some(shell.t("login.failed"));
            html_status(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    ask_code: false,
                    sso: sso_href(&page.state, &next),
                    sso_label: page.state.config.sso.label.clone(),
                    shell,
                    next,
                    email: form.email,
                    error,
                    notice: None,
                },
            )
        }
    }
}

const CHALLENGE_COOKIE: &str = "renkei_challenge";

fn challenge_cookie(state: &AppState, value: &str, max_age: i64) -> axum::http::HeaderValue {
    auth::set_cookie(
        state,
        CookieSpec {
            name: CHALLENGE_COOKIE,
            value,
            max_age: Some(max_age),
            same_site: "Strict",
            http_only: true,
        },
    )
}

/// Signs `user_id` in: a new session, and a CSRF token bound to it (one planted
/// before sign-in is worthless), then on to `next`.
pub(crate) async fn open_session(
    state: &AppState,
    page: &Page,
    user_id: i64,
    next: &str,
    method: &str,
) -> Result<Response, AppError> {
    let ttl = state.config.security.session_ttl_minutes;
    let origin = accounts::SessionOrigin {
        method,
        ..page.auth.origin()
    };
    let token = accounts::create_session(&state.store, user_id, ttl, origin).await?;
    let mut response = see_other(next);
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, auth::session_cookie(state, &token));
    let csrf = auth::issue_csrf(&state.csrf_key, &auth::csrf_binding(Some(&token)));
    headers.append(header::SET_COOKIE, auth::csrf_cookie(state, &csrf));
    Ok(response)
}

#[derive(Template)]
#[template(path = "login_code.html")]
pub(crate) struct LoginCodePage<'a> {
    pub(crate) shell: Shell<'a>,
    pub(crate) next: String,
    pub(crate) error: Option<&'static str>,
    /// WebAuthn request options (JSON) when the account has a security key.
    pub(crate) passkey: Option<String>,
}

/// The code page for the challenge in the browser's cookie, offering the account's
/// security key when it has one.
pub(crate) async fn login_code_page<'a>(
    state: &AppState,
    page: &'a Page,
    headers: &axum::http::HeaderMap,
    next: String,
    error: Option<&'static str>,
) -> Result<LoginCodePage<'a>, AppError> {
    let challenge = auth::cookie(headers, CHALLENGE_COOKIE).unwrap_or_default();
    let passkey = match &state.relying_party {
        Some(rp) => second_factor::passkey::request_options(&state.store, rp, &challenge).await?,
        None => None,
    };
    Ok(LoginCodePage {
        next,
        error,
        passkey,
        shell: page.shell("login"),
    })
}

pub(crate) async fn login_code_form(
    page: Page,
    headers: axum::http::HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let next = auth::safe_next(q.next.as_deref());
    html(&login_code_page(&page.state, &page, &headers, next, None).await?)
}

#[derive(Deserialize)]
pub struct LoginCodeForm {
    code: String,
    next: Option<String>,
}

/// The second step: the code from the app (or a recovery code) for the challenge
/// the password opened.
pub(crate) async fn login_code(
    page: Page,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginCodeForm>,
) -> Result<Response, AppError> {
    let proof = second_factor::Proof::Code(&form.code);
    answer_login_challenge(&page.state, &page, &headers, proof, form.next.as_deref()).await
}

/// The challenge's answer, a code or a security key's: a session, the code page
/// again, or the sign-in form when the challenge is gone.
pub(crate) async fn answer_login_challenge(
    state: &AppState,
    page: &Page,
    headers: &axum::http::HeaderMap,
    proof: second_factor::Proof<'_>,
    next: Option<&str>,
) -> Result<Response, AppError> {
    let state = state.clone();
    let next = auth::safe_next(next);
    let challenge = auth::cookie(headers, CHALLENGE_COOKIE).unwrap_or_default();
    match second_factor::answer_challenge(&state.store, &challenge, proof, &page.auth.client)
        .await?
    {
        second_factor::Answer::Passed(user_id) => {
            let mut response = open_session(&state, page, user_id, &next, "second_factor").await?;
            response
                .headers_mut()
                .append(header::SET_COOKIE, challenge_cookie(&state, "", 0));
            Ok(response)
        }
        second_factor::Answer::Wrong => {
            let error = Some(page.shell("login").t("second_factor.wrong"));
            html_status(
                StatusCode::UNAUTHORIZED,
                &login_code_page(&state, page, headers, next, error).await?,
            )
        }
        second_factor::Answer::Gone => {
            let shell = page.shell("login");
            let error = Some(shell.t("second_factor.gone"));
            html_status(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    ask_code: false,
                    sso: sso_href(&state, &next),
                    sso_label: state.config.sso.label.clone(),
                    shell,
                    next,
                    email: String::new(),
                    error,
                    notice: None,
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub(crate) struct SecondFactorPage<'a> {
    pub(crate) shell: Shell<'a>,
    pub(crate) secret: String,
    pub(crate) uri: String,
    pub(crate) recovery_codes: Vec<String>,
    pub(crate) error: Option<String>,
}

async fn second_factor_setup(
    state: &AppState,
    page: &Page,
    error: Option<String>,
) -> Result<Response, AppError> {
    let user = page.user()?;
    let secret = match second_factor::pending_secret(&state.store, user.id).await? {
        Some(s) => s,
        None => second_factor::begin(&state.store, user.id).await?,
    };
    let issuer = state.config.vuln.publisher_name.clone();
    let view = SecondFactorPage {
        secret: second_factor::totp::base32(&secret),
        uri: second_factor::totp::uri(&issuer, &user.email, &secret),
        recovery_codes: Vec::new(),
        error: error.clone(),
        shell: page.shell("account"),
    };
    match error {
        Some(_) => html_status(StatusCode::UNPROCESSABLE_ENTITY, &view),
        None => html(&view),
    }
}

/// Starts setting up an authenticator app: shows the key to scan.
pub(crate) async fn second_factor_begin(page: Page) -> Result<Response, AppError> {
    second_factor::begin(page.store(), page.user()?.id).await?;
    second_factor_setup(&page.state, &page, None).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// Turns the app on with a code it shows; shows the recovery codes once.
pub(crate) async fn second_factor_confirm(
    page: Page,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let user = page.user()?;
    match second_factor::confirm(page.store(), &page.auth.actor(), user.id, &form.code).await {
        Ok(codes) => html(&SecondFactorPage {
            secret: String::new(),
            uri: String::new(),
            recovery_codes: codes,
            error: None,
            shell: page.shell("account"),
        }),
        Err(CoreError::Invalid { .. }) => {
            let message = page.shell("account").t("second_factor.wrong").to_string();
            second_factor_setup(&page.state, &page, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Turns the second factor off, with a code from it (or a recovery code).
pub(crate) async fn second_factor_remove(
    page: Page,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let user = page.user()?;
    match second_factor::remove(page.store(), &page.auth.actor(), user.id, &form.code).await {
        Ok(()) => Ok(see_other("/account")),
        Err(CoreError::Invalid { .. }) => {
            let message = page.shell("account").t("second_factor.wrong").to_string();
            html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &account_page(&page.state, &page, Some(message)).await?,
            )
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn logout(page: Page) -> Result<Response, AppError> {
    if let Some(token) = &page.auth.session_token {
        accounts::end_session(page.store(), &page.auth.actor(), token).await?;
    }
    let mut response = see_other("/");
    response
        .headers_mut()
        .append(header::SET_COOKIE, auth::clear_session_cookie(&page.state));
    Ok(response)
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    back: Option<String>,
}

/// Switches the language: for the account if signed in, else in a cookie.
pub(crate) async fn set_lang(page: Page, Form(form): Form<LangForm>) -> Result<Response, AppError> {
    let lang = Lang::parse(&form.lang)?;
    if let Some(user) = page.auth.principal.user() {
        accounts::set_lang(page.store(), &page.auth.actor(), user.id, lang).await?;
    }
    let back = form
        .back
        .as_deref()
        .and_then(auth::local_target)
        .unwrap_or_else(|| "/".to_string());
    let mut response = see_other(&back);
    response.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(
            &page.state,
            CookieSpec {
                name: LANG_COOKIE,
                value: lang.as_str(),
                max_age: Some(365 * 24 * 3600),
                same_site: "Lax",
                http_only: false,
            },
        ),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    shell: Shell<'a>,
    token: String,
    email: String,
    display_name: String,
    error: Option<String>,
}

pub(crate) async fn setup_form(
    page: Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    if !accounts::setup_token_is_valid(page.store(), &token).await? {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "setup_link_invalid",
            page.shell("").t("setup.invalid"),
        ));
    }
    html(&SetupPage {
        shell: page.shell("setup"),
        token,
        email: String::new(),
        display_name: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct SetupForm {
    email: String,
    display_name: String,
    password: String,
    password_again: String,
}

pub(crate) async fn setup(
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if !accounts::setup_token_is_valid(page.store(), &token).await? {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "setup_link_invalid",
            page.shell("").t("setup.invalid"),
        ));
    }
    let again = |error: String| {
        html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                shell: page.shell("setup"),
                token: token.clone(),
                email: form.email.clone(),
                display_name: form.display_name.clone(),
                error: Some(error),
            },
        )
    };
    if form.password != form.password_again {
        return again(page.shell("").t("setup.mismatch").to_string());
    }
    let user = match accounts::complete_setup(
        page.store(),
        &token,
        &form.email,
        &form.display_name,
        form.password.clone(),
        page.lang,
    )
    .await
    {
        Ok(u) => u,
        Err(e) if matches!(e, CoreError::Invalid { .. } | CoreError::Conflict(_)) => {
            return again(e.to_string());
        }
        Err(e) => return Err(e.into()),
    };
    signed_in(&page, user.id, "/dashboard").await
}

/// Opens a session for an account that has just been given its password, and goes on.
async fn signed_in(page: &Page, user_id: i64, to: &str) -> Result<Response, AppError> {
    let ttl = page.state.config.security.session_ttl_minutes;
    let session = accounts::create_session(page.store(), user_id, ttl, page.auth.origin()).await?;
    let mut response = see_other(to);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        auth::session_cookie(&page.state, &session),
    );
    let csrf = auth::issue_csrf(&page.state.csrf_key, &auth::csrf_binding(Some(&session)));
    headers.append(header::SET_COOKIE, auth::csrf_cookie(&page.state, &csrf));
    Ok(response)
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage<'a> {
    shell: Shell<'a>,
    token: String,
    email: String,
    error: Option<String>,
}

fn welcome_invalid(page: &Page) -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "welcome_link_invalid",
        page.shell("").t("welcome.invalid"),
    )
}

/// The page a welcome link opens: the person sets the password of the account made
/// for them.
pub(crate) async fn welcome_form(
    page: Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let user = accounts::welcome_link_user(page.store(), &token)
        .await?
        .ok_or_else(|| welcome_invalid(&page))?;
    html(&WelcomePage {
        shell: page.shell(""),
        token,
        email: user.email,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct WelcomeForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

pub(crate) async fn welcome(
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<WelcomeForm>,
) -> Result<Response, AppError> {
    let user = accounts::welcome_link_user(page.store(), &token)
        .await?
        .ok_or_else(|| welcome_invalid(&page))?;
    let again = |error: String| {
        html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &WelcomePage {
                shell: page.shell(""),
                token: token.clone(),
                email: user.email.clone(),
                error: Some(error),
            },
        )
    };
    if form.password != form.password_again {
        return again(page.shell("").t("setup.mismatch").to_string());
    }
    let user = match accounts::use_welcome_link(page.store(), &token, form.password.clone()).await {
        Ok(u) => u,
        Err(e @ CoreError::Invalid { .. }) => return again(e.to_string()),
        Err(CoreError::NotFound(_)) => return Err(welcome_invalid(&page)),
        Err(e) => return Err(e.into()),
    };
    signed_in(&page, user.id, "/dashboard").await
}

/// A pillar on the dashboard; those not built yet are shown, but not linked.
pub struct Pillar {
    pub key: &'static str,
    pub href: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    shell: Shell<'a>,
    pillars: Vec<Pillar>,
    org: Option<Organization>,
    /// For staff: what waits for a person today.
    work: Vec<work::WorkItem>,
    /// For staff: open incidents past each clock.
    overdue: Option<renkei_incident::clocks::Overdue>,
    dues: [renkei_incident::clocks::Due; 3],
}

pub(crate) async fn dashboard(page: Page) -> Result<Response, AppError> {
    let user = page.user()?.clone();
    let org = match user.org_id {
        Some(id) => Some(orgs::get(page.store(), id).await?),
        None => None,
    };
    let staff = user.role.is_staff();
    let (work, overdue) = if staff {
        let (work, overdue) = work::staff_work(&page, user.id).await?;
        (work, Some(overdue))
    } else {
        (Vec::new(), None)
    };
    let pillars = ["incidents", "vulns", "observe", "publish", "reports"]
        .into_iter()
        .map(|key| Pillar {
            key,
            // Every pillar is built: each links where this reader works with it.
            href: match key {
                "incidents" if staff => Some("/incidents"),
                "incidents" => Some("/report"),
                "vulns" if staff || user.role == Role::Vendor => Some("/cases"),
                "vulns" => Some("/notes"),
                "observe" => Some("/observation"),
                "publish" => Some("/alerts"),
                "reports" if staff => Some("/activity"),
                "reports" => Some("/weekly"),
                _ => None,
            },
        })
        .collect();
    html(&DashboardPage {
        shell: page.shell("dashboard"),
        pillars,
        org,
        work,
        overdue,
        dues: renkei_incident::clocks::Due::ALL,
    })
}

impl DashboardPage<'_> {
    fn work_label(&self, item: &work::WorkItem) -> &'static str {
        item.label(&self.shell)
    }

    /// Whether anything on the dashboard asks for a person.
    fn all_clear(&self) -> bool {
        self.work.iter().all(|w| w.count == 0)
    }

    fn pillar_title(&self, key: &str) -> &'static str {
        match key {
            "incidents" => self.shell.t("pillar.incidents"),
            "vulns" => self.shell.t("pillar.vulns"),
            "observe" => self.shell.t("pillar.observe"),
            "publish" => self.shell.t("pillar.publish"),
            _ => self.shell.t("pillar.reports"),
        }
    }

    fn pillar_text(&self, key: &str) -> &'static str {
        match key {
            "incidents" => self.shell.t("pillar.incidents_text"),
            "vulns" => self.shell.t("pillar.vulns_text"),
            "observe" => self.shell.t("pillar.observe_text"),
            "publish" => self.shell.t("pillar.publish_text"),
            _ => self.shell.t("pillar.reports_text"),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage<'a> {
    shell: Shell<'a>,
    tokens: Vec<ApiToken>,
    sessions: Vec<accounts::SessionInfo>,
    scopes: &'static [Scope],
    second_factor: second_factor::Status,
    second_factor_required: bool,
    /// Whether security keys can be registered here (a host name in `public_url`).
    passkeys_available: bool,
    message: Option<String>,
}

impl AccountPage<'_> {
    fn scope_name(&self, scope: &Scope) -> &'static str {
        self.shell.t(match scope {
            Scope::Read => "account.scope_read",
            Scope::Write => "account.scope_write",
            Scope::Feed => "account.scope_feed",
            Scope::Sensor => "account.scope_sensor",
            Scope::Metrics => "account.scope_metrics",
            Scope::Admin => "account.scope_admin",
        })
    }

    fn scope_names(&self, token: &ApiToken) -> String {
        Scope::ALL
            .iter()
            .filter(|s| token.scopes.has(**s))
            .map(|s| self.scope_name(s))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The account page: settings, password, API tokens and signed-in sessions.
pub(crate) async fn account_page<'a>(
    state: &AppState,
    page: &'a Page,
    message: Option<String>,
) -> Result<AccountPage<'a>, AppError> {
    let user = page.user()?;
    Ok(AccountPage {
        tokens: accounts::list_tokens(&state.store, user.id).await?,
        sessions: accounts::list_sessions(
            &state.store,
            user.id,
            page.auth.session_token.as_deref(),
        )
        .await?,
        scopes: Scope::allowed_for(user.role),
        second_factor: second_factor::status(&state.store, user.id).await?,
        second_factor_required: state.config.security.require_second_factor_for_staff
            && user.role.is_staff(),
        passkeys_available: state.relying_party.is_some(),
        message,
        shell: page.shell("account"),
    })
}

pub(crate) async fn account(page: Page) -> Result<Response, AppError> {
    html(&account_page(&page.state, &page, None).await?)
}

/// Ends one of the account's sessions (the one in use too: that signs out).
pub(crate) async fn account_session_revoke(
    page: Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    accounts::revoke_session(page.store(), &page.auth.actor(), page.user()?.id, &id).await?;
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
pub struct AccountLangForm {
    lang: String,
}

pub(crate) async fn account_lang(
    page: Page,
    Form(form): Form<AccountLangForm>,
) -> Result<Response, AppError> {
    let lang = Lang::parse(&form.lang)?;
    accounts::set_lang(page.store(), &page.auth.actor(), page.user()?.id, lang).await?;
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    password: String,
    password_again: String,
}

pub(crate) async fn account_password(
    page: Page,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let user = page.user()?.clone();
    let shell = page.shell("account");
    let problem = if form.password != form.password_again {
        Some(shell.t("setup.mismatch").to_string())
    } else {
        match accounts::login(page.store(), &user.email, &form.current, &page.auth.client).await? {
            LoginOutcome::Success(_) => None,
            LoginOutcome::Failed => Some(shell.t("account.wrong_current").to_string()),
        }
    };
    if let Some(message) = problem {
        return html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &account_page(&page.state, &page, Some(message)).await?,
        );
    }
    if let Err(e) =
        accounts::set_password(page.store(), &page.auth.actor(), user.id, form.password).await
    {
        if e.kind().is_user_error() {
            return html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &account_page(&page.state, &page, Some(e.to_string())).await?,
            );
        }
        return Err(e.into());
    }
    // Changing the password ended every session, this one too.
    Ok(see_other("/login?next=/account"))
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage<'a> {
    shell: Shell<'a>,
    title: &'static str,
    subject: String,
    secret: String,
    back: String,
}

/// A new token: its name, a box per scope (`scope_read=on`), and days to live.
#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    #[serde(flatten)]
    scopes: std::collections::HashMap<String, String>,
}

pub(crate) async fn account_token_create(
    page: Page,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let user = page.user()?.clone();
    let chosen: Vec<&str> = form
        .scopes
        .keys()
        .filter_map(|k| k.strip_prefix("scope_"))
        .collect();
    let scopes = match chosen.is_empty() {
        true => None,
        false => Some(Scopes::parse(&chosen.join(" "))?),
    };
    let expires_in_days = match form.scopes.get("expires_in_days").map(|d| d.trim()) {
        None | Some("") => None,
        Some(d) => Some(d.parse::<u32>().map_err(|_| {
            CoreError::invalid("expires_in_days", "a number of days, or empty for none")
        })?),
    };
    let new = accounts::NewToken {
        name: &form.name,
        scopes,
        expires_in_days,
    };
    let (token, secret) = accounts::issue_token(
        page.store(),
        &page.auth.actor(),
        &accounts::Issuer::Session(user.clone()),
        user.id,
        new,
    )
    .await?;
    let shell = page.shell("account");
    let title = shell.t("secret.token_title");
    html(&SecretPage {
        shell,
        title,
        subject: token.name,
        secret,
        back: "/account".into(),
    })
}

pub(crate) async fn account_token_revoke(
    page: Page,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    accounts::revoke_token(page.store(), &page.auth.actor(), page.user()?.id, id).await?;
    Ok(see_other("/account"))
}

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage<'a> {
    shell: Shell<'a>,
    orgs: Vec<Organization>,
    kinds: [OrgKind; 6],
    filter: Option<OrgKind>,
}

#[derive(Deserialize)]
pub struct OrgsQuery {
    kind: Option<String>,
}

impl OrgsPage<'_> {
    fn selected(&self, kind: &OrgKind) -> bool {
        self.filter.as_ref() == Some(kind)
    }
}

pub(crate) async fn orgs(page: Page, Query(q): Query<OrgsQuery>) -> Result<Response, AppError> {
    let filter = match q.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => Some(OrgKind::parse(k)?),
        None => None,
    };
    let list = orgs::list(page.store(), filter).await?;
    html(&OrgsPage {
        shell: page.shell("orgs"),
        orgs: list,
        kinds: OrgKind::ALL,
        filter,
    })
}

#[derive(Deserialize)]
pub struct OrgForm {
    name: String,
    kind: String,
    country: Option<String>,
    domain: Option<String>,
    notes: Option<String>,
    topics: Option<String>,
    region: Option<String>,
}

impl OrgForm {
    fn into_new(self) -> Result<NewOrganization, CoreError> {
        Ok(NewOrganization {
            name: self.name,
            kind: OrgKind::parse(&self.kind)?,
            country: self.country,
            domain: self.domain,
            notes: self.notes.unwrap_or_default(),
            topics: self.topics.unwrap_or_default(),
            region: self.region.unwrap_or_default(),
        })
    }
}

pub(crate) async fn org_create(
    page: Page,
    Form(form): Form<OrgForm>,
) -> Result<Response, AppError> {
    let org = orgs::create(page.store(), &page.auth.actor(), form.into_new()?).await?;
    Ok(see_other(&format!("/orgs/{}", org.id)))
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage<'a> {
    shell: Shell<'a>,
    org: Organization,
    contacts: Vec<Contact>,
    history: Vec<AuditEntry>,
}

pub(crate) async fn org(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let org = orgs::get(page.store(), id).await?;
    let contacts = orgs::contacts(page.store(), id).await?;
    let history = audit::for_object(page.store(), "organization", &id.to_string()).await?;
    html(&OrgPage {
        shell: page.shell("orgs"),
        org,
        contacts,
        history,
    })
}

pub(crate) async fn org_update(
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<OrgForm>,
) -> Result<Response, AppError> {
    orgs::update(page.store(), &page.auth.actor(), id, form.into_new()?).await?;
    Ok(see_other(&format!("/orgs/{id}")))
}

#[derive(Deserialize)]
pub struct ContactForm {
    name: String,
    email: String,
    phone: Option<String>,
    pgp_key: Option<String>,
    lang: String,
    role: Option<String>,
}

pub(crate) async fn contact_create(
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ContactForm>,
) -> Result<Response, AppError> {
    orgs::add_contact(
        page.store(),
        &page.auth.actor(),
        id,
        NewContact {
            name: form.name,
            email: form.email,
            phone: form.phone,
            pgp_key: form.pgp_key,
            lang: Lang::parse(&form.lang)?,
            role: form.role,
        },
    )
    .await?;
    Ok(see_other(&format!("/orgs/{id}")))
}

pub(crate) async fn contact_delete(
    page: Page,
    Path((id, contact_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    orgs::remove_contact(page.store(), &page.auth.actor(), id, contact_id).await?;
    Ok(see_other(&format!("/orgs/{id}")))
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    shell: Shell<'a>,
    users: Vec<User>,
    orgs: Vec<Organization>,
    roles: [Role; 5],
}

impl UsersPage<'_> {
    fn org_name(&self, id: &Option<i64>) -> String {
        id.and_then(|id| self.orgs.iter().find(|o| o.id == id))
            .map(|o| o.name.clone())
            .unwrap_or_default()
    }
}

pub(crate) async fn users(page: Page) -> Result<Response, AppError> {
    let users = accounts::list_users(page.store()).await?;
    let orgs = orgs::list(page.store(), None).await?;
    html(&UsersPage {
        shell: page.shell("users"),
        users,
        orgs,
        roles: Role::ALL,
    })
}

#[derive(Deserialize)]
pub struct UserForm {
    email: String,
    display_name: String,
    role: String,
    org_id: Option<String>,
    lang: String,
}

pub(crate) async fn user_create(
    page: Page,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let role = Role::parse(&form.role)?;
    let org_id = match form
        .org_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| CoreError::invalid("org_id", "choose an organization"))?,
        ),
        None => None,
    };
    // People get a one-time password to change at first login; sensors get none.
    let password = role.may_use_password().then(secrets::readable_password);
    let user = accounts::create_user(
        page.store(),
        &page.auth.actor(),
        NewUser {
            email: form.email,
            display_name: form.display_name,
            role,
            org_id,
            password: password.clone(),
            lang: Lang::parse(&form.lang)?,
        },
    )
    .await?;
    match password {
        Some(secret) => {
            let shell = page.shell("users");
            let title = shell.t("secret.password_title");
            html(&SecretPage {
                shell,
                title,
                subject: user.email,
                secret,
                back: "/admin/users".into(),
            })
        }
        None => Ok(see_other("/admin/users")),
    }
}

pub(crate) async fn user_disable(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    accounts::set_disabled(page.store(), &page.auth.actor(), id, true).await?;
    Ok(see_other("/admin/users"))
}

pub(crate) async fn user_enable(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    accounts::set_disabled(page.store(), &page.auth.actor(), id, false).await?;
    Ok(see_other("/admin/users"))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    shell: Shell<'a>,
    entries: Vec<AuditEntry>,
    verdict: Verdict,
    /// The query string of the next (older) page, filters kept.
    older: Option<String>,
    q: AuditQuery,
}

/// The audit page's filters as typed: days (`YYYY-MM-DD`) in the team's zone.
#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    before: Option<i64>,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    object_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl AuditQuery {
    fn filter(&self, zone: chrono::FixedOffset) -> Result<audit::AuditFilter, AppError> {
        Ok(audit::AuditFilter {
            actor: Some(self.actor.clone()),
            action: Some(self.action.clone()),
            object_type: Some(self.object_type.clone()),
            object_id: Some(self.object_id.clone()),
            from: crate::api::audit_bound(&self.from, zone, false)?,
            to: crate::api::audit_bound(&self.to, zone, true)?,
        })
    }

    fn older(&self, seq: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("before", &seq.to_string());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("object_type", &self.object_type),
            ("object_id", &self.object_id),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

pub(crate) async fn audit(page: Page, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    const PAGE: i64 = 100;
    let filter = q.filter(page.state.config.server.team_zone())?;
    let entries = audit::search(page.store(), &filter, q.before, PAGE).await?;
    let verdict = audit::verify(page.store()).await?;
    let older = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| q.older(e.seq)))
        .flatten();
    html(&AuditPage {
        shell: page.shell("audit"),
        entries,
        verdict,
        older,
        q,
    })
}
