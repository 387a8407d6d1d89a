//! The JSON API under /api/v1. Handlers are thin: they call the core and map its
//! answers; errors become `{"error":{"code","message"}}` at the boundary.

pub mod feeds;
pub mod incidents;
pub mod indicators;
pub mod mail;
pub mod notify;
pub mod observe;
pub mod openapi;
pub mod publish;
pub mod takedowns;
pub mod vuln;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use renkei_core::CoreError;
use renkei_core::access::{Role, Scopes};
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit;
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, NewContact, NewOrganization, OrgKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::http::auth::Auth;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

/// A JSON body whose rejections are API errors with codes, not axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_input",
                    e.body_text(),
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    AppError::bad_request("malformed_json", e.body_text())
                }
                JsonRejection::MissingJsonContentType(_) => AppError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json",
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    AppError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than this server accepts",
                    )
                }
                other => AppError::bad_request("bad_request", other.body_text()),
            }),
        }
    }
}

fn user_of(auth: &Auth) -> Result<&renkei_core::access::UserInfo, AppError> {
    auth.principal
        .user()
        .ok_or_else(|| CoreError::Unauthenticated.into())
}

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

pub(crate) async fn openapi(
    State(state): State<AppState>,
    Extension(specs): Extension<crate::Specs>,
) -> Response {
    Json(crate::api::openapi::document(
        &specs.0,
        &state.config.public_url(),
    ))
    .into_response()
}

pub(crate) async fn me(c: Ctx) -> Result<Response, AppError> {
    let user = user_of(&c.auth)?;
    let org = match user.org_id {
        Some(id) => Some(orgs::get(c.store(), id).await?),
        None => None,
    };
    Ok(Json(json!({"user": user, "organization": org})).into_response())
}

#[derive(Deserialize)]
pub struct OrgsQuery {
    kind: Option<String>,
}

pub(crate) async fn orgs(
    State(state): State<AppState>,
    Query(q): Query<OrgsQuery>,
) -> Result<Response, AppError> {
    let kind = q.kind.as_deref().map(OrgKind::parse).transpose()?;
    Ok(Json(orgs::list(&state.store, kind).await?).into_response())
}

pub(crate) async fn org_create(
    c: Ctx,
    ApiJson(new): ApiJson<NewOrganization>,
) -> Result<Response, AppError> {
    Ok(created(
        orgs::create(c.store(), &c.auth.actor(), new).await?,
    ))
}

pub(crate) async fn org_update(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(changed): ApiJson<NewOrganization>,
) -> Result<Response, AppError> {
    Ok(Json(orgs::update(c.store(), &c.auth.actor(), id, changed).await?).into_response())
}

pub(crate) async fn org(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let org = orgs::get(&state.store, id).await?;
    let contacts = orgs::contacts(&state.store, id).await?;
    let mut value = serde_json::to_value(org).map_err(AppError::internal)?;
    value["contacts"] = serde_json::to_value(contacts).map_err(AppError::internal)?;
    Ok(Json(value).into_response())
}

pub(crate) async fn contacts(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    orgs::get(&state.store, id).await?;
    Ok(Json(orgs::contacts(&state.store, id).await?).into_response())
}

pub(crate) async fn contact_create(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(new): ApiJson<NewContact>,
) -> Result<Response, AppError> {
    Ok(created(
        orgs::add_contact(c.store(), &c.auth.actor(), id, new).await?,
    ))
}

