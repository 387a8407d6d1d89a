//! The JSON API of dissemination: alerts, written and reviewed by staff, read by
//! anyone once published.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use renkei_core::access::{Principal, UserInfo};
use renkei_publish::alerts::{self, AlertNumber, AlertText, Viewer};
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiJson;
use crate::http::auth::Auth;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

pub(crate) fn viewer(p: &Principal) -> Viewer {
    Viewer::of(p)
}

pub(crate) fn signed_in(auth: &Auth) -> Result<&UserInfo, AppError> {
    auth.principal
        .user()
        .ok_or_else(|| AppError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first"))
}

#[derive(Deserialize)]
pub struct ListQuery {
    category: Option<String>,
    limit: Option<i64>,
}

pub(crate) async fn list(c: Ctx, Query(q): Query<ListQuery>) -> Result<Response, AppError> {
    let list = alerts::list(
        c.store(),
        viewer(c.caller()),
        q.category.as_deref(),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(json!({"alerts": list})).into_response())
}

pub(crate) async fn get(c: Ctx, Path(number): Path<String>) -> Result<Response, AppError> {
    let alert = alerts::get(c.store(), &number, viewer(c.caller()), c.now)
        .await?
        .ok_or_else(AppError::not_found)?;
    read_by(&c.state, &c.auth, &alert).await?;
    Ok(Json(alert).into_response())
}

/// Notes that a recipient organization's member read an early warning.
pub(crate) async fn read_by(
    state: &AppState,
    auth: &Auth,
    alert: &alerts::Alert,
) -> Result<(), AppError> {
    if let (Some(user), Viewer::Org(_)) = (auth.principal.user(), viewer(&auth.principal))
        && alert.tlp != renkei_core::tlp::Tlp::Clear
    {
        warnings::record_read(&state.store, user, &AlertNumber::parse(&alert.number)?).await?;
    }
    Ok(())
}

pub(crate) async fn create(
    c: Ctx,
    ApiJson(text): ApiJson<AlertText>,
) -> Result<Response, AppError> {
    let alert = alerts::create(c.store(), signed_in(&c.auth)?, &text, c.now).await?;
    Ok((StatusCode::CREATED, Json(alert)).into_response())
}

pub(crate) async fn write(
    c: Ctx,
    Path(number): Path<String>,
    ApiJson(text): ApiJson<AlertText>,
) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    Ok(Json(alerts::write(c.store(), signed_in(&c.auth)?, &number, &text).await?).into_response())
}

pub(crate) async fn submit(c: Ctx, Path(number): Path<String>) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    Ok(Json(alerts::submit(c.store(), signed_in(&c.auth)?, &number).await?).into_response())
}

pub(crate) async fn publish(c: Ctx, Path(number): Path<String>) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    let alert = alerts::publish(
        c.store(),
        signed_in(&c.auth)?,
        &number,
        c.now,
        &c.state.warnings,
    )
    .await?;
    Ok(Json(alert).into_response())
}

use renkei_publish::warnings::{self, NewRecipient};

/// Early warnings: those addressed to the caller's organization, or (staff) every
/// restricted alert with how many organizations acknowledged it.
pub(crate) async fn warnings_inbox(c: Ctx) -> Result<Response, AppError> {
    let list = warnings::inbox(c.store(), viewer(c.caller())).await?;
    Ok(Json(json!({"warnings": list})).into_response())
}

pub(crate) async fn recipients(c: Ctx, Path(number): Path<String>) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    let list = warnings::recipients(c.store(), signed_in(&c.auth)?, &number).await?;
    Ok(Json(json!({"recipients": list})).into_response())
}

pub(crate) async fn recipient_add(
    c: Ctx,
    Path(number): Path<String>,
    ApiJson(new): ApiJson<NewRecipient>,
) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    let user = signed_in(&c.auth)?;
    let list = warnings::add(c.store(), &c.state.warnings, user, &number, new.org_id).await?;
    Ok((StatusCode::CREATED, Json(json!({"recipients": list}))).into_response())
}

pub(crate) async fn recipient_remove(
    c: Ctx,
    Path((number, org)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    let list = warnings::remove(c.store(), signed_in(&c.auth)?, &number, org).await?;
    Ok(Json(json!({"recipients": list})).into_response())
}

/// A recipient organization's member confirms receipt.
pub(crate) async fn acknowledge(c: Ctx, Path(number): Path<String>) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    warnings::acknowledge(c.store(), signed_in(&c.auth)?, &number).await?;
    let at = warnings::acknowledged_by(c.store(), viewer(c.caller()), &number).await?;
    Ok(Json(json!({"number": number.as_str(), "acknowledged_at": at})).into_response())
}

/// The receipt link of an early-warning message, posted by a script or a button.
pub(crate) async fn receipt_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    Ok(Json(warnings::acknowledge_link(&state.store, &token).await?).into_response())
}

use renkei_publish::weekly::{self, Schedule, WeeklyText};

pub(crate) async fn schedule(state: &AppState) -> Result<Schedule, AppError> {
    Ok(Schedule::load(&state.store, &state.config.publish).await?)
}

#[derive(Deserialize)]
pub struct ScheduleQuery {
    from: Option<String>,
    weeks: Option<usize>,
}

