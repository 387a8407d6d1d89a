//! Every route, with what it requires, registered in one place.
//!
//! A route cannot be added without an [`Access`]: [`Routes::add`] takes both and
//! wraps the handler in [`auth::authorize`]. The list of [`RouteSpec`]s that comes
//! out of the same builder feeds the OpenAPI document and the route × role tests, so
//! neither can drift from the router.

use axum::Router;
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, on};
use renkei_core::access::{Access, Scope};
use serde::Serialize;

use crate::http::auth;
use crate::http::state::AppState;
use crate::{api, pages};

const PERIOD_Q: (&str, &str, &str) = (
    "period",
    "string",
    "2007Q4, 2007, 2007-10 or 2007-10-01..2007-12-31 (default: the current quarter)",
);
const FROM_Q: (&str, &str, &str) = ("from", "string", "the first day (with to)");
const TO_Q: (&str, &str, &str) = ("to", "string", "the last day (with from)");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    GET,
    POST,
    PUT,
    PATCH,
    DELETE,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
        }
    }
}

/// What the OpenAPI document says of an API route.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ApiDoc {
    pub summary: &'static str,
    /// Component schema of the JSON body, if any.
    pub request: Option<&'static str>,
    /// Component schema of the success body (`None`: no body); `[]` suffix for lists.
    pub response: Option<&'static str>,
    pub status: u16,
    /// Query parameters: (name, schema type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// The token scope this route needs when it is not the one its access and
    /// method imply ([`Scope::needed`]).
    pub scope: Option<Scope>,
    pub api: Option<ApiDoc>,
}

pub struct Routes {
    router: Router<AppState>,
    specs: Vec<&'static RouteSpec>,
    state: AppState,
}

impl Routes {
    fn new(state: AppState) -> Self {
        Routes {
            router: Router::new(),
            specs: Vec::new(),
            state,
        }
    }

    fn add<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        api: Option<ApiDoc>,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // Leaked once at start: specs live as long as the process and are shared by
        // each route's authorize layer.
        let spec: &'static RouteSpec = Box::leak(Box::new(RouteSpec {
            method,
            path,
            access,
            scope: own_scope(method, path),
            api,
        }));
        let filter = match method {
            Method::GET => MethodFilter::GET,
            Method::POST => MethodFilter::POST,
            Method::PUT => MethodFilter::PUT,
            Method::PATCH => MethodFilter::PATCH,
            Method::DELETE => MethodFilter::DELETE,
        };
        let route = on(filter, handler).layer(from_fn_with_state(
            (self.state.clone(), spec),
            auth::authorize,
        ));
        self.router = self.router.route(path, route);
        self.specs.push(spec);
        self
    }

    fn page<H, T>(self, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, path, access, None, handler)
    }

    fn api<H, T>(
        self,
        method: Method,
        path: &'static str,
        access: Access,
        doc: ApiDoc,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, path, access, Some(doc), handler)
    }
}

/// Routes whose token scope is their own: bulk feed uploads, the metrics a
/// Prometheus server scrapes, and issuing tokens (only an admin-scoped token may).
fn own_scope(method: Method, path: &str) -> Option<Scope> {
    match (method, path) {
        (Method::POST, "/api/v1/feeds/{feed}/imports") => Some(Scope::Feed),
        (Method::GET, "/metrics") => Some(Scope::Metrics),
        (Method::POST, "/api/v1/tokens") => Some(Scope::Admin),
        _ => None,
    }
}

const fn doc(
    summary: &'static str,
    request: Option<&'static str>,
    response: Option<&'static str>,
    status: u16,
) -> ApiDoc {
    ApiDoc {
        summary,
        request,
        response,
        status,
        query: &[],
    }
}