pub(crate) async fn contact_delete(
    c: Ctx,
    Path((id, contact_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    orgs::remove_contact(c.store(), &c.auth.actor(), id, contact_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn users(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(accounts::list_users(&state.store).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    email: String,
    #[serde(default)]
    display_name: String,
    role: String,
    #[serde(default)]
    org_id: Option<i64>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

pub(crate) async fn user_create(
    c: Ctx,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, AppError> {
    let new = NewUser {
        email: body.email,
        display_name: body.display_name,
        role: Role::parse(&body.role)?,
        org_id: body.org_id,
        password: body.password,
        lang: body
            .lang
            .as_deref()
            .map(Lang::parse)
            .transpose()?
            .unwrap_or_default(),
    };
    Ok(created(
        accounts::create_user(c.store(), &c.auth.actor(), new).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    disabled: Option<bool>,
}

pub(crate) async fn user_patch(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Response, AppError> {
    let user = match patch.disabled {
        Some(d) => accounts::set_disabled(c.store(), &c.auth.actor(), id, d).await?,
        None => accounts::get_user(c.store(), id).await?,
    };
    Ok(Json(user).into_response())
}

pub(crate) async fn tokens(c: Ctx) -> Result<Response, AppError> {
    Ok(Json(accounts::list_tokens(c.store(), user_of(&c.auth)?.id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    /// Admins may issue a token for another account, such as a sensor.
    #[serde(default)]
    user_id: Option<i64>,
    /// `read write feed sensor metrics admin`, or some of them; default: all the
    /// account's role may hold but admin.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

pub(crate) async fn token_create(
    c: Ctx,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<Response, AppError> {
    let caller = user_of(&c.auth)?;
    let issuer = match &c.auth.scopes {
        Some(scopes) => accounts::Issuer::Token(caller.clone(), scopes.clone()),
        None => accounts::Issuer::Session(caller.clone()),
    };
    let scopes = body
        .scopes
        .map(|list| Scopes::parse(&list.join(" ")))
        .transpose()?;
    let new = accounts::NewToken {
        name: &body.name,
        scopes,
        expires_in_days: body.expires_in_days,
    };
    let owner = body.user_id.unwrap_or(caller.id);
    let (token, secret) =
        accounts::issue_token(c.store(), &c.auth.actor(), &issuer, owner, new).await?;
    Ok(created(json!({"token": token, "secret": secret})))
}

pub(crate) async fn token_revoke(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    accounts::revoke_token(c.store(), &c.auth.actor(), user_of(&c.auth)?.id, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    object_type: Option<String>,
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// A bound of an audit search as given: a day (`2026-12-07`, in the team's zone;
/// the end bound takes the whole day) or a time with its offset. Stored-time text,
/// so that it compares with `at`.
pub(crate) fn audit_bound(
    given: &str,
    zone: chrono::FixedOffset,
    end: bool,
) -> Result<Option<String>, AppError> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(None);
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(given, "%Y-%m-%d") {
        let day = if end {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        let at = day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(zone).single())
            .map(|t| renkei_core::time::format(t.with_timezone(&chrono::Utc)));
        return Ok(at);
    }
    renkei_core::time::typed(given, zone)
        .map(|t| Some(renkei_core::time::format(t)))
        .ok_or_else(|| {
            AppError::from(renkei_core::CoreError::invalid(
                if end { "to" } else { "from" },
                format!("{given:?} is not a day (2026-12-07) or a time"),
            ))
        })
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let zone = state.config.server.team_zone();
    let filter = audit::AuditFilter {
        actor: q.actor,
        action: q.action,
        object_type: q.object_type,
        object_id: q.object_id,
        from: audit_bound(q.from.as_deref().unwrap_or(""), zone, false)?,
        to: audit_bound(q.to.as_deref().unwrap_or(""), zone, true)?,
    };
    let entries = audit::search(&state.store, &filter, q.before, q.limit.unwrap_or(100)).await?;
    Ok(Json(entries).into_response())
}

pub(crate) async fn audit_verify(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(audit::verify(&state.store).await?).into_response())
}

/// A large upload's bytes (a sensor batch, a feed file), with its own limit: the
/// default body limit is for forms. `Content-Encoding: gzip` is undone, and the
/// limit holds for what it unpacks to. `setting` names the limit in the error.
pub(crate) async fn large_body(
    body: axum::body::Body,
    headers: &axum::http::HeaderMap,
    max: usize,
    setting: &str,
) -> Result<Vec<u8>, AppError> {
    use std::io::Read;
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {setting}"),
        )
    };
    let body = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())?;
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| AppError::bad_request("invalid_input", "the gzip body does not decompress"))?;
    if out.len() > max {
        return Err(too_large());
    }
    Ok(out)
}