/// The issue days ahead, with the weeks holidays skip.
pub(crate) async fn weekly_schedule(
    State(state): State<AppState>,
    Query(q): Query<ScheduleQuery>,
) -> Result<Response, AppError> {
    let from = match q.from.as_deref() {
        Some(d) => weekly::parse_date(d)?,
        None => state.store.now().date_naive(),
    };
    let s = schedule(&state).await?;
    let days = s.upcoming(from, q.weeks.unwrap_or(12).clamp(1, 104));
    Ok(Json(
        json!({"weekday": format!("{:?}", s.weekday), "next": s.next_issue(from), "weeks": days}),
    )
    .into_response())
}

pub(crate) async fn weekly_list(c: Ctx) -> Result<Response, AppError> {
    let list = weekly::list(c.store(), viewer(c.caller()), 100).await?;
    Ok(Json(json!({"reports": list})).into_response())
}

pub(crate) async fn weekly_get(c: Ctx, Path(key): Path<String>) -> Result<Response, AppError> {
    let w = weekly::get(c.store(), &key, viewer(c.caller()))
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(w).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWeekly {
    issue_date: Option<String>,
}

pub(crate) async fn weekly_create(
    c: Ctx,
    ApiJson(n): ApiJson<NewWeekly>,
) -> Result<Response, AppError> {
    let date = n
        .issue_date
        .as_deref()
        .map(weekly::parse_date)
        .transpose()?;
    let s = schedule(&c.state).await?;
    let w = weekly::create(c.store(), &s, signed_in(&c.auth)?, date, c.now).await?;
    Ok((StatusCode::CREATED, Json(w)).into_response())
}

pub(crate) async fn weekly_write(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(text): ApiJson<WeeklyText>,
) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    Ok(Json(weekly::write(c.store(), signed_in(&c.auth)?, date, &text).await?).into_response())
}

pub(crate) async fn weekly_publish(c: Ctx, Path(key): Path<String>) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    Ok(Json(weekly::publish(c.store(), signed_in(&c.auth)?, date, c.now).await?).into_response())
}

use renkei_core::lang::Lang;
use renkei_publish::lists::{self, Publication};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    email: String,
    lang: Option<String>,
}

pub(crate) fn subscriber_lang(lang: Option<&str>, fallback: Lang) -> Result<Lang, AppError> {
    match lang.map(str::trim) {
        None | Some("") => Ok(fallback),
        Some("ja") => Ok(Lang::Ja),
        Some("en") => Ok(Lang::En),
        Some(other) => Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("lang: {other:?} is not ja or en"),
        )),
    }
}

pub(crate) async fn lists_index(c: Ctx) -> Result<Response, AppError> {
    let staff = viewer(c.caller()) == Viewer::Staff;
    let all: Vec<serde_json::Value> = lists::lists(c.store())
        .await?
        .into_iter()
        .map(|l| {
            let mut v = json!({"slug": l.slug, "name_ja": l.name_ja, "name_en": l.name_en});
            if staff {
                v["subscribers"] = json!(l.subscribers);
            }
            v
        })
        .collect();
    Ok(Json(json!({"lists": all})).into_response())
}

/// Double opt-in: the answer is the same whether the address was subscribed or not.
pub(crate) async fn subscribe(
    c: Ctx,
    Path(slug): Path<String>,
    ApiJson(s): ApiJson<Subscription>,
) -> Result<Response, AppError> {
    if c.state.anonymous_submission_throttled(&c.auth).await {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this address; try again later",
        ));
    }
    let lang = subscriber_lang(s.lang.as_deref(), Lang::Ja)?;
    lists::subscribe(c.store(), &c.state.lists, &slug, &s.email, lang).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "confirmation_sent", "message": "if the address can receive mail, a confirmation link is on its way"})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSend {
    alert: Option<String>,
    weekly: Option<String>,
}

pub(crate) fn publication(
    alert: Option<String>,
    weekly: Option<String>,
) -> Result<Publication, AppError> {
    match (
        alert.filter(|a| !a.trim().is_empty()),
        weekly.filter(|w| !w.trim().is_empty()),
    ) {
        (Some(a), None) => Ok(Publication::Alert(a.trim().to_string())),
        (None, Some(w)) => Ok(Publication::Weekly(w.trim().to_string())),
        _ => Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "give one of alert (its number) or weekly (its date)",
        )),
    }
}

pub(crate) async fn send_start(
    c: Ctx,
    Path(slug): Path<String>,
    ApiJson(n): ApiJson<NewSend>,
) -> Result<Response, AppError> {
    let what = publication(n.alert, n.weekly)?;
    let p = lists::start_send(c.store(), &c.state.lists, signed_in(&c.auth)?, &slug, &what).await?;
    Ok((StatusCode::ACCEPTED, Json(p)).into_response())
}

pub(crate) async fn sends(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(json!({"sends": lists::sends(&state.store, 100).await?})).into_response())
}

pub(crate) async fn send_progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::not_found())?;
    Ok(Json(lists::progress(&state.store, id).await?).into_response())
}

/// RFC 8058 one-click unsubscribe: a mail provider POSTs
/// `List-Unsubscribe=One-Click` to the address in the message's header.
pub(crate) async fn unsubscribe_one_click(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    lists::unsubscribe(&state.store, &token).await?;
    Ok(Json(json!({"status": "unsubscribed"})).into_response())
}

/// Mail that came in (by the SMTP intake or the API) may be a bounce of a list
/// message: it counts against that subscriber. The incident intake has already
/// stored it as a report, so nothing is lost if this step fails.
pub(crate) async fn list_bounce(store: &renkei_core::Store, raw: &[u8]) {
    if let Some(dsn) = renkei_formats::dsn::parse(raw)
        && let Err(e) = lists::bounced(store, &dsn).await
    {
        tracing::warn!(error = %e, "a list bounce could not be counted");
    }
}