pub fn build(state: AppState) -> (Router<AppState>, Vec<&'static RouteSpec>) {
    use Access::*;
    use Method::*;
    let r = Routes::new(state)
        // Public pages and operations.
        .page(GET, "/", Public, pages::home)
        .page(GET, "/healthz", Public, pages::healthz)
        .page(GET, "/livez", Public, pages::livez)
        .page(GET, "/readyz", Public, pages::readyz)
        // Staff, or a token with the metrics scope; `server.metrics_listen` serves it
        // apart, on an address of the operator's choosing.
        .page(GET, "/metrics", Staff, pages::metrics)
        .page(GET, "/login", Public, pages::login_form)
        .page(POST, "/login", Public, pages::login)
        .page(GET, "/login/code", Public, pages::login_code_form)
        .page(GET, "/login/sso", Public, pages::sso::start)
        .page(GET, "/login/sso/callback", Public, pages::sso::callback)
        .page(POST, "/login/code", Public, pages::login_code)
        .page(POST, "/login/passkey", Public, pages::passkey::login_passkey)
        .page(GET, "/static/passkey.js", Public, pages::passkey::passkey_script)
        .page(GET, "/static/site.js", Public, pages::site_script)
        .page(GET, "/static/queue.js", Public, pages::queue_script)
        .page(POST, "/logout", Authenticated, pages::logout)
        .page(POST, "/lang", Public, pages::set_lang)
        .page(GET, "/setup/{token}", Public, pages::setup_form)
        .page(POST, "/setup/{token}", Public, pages::setup)
        .page(GET, "/account/welcome/{token}", Public, pages::welcome_form)
        .page(POST, "/account/welcome/{token}", Public, pages::welcome)
        .page(GET, "/report", Public, pages::incidents::form)
        .page(POST, "/report", Public, pages::incidents::submit)
        .page(GET, "/status/{secret}", Public, pages::status::show)
        .page(POST, "/status/{secret}", Public, pages::status::add)
        // Signed-in pages.
        .page(GET, "/dashboard", Person, pages::dashboard)
        .page(GET, "/account", Person, pages::account)
        .page(POST, "/account/lang", Person, pages::account_lang)
        .page(POST, "/account/password", Person, pages::account_password)
        .page(POST, "/account/tokens", Person, pages::account_token_create)
        .page(POST, "/account/tokens/{id}/revoke", Person, pages::account_token_revoke)
        .page(POST, "/account/sessions/{id}/revoke", Person, pages::account_session_revoke)
        .page(POST, "/account/second-factor/begin", Person, pages::second_factor_begin)
        .page(POST, "/account/second-factor/confirm", Person, pages::second_factor_confirm)
        .page(POST, "/account/second-factor/remove", Person, pages::second_factor_remove)
        .page(POST, "/account/passkeys/begin", Person, pages::passkey::passkey_begin)
        .page(POST, "/account/passkeys/finish", Person, pages::passkey::passkey_finish)
        .page(POST, "/account/passkeys/{id}/remove", Person, pages::passkey::passkey_remove)
        .page(GET, "/orgs", Staff, pages::orgs)
        .page(POST, "/orgs", Staff, pages::org_create)
        .page(GET, "/orgs/{id}", Staff, pages::org)
        .page(POST, "/orgs/{id}", Staff, pages::org_update)
        .page(POST, "/orgs/{id}/contacts", Staff, pages::contact_create)
        .page(POST, "/orgs/{id}/contacts/{contact_id}/delete", Staff, pages::contact_delete)
        .page(GET, "/incidents", Staff, pages::incidents::queue)
        .page(POST, "/incidents/bulk/assign", Staff, pages::incidents::bulk_assign)
        .page(POST, "/incidents/bulk/classify", Staff, pages::incidents::bulk_classify)
        .page(POST, "/incidents/bulk/state", Staff, pages::incidents::bulk_state)
        .page(POST, "/incidents/bulk/merge", Staff, pages::incidents::bulk_merge)
        .page(POST, "/incidents/bulk/close", Staff, pages::incidents::bulk_close)
        .page(POST, "/incidents/bulk/notify", Staff, pages::incidents::bulk_notify)
        .page(POST, "/incidents/bulk/write", Staff, pages::incidents::bulk_write)
        .page(POST, "/incidents/views", Staff, pages::incidents::view_save)
        .page(POST, "/incidents/views/{id}/remove", Staff, pages::incidents::view_remove)
        .page(GET, "/incidents/write", Staff, pages::mail::incidents_form)
        .page(POST, "/incidents/write", Staff, pages::mail::incidents_send)
        .page(POST, "/incidents/write/preview", Staff, pages::mail::incidents_preview)
        .page(GET, "/incidents/{id}", Staff, pages::incidents::incident)
        .page(POST, "/incidents/{id}", Staff, pages::incidents::incident_update)
        .page(GET, "/reports/review", Staff, pages::work::review)
        .page(GET, "/reports/{id}", Staff, pages::incidents::report)
        .page(POST, "/reports/{id}/category", Staff, pages::incidents::report_category)
        .page(POST, "/reports/{id}/notes", Staff, pages::incidents::report_note)
        .page(GET, "/reports/{id}/write", Staff, pages::mail::report_form)
        .page(POST, "/reports/{id}/status-link", Staff, pages::status::send_new)
        .page(POST, "/reports/{id}/status-link/revoke", Staff, pages::status::revoke)
        .page(POST, "/reports/{id}/write", Staff, pages::mail::report_send)
        .page(POST, "/reports/{id}/write/preview", Staff, pages::mail::report_preview)
        .page(GET, "/statistics", Staff, pages::incidents::statistics)
        .page(GET, "/indicators/{kind}/{value}", Staff, pages::indicators::show)
        .page(GET, "/admin/operations", Admin, pages::ops::page)
        .page(GET, "/activity", Public, pages::report::index)
        .page(GET, "/activity/{quarter}", Public, pages::report::published)
        .page(GET, "/activity/{quarter}/report.pdf", Public, pages::report::published_pdf)
        .page(GET, "/activity/{quarter}/report.html", Public, pages::report::published_html)
        .page(GET, "/activity/{quarter}/draft", Staff, pages::report::draft)
        .page(GET, "/activity/{quarter}/draft/report.pdf", Staff, pages::report::pdf)
        .page(GET, "/activity/{quarter}/draft/report.html", Staff, pages::report::html_file)
        .page(POST, "/activity/{quarter}/topics", Staff, pages::report::topics_save)
        .page(POST, "/activity/{quarter}/publish", Staff, pages::report::publish)
        .page(POST, "/activity/texts", Staff, pages::report::texts_save)
        .page(GET, "/documents", Public, pages::documents::list)
        .page(GET, "/feeds/documents.atom", Public, pages::documents::atom)
        .page(GET, "/notify", Staff, pages::notify::preview)
        .page(POST, "/notify", Staff, pages::notify::send)
        .page(GET, "/notifications", Staff, pages::notify::list)
        .page(GET, "/admin/templates", Staff, pages::notify::templates)
        .page(POST, "/admin/templates", Staff, pages::notify::template_save)
        .page(POST, "/incidents/{id}/enrich", Staff, pages::notify::enrich)
        .page(POST, "/incidents/{id}/takedowns", Staff, pages::takedowns::request)
        .page(POST, "/takedowns/{id}/checks", Staff, pages::takedowns::check)
        .page(GET, "/about", Public, pages::notify::about)
        .page(GET, "/notes", Public, pages::vuln::notes_list)
        .page(GET, "/notes/{id}", Public, pages::vuln::note_page)
        .page(GET, "/vulnerabilities/report", Public, pages::vuln::report_form)
        .page(GET, "/vulnerabilities/status/{secret}", Public, pages::finder::show)
        .page(POST, "/vulnerabilities/status/{secret}", Public, pages::finder::add)
        .page(POST, "/vulnerabilities/status/{secret}/credit", Public, pages::finder::credit)
        .page(GET, "/vulnerabilities/mine", Person, pages::finder::mine)
        .page(POST, "/vulnerabilities/mine/{id}/open", Person, pages::finder::open_mine)
        .page(POST, "/vulnerabilities/report", Public, pages::vuln::report_submit)
        .page(GET, "/vendors/apply", Public, pages::vuln::apply_form)
        .page(POST, "/vendors/apply", Public, pages::vuln::apply_submit)
        .page(GET, "/cases", Person, pages::vuln::cases_list)
        .page(GET, "/cases/{id}", Person, pages::vuln::case_page)
        .page(POST, "/cases/{id}/messages", Person, pages::vuln::case_message)
        .page(POST, "/cases/{id}/acknowledge", Person, pages::vuln::case_acknowledge)
        .page(POST, "/cases/{id}/partners", Person, pages::vuln::case_add_partner)
        .page(POST, "/cases/{id}/partners/tracking", Person, pages::vuln::case_partner_tracking)
        .page(POST, "/cases/{id}/files", Person, pages::vuln::case_file_add)
        .page(GET, "/cases/{id}/files/{file}", Person, pages::vuln::case_file)
        .page(POST, "/cases/{id}/finder", Person, pages::vuln::case_finder_reply)
        .page(POST, "/cases/{id}/finder/link", Person, pages::vuln::case_finder_link)
        .page(POST, "/cases/{id}/vendors", Person, pages::vuln::case_add_vendor)
        .page(POST, "/cases/{id}/status", Person, pages::vuln::case_status)
        .page(POST, "/cases/{id}/date", Person, pages::vuln::case_propose_date)
        .page(POST, "/cases/{id}/date/answer", Person, pages::vuln::case_answer_date)
        .page(POST, "/cases/{id}/schedule", Person, pages::vuln::case_schedule)
        .page(POST, "/cases/{id}/revise", Person, pages::vuln::case_revise)
        .page(GET, "/vendors", Staff, pages::vuln::vendors_list)
        .page(GET, "/vendors/{id}", Staff, pages::vuln::vendor_page)
        .page(POST, "/vendors/{id}/state", Staff, pages::vuln::vendor_state)
        .page(POST, "/vendors/{id}/contacts", Staff, pages::vuln::vendor_contact)
        .page(POST, "/vendors/{id}/products", Staff, pages::vuln::vendor_product)
        .page(POST, "/vendors/{id}/documents", Staff, pages::vuln::vendor_documents_add)
        .page(GET, "/vendors/{id}/documents/{doc}", Staff, pages::vuln::vendor_document)
        .page(POST, "/vendors/{id}/meetings", Staff, pages::vuln::vendor_meeting)
        .page(POST, "/vendors/{id}/contacts/{contact}/confirm-key", Staff, pages::vuln::vendor_key_confirm)
        .page(POST, "/vendors/{id}/contacts/{contact}/welcome", Staff, pages::vuln::vendor_welcome)
        .page(GET, "/observation", Public, pages::observe::overview)
        .page(GET, "/observation/ports/{proto}/{port}", Public, pages::observe::port)
        .page(POST, "/observation/ports/{proto}/{port}", Staff, pages::observe::port_annotate)
        .page(GET, "/observation/charts/top.svg", Public, pages::observe::top_chart)
        .page(GET, "/observation/charts/icmp.svg", Public, pages::observe::icmp_chart)
        .page(GET, "/observation/charts/ports/{proto}/{port}", Public, pages::observe::port_chart)
        .page(GET, "/observation/sensors", Staff, pages::observe::sensors)
        .page(POST, "/observation/sensors", Staff, pages::observe::sensor_register)
        .page(POST, "/observation/sensors/{id}/disable", Staff, pages::observe::sensor_disable)
        .page(POST, "/observation/sensors/{id}/enable", Staff, pages::observe::sensor_enable)
        .page(GET, "/alerts", Public, pages::publish::list)
        .page(GET, "/alerts/new", Staff, pages::publish::new_form)
        .page(POST, "/alerts/new", Staff, pages::publish::create)
        .page(GET, "/alerts/{number}", Public, pages::publish::page)
        .page(POST, "/alerts/{number}/submit", Staff, pages::publish::alert_submit)
        .page(POST, "/alerts/{number}/publish", Staff, pages::publish::alert_publish)
        .page(POST, "/alerts/{number}/recipients", Staff, pages::publish::recipient_add)
        .page(POST, "/alerts/{number}/recipients/remove", Staff, pages::publish::recipient_remove)
        .page(POST, "/alerts/{number}/acknowledge", Person, pages::publish::acknowledge)
        .page(GET, "/warnings", Person, pages::publish::warnings_page)
        .page(GET, "/warnings/receipt/{token}", Public, pages::publish::receipt_page)
        .page(POST, "/warnings/receipt/{token}", Public, pages::publish::receipt)
        .page(GET, "/alerts/{number}/edit", Staff, pages::publish::edit_form)
        .page(POST, "/alerts/{number}/edit", Staff, pages::publish::save)
        .page(GET, "/weekly", Public, pages::publish::weekly_list)
        .page(POST, "/weekly/new", Staff, pages::publish::weekly_new)
        .page(GET, "/weekly/{date}", Public, pages::publish::weekly_page)
        .page(GET, "/weekly/{date}/edit", Staff, pages::publish::weekly_edit)
        .page(POST, "/weekly/{date}/edit", Staff, pages::publish::weekly_save)
        .page(POST, "/weekly/{date}/publish", Staff, pages::publish::weekly_publish)
        .page(GET, "/feeds/weekly.atom", Public, pages::publish::weekly_atom)
        .page(GET, "/feeds/weekly.rss", Public, pages::publish::weekly_rss)
        .page(GET, "/lists", Public, pages::publish::lists_index)
        .page(GET, "/lists/sends", Staff, pages::publish::sends)
        .page(POST, "/lists/sends", Staff, pages::publish::send_start)
        .page(POST, "/lists/{slug}", Public, pages::publish::subscribe)
        .page(GET, "/lists/confirm/{token}", Public, pages::publish::confirm_page)
        .page(POST, "/lists/confirm/{token}", Public, pages::publish::confirm)
        .page(GET, "/lists/unsubscribe/{token}", Public, pages::publish::unsubscribe_page)
        .page(POST, "/lists/unsubscribe/{token}", Public, pages::publish::unsubscribe)
        .page(GET, "/feeds/alerts.atom", Public, pages::publish::atom)
        .page(GET, "/feeds/alerts.rss", Public, pages::publish::rss)
        .page(GET, "/feeds/vulnerabilities.atom", Public, pages::feeds::atom)
        .page(GET, "/.well-known/csaf/provider-metadata.json", Public, pages::feeds::provider_metadata)
        .page(GET, "/.well-known/csaf/white/index.txt", Public, pages::feeds::index_txt)
        .page(GET, "/.well-known/csaf/white/feed-tlp-white.json", Public, pages::feeds::rolie)
        .page(GET, "/.well-known/csaf/openpgp/{file}", Public, pages::feeds::openpgp_key)
        .page(GET, "/.well-known/security.txt", Public, pages::feeds::security_txt)
        .page(GET, "/.well-known/csaf/white/changes.csv", Public, pages::feeds::changes_csv)
        .page(GET, "/.well-known/csaf/white/{year}/{file}", Public, pages::feeds::advisory)
        .page(GET, "/admin/users", Admin, pages::users)
        .page(POST, "/admin/users", Admin, pages::user_create)
        .page(POST, "/admin/users/{id}/disable", Admin, pages::user_disable)
        .page(POST, "/admin/users/{id}/enable", Admin, pages::user_enable)
        .page(GET, "/admin/audit", Admin, pages::audit)
        // The JSON API.
        .api(GET, "/api/v1/openapi.json", Public, doc("This document.", None, Some("OpenApi"), 200), api::openapi)
        .api(GET, "/api/v1/me", Authenticated, doc("The calling account and its organization.", None, Some("Me"), 200), api::me)
        .api(
            GET,
            "/api/v1/orgs",
            Staff,
            ApiDoc {
                query: &[("kind", "string", "only organizations of this kind: team, constituent, vendor, csirt, isp")],
                ..doc("List organizations in the address book.", None, Some("Organization[]"), 200)
            },
            api::orgs,
        )
        .api(POST, "/api/v1/orgs", Staff, doc("Add an organization.", Some("NewOrganization"), Some("Organization"), 201), api::org_create)
        .api(GET, "/api/v1/orgs/{id}", Staff, doc("One organization with its contacts.", None, Some("OrganizationWithContacts"), 200), api::org)
        .api(
            PUT,
            "/api/v1/orgs/{id}",
            Staff,
            doc("Change an organization's details (its kind stays).", Some("NewOrganization"), Some("Organization"), 200),
            api::org_update,
        )
        .api(GET, "/api/v1/orgs/{id}/contacts", Staff, doc("An organization's contacts.", None, Some("Contact[]"), 200), api::contacts)
        .api(POST, "/api/v1/orgs/{id}/contacts", Staff, doc("Add a contact to an organization.", Some("NewContact"), Some("Contact"), 201), api::contact_create)
        .api(DELETE, "/api/v1/orgs/{id}/contacts/{contact_id}", Staff, doc("Remove a contact.", None, None, 204), api::contact_delete)
        .api(
            POST,
            "/api/v1/reports",
            Authenticated,
            doc("Report an incident with the web form's fields; stored, classified, and split into incidents. With an Idempotency-Key header, the same key again is the same report (answered 200 with its outcome).", Some("FormReport"), Some("IntakeOutcome"), 201),
            api::incidents::submit,
        )
        .api(
            POST,
            "/api/v1/reports/import",
            Authenticated,
            ApiDoc {
                query: &[
                    ("format", "string", "mail (RFC 5322), iodef (1.0 or 2.0) or xarf (v4 JSON); the body is the document"),
                    ("tlp", "string", "TLP of the report (default TLP:AMBER)"),
                ],
                ..doc("Submit a raw document. It is stored before it is read; one that cannot be read is kept and marked for review. With an Idempotency-Key header, the same key again is the same report (answered 200 with its outcome).", Some("RawDocument"), Some("IntakeOutcome"), 201)
            },
            api::incidents::import,
        )
        .api(
            POST,
            "/api/v1/feeds/{feed}/imports",
            Staff,
            ApiDoc {
                query: &[("tlp", "string", "TLP of the feed's events and notifications (default TLP:AMBER)")],
                ..doc("Import a bulk feed with a built-in layout (the body is its CSV file). Stored first, then counted in chunks: 201 when counted by this node, 202 when its chunks went to the bus (follow Location), 200 when the same file was sent before (an unfinished import resumes).", Some("FeedFile"), Some("FeedImport"), 201)
            },
            api::feeds::upload,
        )
        .api(GET, "/api/v1/feeds/imports/{report}", Staff, doc("A feed import's progress and figures.", None, Some("FeedImport"), 200), api::feeds::import_status)
        .api(GET, "/api/v1/indicators/{kind}/{value}", Staff, doc("Everything known about an address (`ip`), an AS (`asn`) or a domain (`domain`, with its subdomains): incidents, reports that name it, feed events by day, notifications, what sensors saw it send, and vulnerability cases that name it, each with counts and first and last seen.", None, Some("Indicator"), 200), api::indicators::show)
        .api(GET, "/api/v1/reports/{id}", Staff, doc("A report as read: fields, indicators, classification and reasons.", None, Some("Report"), 200), api::incidents::report)
        .api(GET, "/api/v1/reports/{id}/raw", Staff, doc("The report's bytes exactly as received.", None, Some("RawDocument"), 200), api::incidents::report_raw)
        .api(POST, "/api/v1/reports/{id}/category", Staff, doc("Confirm or change the report's category.", Some("CategoryChoice"), Some("Report"), 200), api::incidents::report_category)
        .api(GET, "/api/v1/reports/{id}/messages", Staff, doc("The report's thread: mail in, mail out, notes.", None, Some("Message[]"), 200), api::incidents::messages)
        .api(POST, "/api/v1/reports/{id}/messages", Staff, doc("Add a note (or a record of mail sent) to the thread.", Some("NewMessage"), Some("Created"), 201), api::incidents::message_add)
        .api(POST, "/api/v1/reports/{id}/mail", Staff, doc("Write to anyone about the report (the reporter, the site, a partner CSIRT): queued in the outbox, kept in the thread. 202 with the message's number.", Some("Mail"), Some("Mailed"), 202), api::mail::report_send)
        .api(POST, "/api/v1/reports/{id}/mail/preview", Staff, doc("The mail as it would go out (template rendered, signing and encryption said), nothing queued.", Some("Mail"), Some("MailPreview"), 200), api::mail::report_preview)
        .api(GET, "/api/v1/reports/{id}/recipients", Staff, doc("Who a mail about the report would usually go to: the reporter, the site's contact, the national CSIRT.", None, Some("Suggestion[]"), 200), api::mail::report_recipients)
        .api(
            GET,
            "/api/v1/incidents",
            Staff,
            ApiDoc {
                query: &[
                    ("state", "string", "new, triaged, coordinating, waiting_for_reply, resolved, closed, rejected, duplicate"),
                    ("category", "string", "scan, forged, intrusion, phishing, other, inquiry"),
                    ("tlp", "string", "TLP label"),
                    ("owner", "integer", "the owning coordinator's user number"),
                    ("from", "string", "created on or after (YYYY-MM-DD)"),
                    ("to", "string", "created before (YYYY-MM-DD)"),
                    ("q", "string", "full text over the report and the source"),
                    ("all", "string", "any value: include closed, rejected and duplicate"),
                    ("replied", "string", "any value: only incidents with a reply nobody has answered yet"),
                    ("due", "string", "only incidents whose next clock is this: first_response, reply, close"),
                    ("overdue", "string", "any value: only incidents past their clock"),
                    ("sort", "string", "due: soonest due first; newest (default): newest first"),
                    ("limit", "integer", "at most this many (default 100)"),
                    ("offset", "integer", "skip this many"),
                ],
                ..doc("The incident queue, newest first; open incidents unless asked otherwise.", None, Some("Incident[]"), 200)
            },
            api::incidents::list,
        )
        .api(POST, "/api/v1/incidents/merge", Staff, doc("Merge incidents: the others become duplicates of the one kept.", Some("Merge"), Some("Incident"), 200), api::incidents::merge)
        .api(POST, "/api/v1/incidents/mail", Staff, doc("Write about a selection of incidents (`incidents`): one mail, kept in each incident's thread. 202 with the message's number.", Some("Mail"), Some("Mailed"), 202), api::mail::selection_send)
        .api(POST, "/api/v1/incidents/mail/preview", Staff, doc("The mail about a selection as it would go out, nothing queued.", Some("Mail"), Some("MailPreview"), 200), api::mail::selection_preview)
        .api(GET, "/api/v1/incidents/{id}", Staff, doc("One incident.", None, Some("Incident"), 200), api::incidents::get)
        .api(POST, "/api/v1/incidents/{id}/mail", Staff, doc("Write to anyone about the incident: queued in the outbox, kept in its thread. 202 with the message's number.", Some("Mail"), Some("Mailed"), 202), api::mail::incident_send)
        .api(POST, "/api/v1/incidents/{id}/mail/preview", Staff, doc("The mail about the incident as it would go out, nothing queued.", Some("Mail"), Some("MailPreview"), 200), api::mail::incident_preview)
        .api(GET, "/api/v1/incidents/{id}/messages", Staff, doc("The incident's conversation (its own and its report's): mail in and out with delivery state, notes.", None, Some("Message[]"), 200), api::mail::incident_thread)
        .api(GET, "/api/v1/incidents/{id}/recipients", Staff, doc("Who a mail about the incident would usually go to.", None, Some("Suggestion[]"), 200), api::mail::incident_recipients)
        .api(POST, "/api/v1/incidents/{id}/enrich", Staff, doc("Enrich the incident's address again with the tables in use now; the old values stay in the audit log.", None, Some("Incident"), 200), api::notify::enrich_incident)
        .api(GET, "/api/v1/incidents/{id}/takedowns", Staff, doc("The sites asked to be taken down for the incident, with every check.", None, Some("Takedown[]"), 200), api::takedowns::of_incident)
        .api(POST, "/api/v1/incidents/{id}/takedowns", Staff, doc("Track a site the team asked to have taken down (phishing, malware): requested → down → verified.", Some("TakedownRequest"), Some("Takedown"), 201), api::takedowns::request)
        .api(GET, "/api/v1/takedowns/{id}", Staff, doc("One takedown, with every check.", None, Some("Takedown"), 200), api::takedowns::get)
        .api(POST, "/api/v1/takedowns/{id}/checks", Staff, doc("Record a check of the site: down moves the takedown on (down, then verified); up after it was down is a return, which requests it again and reopens a resolved or closed incident.", Some("TakedownCheck"), Some("Takedown"), 200), api::takedowns::check)
        .api(GET, "/api/v1/incidents/{id}/notifications", Staff, doc("The notifications sent about an incident, with their mail's state.", None, Some("Notification[]"), 200), api::notify::for_incident)
        .api(GET, "/api/v1/enrich/lookup", Staff, doc("What the tables say about an address (?ip=).", None, Some("Enrichment"), 200), api::notify::lookup)
        .api(GET, "/api/v1/enrich/sources", Staff, doc("The tables loaded, their sizes, and contacts that bounce.", None, Some("EnrichSources"), 200), api::notify::sources)
        .api(POST, "/api/v1/notifications/preview", Staff, doc("What notifying these incidents would send: one mail per recipient, nothing queued.", Some("NotifyRequest"), Some("NotificationPlan"), 200), api::notify::preview)
        .api(POST, "/api/v1/notifications", Staff, doc("Notify the sites involved: one mail per recipient, queued in the outbox.", Some("NotifyRequest"), Some("NotificationsSent"), 201), api::notify::send)
        .api(GET, "/api/v1/notifications", Staff, doc("Notifications, newest first (?status=queued|sent|failed, ?limit=).", None, Some("Notification[]"), 200), api::notify::list)
        .api(GET, "/api/v1/templates/notification/{lang}", Staff, doc("The notification template in use for a language (en, ja).", None, Some("Template"), 200), api::notify::template)
        .api(PUT, "/api/v1/templates/notification/{lang}", Staff, doc("Replace the notification template for a language; it must render.", Some("TemplateChange"), Some("Template"), 200), api::notify::template_set)
        .api(GET, "/api/v1/statistics/notifications", Staff, doc("Notifications sent in a period (?from=&to=, default this quarter): per month, country, category.", None, Some("NotificationStatistics"), 200), api::notify::statistics)
        .api(PATCH, "/api/v1/incidents/{id}", Staff, doc("Change state, owner or TLP.", Some("IncidentPatch"), Some("Incident"), 200), api::incidents::patch)
        .api(
            GET,
            "/api/v1/statistics/incidents",
            Staff,
            ApiDoc {
                query: &[("from", "string", "period start, YYYY-MM-DD (default: this quarter)"), ("to", "string", "period end, exclusive")],
                ..doc("Incident statistics for a period, as the quarterly report prints them.", None, Some("Statistics"), 200)
            },
            api::incidents::statistics,
        )
        // Vulnerability coordination. Routes that name a case admit anyone at the door:
        // the case's own gate (renkei_vuln::cases::authorize) answers 404 to whoever may
        // not see it, signed in or not, so that a guessed key and a missing one look
        // the same to a stranger.
        .api(POST, "/api/v1/vendors/apply", Public, doc("Apply to join the product-developer registry (public form).", Some("VendorApplication"), Some("Vendor"), 201), api::vuln::apply)
        .api(GET, "/api/v1/vendors", Staff, doc("The product-developer registry.", None, Some("Vendor[]"), 200), api::vuln::vendor_list)
        .api(GET, "/api/v1/vendors/me", Person, doc("The calling vendor user's own registry entry (404 for anyone else).", None, Some("VendorDetail"), 200), api::vuln::vendor_me)
        .api(POST, "/api/v1/vendors/me/contacts", Person, doc("A vendor user adds a point of contact (with its OpenPGP key) to its own registry entry.", Some("VendorContactNew"), Some("VendorContact"), 201), api::vuln::own_contact)
        .api(POST, "/api/v1/vendors/me/products", Person, doc("A vendor user adds a product (CPE 2.3 or PURL optional) to its own registry entry.", Some("VendorProductNew"), Some("VendorProduct"), 201), api::vuln::own_product)
        .api(GET, "/api/v1/vendors/{id}", Staff, doc("One vendor with its contacts (key expiry) and products.", None, Some("VendorDetail"), 200), api::vuln::vendor_get)
        .api(POST, "/api/v1/vendors/{id}/state", Staff, doc("Move a vendor through the registration steps: documents_sent and documents_returned need a document of that direction, meeting_held a meeting record, terms_agreed the terms_version, registered every imported key confirmed; registering makes the contacts' accounts and welcome mails (welcomed).", Some("VendorStateChange"), Some("Vendor"), 200), api::vuln::vendor_state)
        .api(POST, "/api/v1/vendors/{id}/contacts", Staff, doc("Add a point of contact, with its OpenPGP key.", Some("VendorContactNew"), Some("VendorContact"), 201), api::vuln::vendor_contact)
        .api(POST, "/api/v1/vendors/{id}/products", Staff, doc("Add a product (CPE or PURL optional).", Some("VendorProductNew"), Some("VendorProduct"), 201), api::vuln::vendor_product)
        .api(
            POST,
            "/api/v1/vendors/{id}/documents",
            Staff,
            ApiDoc {
                query: &[("name", "string", "the file's name"), ("direction", "string", "sent (by the team) or returned (signed by the vendor)")],
                ..doc("Keep a registration document, the body being its bytes (SHA-256 kept).", Some("RawDocument"), Some("VendorDocument"), 201)
            },
            api::vuln::vendor_document_add,
        )
        .api(GET, "/api/v1/vendors/{id}/documents/{doc}", Staff, doc("A registration document, as an attachment (X-Content-SHA256).", None, Some("RawDocument"), 200), api::vuln::vendor_document)
        .api(POST, "/api/v1/vendors/{id}/meetings", Staff, doc("Record the registration meeting: the day, who took part, what was agreed.", Some("VendorMeetingNew"), Some("VendorMeeting"), 201), api::vuln::vendor_meeting)
        .api(POST, "/api/v1/vendors/{id}/contacts/{contact}/confirm-key", Staff, doc("Confirm a contact's OpenPGP key by the fingerprint the contact read out (422 when it differs).", Some("KeyConfirmation"), Some("VendorContact"), 200), api::vuln::vendor_key_confirm)
        .api(POST, "/api/v1/vendors/{id}/contacts/{contact}/welcome", Staff, doc("Make a registered vendor's contact its account, or send a fresh welcome link to one never used.", None, Some("Welcomed"), 200), api::vuln::vendor_welcome)
        .api(GET, "/api/v1/vendor-terms", Staff, doc("Registration terms, every version.", None, Some("Terms[]"), 200), api::vuln::terms)
        .api(POST, "/api/v1/vendor-terms", Staff, doc("Add a version of the registration terms (versions are never rewritten).", Some("TermsNew"), Some("Terms"), 201), api::vuln::terms_add)
        .api(GET, "/api/v1/vulnerabilities/mine", Person, doc("The reports the caller made while signed in, where each stands.", None, Some("OwnReport[]"), 200), api::vuln::own_reports)
        .api(POST, "/api/v1/cases", Public, doc("Report a vulnerability (finders) or open a case (coordinators): a draft case.", Some("NewCase"), Some("CaseCreated"), 201), api::vuln::case_submit)
        .api(
            POST,
            "/api/v1/cases/import",
            Staff,
            ApiDoc {
                query: &[("format", "string", "csaf (CSAF 2.0) or cve5 (CVE JSON 5); the body is the document")],
                ..doc("A partner coordinator's document as a draft case; an invalid one is refused with its problems by JSON path.", Some("RawDocument"), Some("CaseImported"), 201)
            },
            api::vuln::case_import,
        )
        .api(GET, "/api/v1/cases", Person, doc("Cases the caller may see: all for coordinators, their own for vendors.", None, Some("CaseSummary[]"), 200), api::vuln::case_list)
        .api(GET, "/api/v1/cases/{id}", Public, doc("A case as the caller may see it (each read is logged).", None, Some("CaseDetail"), 200), api::vuln::case_get)
        .api(PATCH, "/api/v1/cases/{id}", Public, doc("Change a case's text, scoring, series or TLP (coordinators).", Some("CasePatch"), Some("CaseDetail"), 200), api::vuln::case_patch)
        .api(GET, "/api/v1/cases/{id}/suggestions", Public, doc("Vendors whose products the case names (coordinators).", None, Some("VendorSuggestion[]"), 200), api::vuln::case_suggestions)
        .api(POST, "/api/v1/cases/{id}/partners", Public, doc("Add a partner coordinator (an organization of kind csirt) to the case, with its tracking ID (coordinators).", Some("AddPartner"), Some("CaseDetail"), 201), api::vuln::case_add_partner)
        .api(POST, "/api/v1/cases/{id}/partners/tracking", Public, doc("A partner records its own tracking ID for the case (coordinators name the partner).", Some("TrackingUpdate"), Some("CaseDetail"), 200), api::vuln::case_partner_tracking)
        .api(POST, "/api/v1/cases/{id}/acknowledge", Public, doc("A vendor acknowledges the case and its details open (before that it reads the summary); coordinators record one for a vendor.", Some("Acknowledge"), Some("CaseDetail"), 200), api::vuln::case_acknowledge)
        .api(
            POST,
            "/api/v1/cases/{id}/files",
            Public,
            ApiDoc {
                query: &[("name", "string", "the file's name"), ("shared_with", "string", "team (default) or vendors")],
                ..doc("Add a file to the case, the body being its bytes (coordinators).", Some("RawDocument"), Some("CaseFile"), 201)
            },
            api::vuln::case_file_add,
        )
        .api(GET, "/api/v1/cases/{id}/files/{file}", Public, doc("A file of the case, as an attachment (coordinators; vendors that acknowledged, files shared with vendors).", None, Some("RawDocument"), 200), api::vuln::case_file)
        .api(GET, "/api/v1/cases/{id}/finder", Public, doc("The thread with the finder (coordinators).", None, Some("ThreadMessage[]"), 200), api::vuln::case_finder_thread)
        .api(POST, "/api/v1/cases/{id}/finder/messages", Public, doc("Write to the finder by mail; it shows on their status page too (coordinators).", Some("FinderMessage"), Some("MessageCreated"), 201), api::vuln::case_finder_reply)
        .api(POST, "/api/v1/cases/{id}/finder/link", Public, doc("End the finder's status links and mail a new one (coordinators).", None, Some("MessageCreated"), 201), api::vuln::case_finder_link)
        .api(POST, "/api/v1/cases/{id}/vendors", Public, doc("Add a vendor to the case and notify it (coordinators).", Some("AddVendor"), Some("CaseDetail"), 201), api::vuln::case_add_vendor)
        .api(POST, "/api/v1/cases/{id}/status", Public, doc("Record a vendor's progress, product statuses and statement.", Some("VendorUpdate"), Some("CaseDetail"), 200), api::vuln::case_vendor_status)
        .api(POST, "/api/v1/cases/{id}/date", Public, doc("Propose the publication date and time (coordinators).", Some("DateProposal"), Some("CaseDetail"), 200), api::vuln::case_propose_date)
        .api(POST, "/api/v1/cases/{id}/date/answer", Public, doc("A vendor accepts the proposed date or asks for another.", Some("DateAnswer"), Some("CaseDetail"), 200), api::vuln::case_answer_date)
        .api(POST, "/api/v1/cases/{id}/publication", Public, doc("Schedule publication at the agreed moment (coordinators).", Some("Schedule"), Some("CaseDetail"), 200), api::vuln::case_schedule)
        .api(POST, "/api/v1/cases/{id}/revisions", Public, doc("A new revision of the published note (coordinators).", Some("Revise"), Some("Note"), 201), api::vuln::case_revise)
        .api(GET, "/api/v1/cases/{id}/messages", Public, doc("The threads the caller may read.", None, Some("CaseMessage[]"), 200), api::vuln::case_messages)
        .api(POST, "/api/v1/cases/{id}/messages", Public, doc("Write in a thread (vendors: their own; coordinators: a vendor's or internal).", Some("CaseMessageNew"), Some("CaseMessage"), 201), api::vuln::case_message_add)
        .api(
            GET,
            "/api/v1/cases/{id}/export",
            Public,
            ApiDoc {
                query: &[("format", "string", "csaf, cve5, jvnrss or json"), ("lang", "string", "en (default) or ja")],
                ..doc("The case's note, published or not (coordinators).", None, Some("Document"), 200)
            },
            api::vuln::case_export,
        )
        .api(GET, "/api/v1/notes", Public, doc("Published vulnerability notes, newest first.", None, Some("NoteSummary[]"), 200), api::vuln::note_list)
        .api(
            GET,
            "/api/v1/notes/{id}",
            Public,
            ApiDoc {
                query: &[("format", "string", "json (default), csaf, cve5 or jvnrss"), ("lang", "string", "en (default) or ja")],
                ..doc("A published note (its key with # written %23); unpublished notes do not exist here.", None, Some("Note"), 200)
            },
            api::vuln::note_get,
        )
        .api(GET, "/api/v1/statistics/vulnerabilities", Staff, doc("Notes per series and quarter, registered vendors, days to publication (?from=&to=).", None, Some("VulnStatistics"), 200), api::vuln::statistics)
        .api(POST, "/api/v1/sensors", Staff, doc("Register a sensor (name, location, address range, Ed25519 public key); the token is in this response only.", Some("SensorNew"), Some("SensorRegistered"), 201), api::observe::sensor_register)
        .api(GET, "/api/v1/sensors", Staff, doc("Each sensor's health: last batch, last bucket, uptime and packets over 7 days.", None, Some("SensorHealth[]"), 200), api::observe::sensor_list)
        .api(POST, "/api/v1/sensors/{id}/state", Staff, doc("Stop or resume accepting a sensor's batches.", Some("SensorState"), Some("Sensor"), 200), api::observe::sensor_state)
        .api(POST, "/api/v1/sensors/batches", Sensor, doc("A sensor's numbered batch, signed with its key (Renkei-Signature: ed25519=…; gzip allowed). 409 duplicate_batch when already received.", Some("SensorBatch"), Some("BatchReceipt"), 201), api::observe::batch)
        .api(
            GET,
            "/api/v1/observation/top",
            Public,
            ApiDoc {
                query: &[PERIOD_Q, FROM_Q, TO_Q, ("class", "string", "scan (default), backscatter or other"), ("ranks", "string", "1-5 (default), 6-10 or 1-10"), ("format", "string", "json (default) or csv")],
                ..doc("Destination ports ranked by the per-sensor average over the period, with their daily series.", None, Some("ObservationTop"), 200)
            },
            api::observe::top,
        )
        .api(
            GET,
            "/api/v1/observation/ports/{proto}/{port}",
            Public,
            ApiDoc {
                query: &[PERIOD_Q, FROM_Q, TO_Q, ("class", "string", "scan (default), backscatter or other"), ("format", "string", "json (default) or csv")],
                ..doc("One port per day: packets per sensor, packets, distinct sources, sensors; its trend notes and annotations.", None, Some("ObservationPort"), 200)
            },
            api::observe::port,
        )
        .api(GET, "/api/v1/observation/ports/{proto}/{port}/sensors", Staff, ApiDoc { query: &[("day", "string", "the day (default today)"), ("class", "string", "scan (default), backscatter or other")], ..doc("A port's day per sensor with its heaviest sources.", None, Some("ObservationBySensor"), 200) }, api::observe::port_sensors)
        .api(GET, "/api/v1/observation/icmp", Public, ApiDoc { query: &[PERIOD_Q, FROM_Q, TO_Q, ("format", "string", "json (default) or csv")], ..doc("The most frequent ICMP types per day.", None, Some("ObservationIcmp"), 200) }, api::observe::icmp)
        .api(GET, "/api/v1/observation/trends", Public, ApiDoc { query: &[PERIOD_Q, FROM_Q, TO_Q], ..doc("Trend notes (first seen, surge, calmed, back) with their evidence.", None, Some("ObservationTrends"), 200) }, api::observe::trend_list)
        .api(GET, "/api/v1/weekly", Public, doc("Weekly reports, newest first (drafts too, for staff).", None, Some("WeeklyReports"), 200), api::publish::weekly_list)
        .api(GET, "/api/v1/weekly/schedule", Public, ApiDoc { query: &[], ..doc("The coming issue days (`from`, `weeks`), with the weeks a holiday skips.", None, Some("WeeklySchedule"), 200) }, api::publish::weekly_schedule)
        .api(POST, "/api/v1/weekly", Staff, doc("Open an issue (the next issue day unless `issue_date` is given), filled with the alerts and notes published since the last one.", Some("WeeklyNew"), Some("WeeklyReport"), 201), api::publish::weekly_create)
        .api(GET, "/api/v1/weekly/{date}", Public, doc("One issue, by date or number.", None, Some("WeeklyReport"), 200), api::publish::weekly_get)
        .api(PUT, "/api/v1/weekly/{date}", Staff, doc("Change a draft's items and one-point memo.", Some("WeeklyText"), Some("WeeklyReport"), 200), api::publish::weekly_write)
        .api(POST, "/api/v1/weekly/{date}/publish", Staff, doc("Publish a draft with the next issue number.", None, Some("WeeklyReport"), 200), api::publish::weekly_publish)
        .api(GET, "/api/v1/lists", Public, doc("The mailing lists (with their active subscribers, for staff).", None, Some("MailingLists"), 200), api::publish::lists_index)
        .api(POST, "/api/v1/lists/{slug}/subscribe", Public, doc("Subscribe an address (double opt-in: a confirmation link goes to it). The answer is the same whether it was subscribed before or not.", Some("Subscription"), Some("SubscriptionAccepted"), 202), api::publish::subscribe)
        .api(POST, "/api/v1/lists/{slug}/sends", Staff, doc("Send a published TLP:CLEAR alert (`alert`) or weekly report (`weekly`) to every active subscriber.", Some("ListSendNew"), Some("ListSend"), 202), api::publish::send_start)
        .api(GET, "/api/v1/lists/sends", Staff, doc("Sends to lists, newest first, with their progress.", None, Some("ListSends"), 200), api::publish::sends)
        .api(GET, "/api/v1/lists/sends/{id}", Staff, doc("One send's progress: queued, sending, sent, failed.", None, Some("ListSend"), 200), api::publish::send_progress)
        .api(POST, "/api/v1/lists/unsubscribe/{token}", Public, doc("One-click unsubscribe (RFC 8058) by the token in the message's List-Unsubscribe address.", None, Some("Unsubscribed"), 200), api::publish::unsubscribe_one_click)
        .api(GET, "/api/v1/alerts", Public, ApiDoc { query: &[], ..doc("Alerts, newest first: published TLP:CLEAR ones for the public, every alert with its latest text for staff (`category`, `limit`).", None, Some("Alerts"), 200) }, api::publish::list)
        .api(POST, "/api/v1/alerts", Staff, doc("Write a new alert (a draft, revision 1; Markdown in Japanese and English).", Some("AlertText"), Some("Alert"), 201), api::publish::create)
        .api(GET, "/api/v1/alerts/{number}", Public, doc("One alert: its published text and history; staff also see the revision waiting.", None, Some("Alert"), 200), api::publish::get)
        .api(PUT, "/api/v1/alerts/{number}", Staff, doc("Change the draft, or start an update of a published alert (a new revision with its change note).", Some("AlertText"), Some("Alert"), 200), api::publish::write)
        .api(POST, "/api/v1/alerts/{number}/submit", Staff, doc("Ask a second coordinator to review the waiting revision.", None, Some("Alert"), 200), api::publish::submit)
        .api(GET, "/api/v1/activity/{quarter}", Staff, doc("The quarterly activity report's content for a quarter such as 2007Q4 (`lang`): publications, incident statistics, observation rankings, coordination figures, topics.", None, Some("ActivityReport"), 200), pages::report::api_get)
        .api(GET, "/api/v1/activity/{quarter}/topics", Staff, doc("The topics written for a quarter's report.", None, Some("ActivityTopics"), 200), pages::report::api_topics)
        .api(PUT, "/api/v1/activity/{quarter}/topics", Staff, doc("Replace the topics of a quarter's report (Markdown, Japanese and English).", Some("ActivityTopicsNew"), Some("ActivityTopics"), 200), pages::report::api_topics_put)
        .api(GET, "/api/v1/activity/texts", Staff, doc("The explanations the report prints beside its tables, per incident category and for observation (the team's, or the defaults).", None, Some("ActivityTexts"), 200), pages::report::api_texts)
        .api(PUT, "/api/v1/activity/texts", Staff, doc("Set some of the explanations (Markdown, Japanese and English); a text emptied in both languages returns to the default.", Some("ActivityTextsNew"), Some("ActivityTexts"), 200), pages::report::api_texts_put)
        .api(POST, "/api/v1/activity/{quarter}/publish", Staff, doc("Publish the quarter's report as it reads now, in Japanese and English, HTML and PDF; a later publication is a correction and needs change_note.", Some("ActivityPublish"), Some("ActivityRevision"), 201), pages::report::api_publish)
        .api(GET, "/api/v1/activity/{quarter}/revisions", Public, doc("A quarter's published revisions, newest first.", None, Some("ActivityRevisions"), 200), pages::report::api_revisions)
        .api(GET, "/api/v1/operations", Admin, doc("The nodes sharing the database (heartbeats), the depth of each queue, the job leases, and retention: each kind of personal data's age and what the daily job removed.", None, Some("Operations"), 200), pages::ops::api)
        .api(GET, "/api/v1/warnings", Person, doc("Early warnings: those addressed to the caller's organization, or, for staff, every restricted alert with how many organizations acknowledged it.", None, Some("Warnings"), 200), api::publish::warnings_inbox)
        .api(POST, "/api/v1/warnings/receipt/{token}", Public, doc("Acknowledge an early warning by the receipt link in its message.", None, Some("ReceiptLink"), 200), api::publish::receipt_link)
        .api(GET, "/api/v1/alerts/{number}/recipients", Staff, doc("The organizations an early warning is addressed to, with each message (encrypted or a notice, and its mail status) and each receipt.", None, Some("Recipients"), 200), api::publish::recipients)
        .api(POST, "/api/v1/alerts/{number}/recipients", Staff, doc("Address a restricted alert to one more organization; a published one goes to it at once.", Some("RecipientNew"), Some("Recipients"), 201), api::publish::recipient_add)
        .api(DELETE, "/api/v1/alerts/{number}/recipients/{org_id}", Staff, doc("Take an organization off an early warning: it no longer reads it.", None, Some("Recipients"), 200), api::publish::recipient_remove)
        .api(POST, "/api/v1/alerts/{number}/acknowledge", Person, doc("Confirm receipt of an early warning addressed to the caller's organization.", None, Some("Acknowledged"), 200), api::publish::acknowledge)
        .api(POST, "/api/v1/alerts/{number}/publish", Staff, doc("Publish the revision in review (never by its author).", None, Some("Alert"), 200), api::publish::publish)
        .api(GET, "/api/v1/observation/annotations", Public, ApiDoc { query: &[PERIOD_Q, FROM_Q, TO_Q], ..doc("Coordinators' annotations on ports.", None, Some("ObservationAnnotations"), 200) }, api::observe::annotation_list)
        .api(POST, "/api/v1/observation/annotations", Staff, doc("Annotate a port from a day on, linking a vulnerability note or CVE.", Some("AnnotationNew"), Some("Annotation"), 201), api::observe::annotation_add)
        .api(GET, "/api/v1/users", Admin, doc("List accounts.", None, Some("User[]"), 200), api::users)
        .api(POST, "/api/v1/users", Admin, doc("Create an account.", Some("NewUser"), Some("User"), 201), api::user_create)
        .api(
            PATCH,
            "/api/v1/users/{id}",
            Admin,
            doc("Disable or re-enable an account; disabling ends its sessions and tokens.", Some("UserPatch"), Some("User"), 200),
            api::user_patch,
        )
        .api(GET, "/api/v1/tokens", Authenticated, doc("The calling account's API tokens (never their secrets).", None, Some("ApiToken[]"), 200), api::tokens)
        .api(
            POST,
            "/api/v1/tokens",
            Authenticated,
            doc("Issue an API token; the secret is in this response only. Admins may issue tokens for other accounts (sensors).", Some("NewToken"), Some("IssuedToken"), 201),
            api::token_create,
        )
        .api(DELETE, "/api/v1/tokens/{id}", Authenticated, doc("Revoke one of the calling account's tokens.", None, None, 204), api::token_revoke)
        .api(
            GET,
            "/api/v1/audit",
            Admin,
            ApiDoc {
                query: &[
                    ("before", "integer", "only entries with a smaller sequence number (paging)"),
                    ("limit", "integer", "at most this many entries, 1 to 1000 (default 100)"),
                    ("actor", "string", "part of who acted (name or address, any case)"),
                    ("action", "string", "an action (vendor.state) or its family (vendor)"),
                    ("object_type", "string", "the kind of object (incident, case, vendor, user, …)"),
                    ("object_id", "string", "the object's id, with object_type"),
                    ("from", "string", "from this day (YYYY-MM-DD, the team's zone) or time"),
                    ("to", "string", "up to and including this day, or before this time"),
                ],
                ..doc("Audit log entries, newest first, filtered by who, what, which object and when.", None, Some("AuditEntry[]"), 200)
            },
            api::audit,
        )
        .api(GET, "/api/v1/audit/verify", Admin, doc("Walk the audit hash chain.", None, Some("AuditVerdict"), 200), api::audit_verify);
    (r.router, r.specs)
}
