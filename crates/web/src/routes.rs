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
use renkei_core::access::Access;
use serde::Serialize;

use crate::state::AppState;
use crate::{api, auth, pages};

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
        .page(GET, "/metrics", Public, pages::metrics)
        .page(GET, "/login", Public, pages::login_form)
        .page(POST, "/login", Public, pages::login)
        .page(POST, "/logout", Authenticated, pages::logout)
        .page(POST, "/lang", Public, pages::set_lang)
        .page(GET, "/setup/{token}", Public, pages::setup_form)
        .page(POST, "/setup/{token}", Public, pages::setup)
        // Signed-in pages.
        .page(GET, "/dashboard", Person, pages::dashboard)
        .page(GET, "/account", Person, pages::account)
        .page(POST, "/account/lang", Person, pages::account_lang)
        .page(POST, "/account/password", Person, pages::account_password)
        .page(POST, "/account/tokens", Person, pages::account_token_create)
        .page(POST, "/account/tokens/{id}/revoke", Person, pages::account_token_revoke)
        .page(GET, "/orgs", Staff, pages::orgs)
        .page(POST, "/orgs", Staff, pages::org_create)
        .page(GET, "/orgs/{id}", Staff, pages::org)
        .page(POST, "/orgs/{id}", Staff, pages::org_update)
        .page(POST, "/orgs/{id}/contacts", Staff, pages::contact_create)
        .page(POST, "/orgs/{id}/contacts/{contact_id}/delete", Staff, pages::contact_delete)
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
                ],
                ..doc("Audit log entries, newest first.", None, Some("AuditEntry[]"), 200)
            },
            api::audit,
        )
        .api(GET, "/api/v1/audit/verify", Admin, doc("Walk the audit hash chain.", None, Some("AuditVerdict"), 200), api::audit_verify);
    (r.router, r.specs)
}
