//! The incident pillar's JSON API: intake (form fields or raw documents), reports,
//! incidents, the queue's filters, statistics.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_core::tlp::Tlp;
use renkei_incident::incidents::{self, Filter, Sort, State as IncidentState};
use renkei_incident::reports::{self, Channel, FormReport, InputFormat};
use renkei_incident::{Category, stats};
use serde::{Deserialize, Serialize};

use crate::api::ApiJson;
use crate::http::auth::Auth;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

/// The client's `Idempotency-Key`, scoped to the account that sent it: a retry after
/// a timeout or a node that died is then the same report, never a second one.
fn idempotency_key(auth: &Auth, headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= reports::MAX_KEY)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_input",
                format!(
                    "Idempotency-Key: give 1 to {} visible ASCII characters",
                    reports::MAX_KEY
                ),
            )
        })?;
    Ok(auth
        .principal
        .user()
        .map(|u| format!("user:{}:{key}", u.id)))
}

/// Answers a report taken: 201 the first time, 200 when the key had been used.
fn taken(out: reports::Outcome, repeated: bool) -> Response {
    let code = if repeated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (code, Json(out)).into_response()
}

pub(crate) async fn submit(
    c: Ctx,
    headers: HeaderMap,
    ApiJson(form): ApiJson<FormReport>,
) -> Result<Response, AppError> {
    let by = c.auth.principal.user().map(|u| u.id);
    let key = idempotency_key(&c.auth, &headers)?;
    let tlp = form.validate()?;
    // Only the staff run a drill.
    if form.exercise && !c.auth.principal.user().is_some_and(|u| u.role.is_staff()) {
        return Err(AppError::from(renkei_core::CoreError::Forbidden));
    }
    // Only a coordinator enters a report taken by telephone or fax.
    let channel = match form.received_by.as_deref() {
        None => Channel::Api,
        Some(by) => {
            if !c.auth.principal.user().is_some_and(|u| u.role.is_staff()) {
                return Err(AppError::from(renkei_core::CoreError::Forbidden));
            }
            Channel::entered_by_staff(by)?
        }
    };
    let raw = serde_json::to_vec(&form).map_err(AppError::internal)?;
    let (out, repeated) = reports::ingest_once(
        c.store(),
        &c.state.intake,
        &c.auth.actor(),
        channel,
        InputFormat::Form,
        &raw,
        tlp,
        by,
        key.as_deref(),
    )
    .await?;
    if !repeated {
        reports::note_consent(c.store(), out.report, &form).await?;
    }
    Ok(taken(out, repeated))
}

#[derive(Deserialize)]
pub struct ImportQuery {
    format: String,
    tlp: Option<String>,
}

/// A raw document (RFC 5322 mail, IODEF, X-ARF) as the body. It is stored before it
/// is read; a document that cannot be read is still kept, marked for review.
pub(crate) async fn import(
    c: Ctx,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let format = InputFormat::parse(&q.format)?;
    if format == InputFormat::Form {
        return Err(AppError::bad_request(
            "invalid_input",
            "send form fields to POST /api/v1/reports",
        ));
    }
    if body.is_empty() {
        return Err(AppError::bad_request("invalid_input", "the body is empty"));
    }
    let tlp = match q.tlp.as_deref() {
        Some(t) => Tlp::parse(t)?,
        None => Tlp::Amber,
    };
    let channel = if format == InputFormat::Mail {
        Channel::Mail
    } else {
        Channel::Api
    };
    let by = c.auth.principal.user().map(|u| u.id);
    let (out, repeated) = reports::ingest_once(
        c.store(),
        &c.state.intake,
        &c.auth.actor(),
        channel,
        format,
        &body,
        tlp,
        by,
        idempotency_key(&c.auth, &headers)?.as_deref(),
    )
    .await?;
    if format == InputFormat::Mail && !repeated {
        crate::api::publish::list_bounce(c.store(), &body).await;
    }
    Ok(taken(out, repeated))
}

pub(crate) async fn report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    Ok(Json(incidents::report(&state.store, id).await?).into_response())
}

pub(crate) async fn report_raw(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let raw = incidents::raw(&state.store, id).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        "application/octet-stream".parse().expect("static header"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"report-{id}.raw\"")
            .parse()
            .expect("ascii header"),
    );
    Ok((headers, raw).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    category: String,
}

pub(crate) async fn report_category(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CategoryBody>,
) -> Result<Response, AppError> {
    incidents::set_category(
        c.store(),
        &c.auth.actor(),
        id,
        Category::parse(&body.category)?,
    )
    .await?;
    Ok(Json(incidents::report(c.store(), id).await?).into_response())
}

pub(crate) async fn messages(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    incidents::report(&state.store, id).await?;
    Ok(Json(incidents::thread(&state.store, id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// "note" (internal) or "out" (a record of correspondence sent).
    #[serde(default = "note")]
    direction: String,
    #[serde(default)]
    subject: Option<String>,
    body: String,
}

fn note() -> String {
    "note".into()
}

pub(crate) async fn message_add(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(m): ApiJson<MessageBody>,
) -> Result<Response, AppError> {
    let mid = incidents::add_message(
        c.store(),
        &c.auth.actor(),
        id,
        &m.direction,
        m.subject.as_deref(),
        &m.body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"id": mid}))).into_response())
}

/// The queue's filters, shared by the API and the page. Written back out (serialized)
/// for the page's links, so that sorting or paging keeps the filters.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListQuery {
    pub state: Option<String>,
    pub category: Option<String>,
    pub tlp: Option<String>,
    pub owner: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    pub all: Option<String>,
    /// Any value: only incidents with a new reply.
    pub replied: Option<String>,
    /// Only incidents whose next clock is this one: first_response, reply, close.
    pub due: Option<String>,
    /// Any value: only incidents past their clock.
    pub overdue: Option<String>,
    /// Days: only incidents nobody has changed for this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<String>,
    /// Any value: a drill's incidents instead of the real ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exercise: Option<String>,
    /// A column (`created`, `source`, `category`, `state`, `tlp`, `owner`, `report`,
    /// `due`, `updated`); `newest` is the default.
    pub sort: Option<String>,
    /// `asc` or `desc`; each column has its natural direction when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// The page's page number, from 1 (the API pages by `offset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
}

fn day(field: &'static str, v: &str) -> Result<String, AppError> {
    let v = v.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(format!("{d}T00:00:00.000000Z"));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| renkei_core::time::format(t.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                format!("{field}: {v:?} is not a date (YYYY-MM-DD)"),
            )
        })
}

/// A day typed as `YYYY-MM-DD` starts at the team's midnight; a full time is taken
/// as written.
fn team_day(field: &'static str, v: &str, zone: chrono::FixedOffset) -> Result<String, AppError> {
    match chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
        Ok(d) => Ok(renkei_core::time::format(
            d.and_time(chrono::NaiveTime::MIN)
                .and_local_timezone(zone)
                .single()
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_else(|| d.and_time(chrono::NaiveTime::MIN).and_utc()),
        )),
        Err(_) => day(field, v),
    }
}

impl ListQuery {
    /// The filter this query asks for; "overdue" is judged at `now`, and a day is
    /// the team's (`zone`): "from 2026-12-07" starts at midnight where the team is.
    pub fn filter(&self, now: &str, zone: chrono::FixedOffset) -> Result<Filter, AppError> {
        let some = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let sort = some(&self.sort)
            .map(|s| Sort::parse(&s))
            .transpose()?
            .unwrap_or_default();
        Ok(Filter {
            state: some(&self.state)
                .map(|s| IncidentState::parse(&s))
                .transpose()?,
            open_only: some(&self.all).is_none(),
            replied: some(&self.replied).is_some(),
            category: some(&self.category)
                .map(|c| Category::parse(&c))
                .transpose()?,
            tlp: some(&self.tlp).map(|t| Tlp::parse(&t)).transpose()?,
            owner: some(&self.owner)
                .map(|o| {
                    o.parse::<i64>().map_err(|_| {
                        AppError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "invalid_input",
                            "owner: a user number",
                        )
                    })
                })
                .transpose()?,
            from: some(&self.from)
                .map(|v| team_day("from", &v, zone))
                .transpose()?,
            to: some(&self.to)
                .map(|v| team_day("to", &v, zone))
                .transpose()?,
            search: some(&self.q)
                .map(|q| renkei_incident::search::parse(&q))
                .transpose()?,
            due: some(&self.due)
                .map(|d| renkei_incident::clocks::Due::parse(&d))
                .transpose()?,
            due_by: some(&self.overdue).map(|_| now.to_string()),
            idle_since: some(&self.idle)
                .map(|d| {
                    d.parse::<i64>()
                        .ok()
                        .filter(|d| (1..=3650).contains(d))
                        .map(|d| {
                            let now =
                                renkei_core::time::parse(now).unwrap_or_else(chrono::Utc::now);
                            renkei_core::time::format(now - chrono::Duration::days(d))
                        })
                        .ok_or_else(|| {
                            AppError::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "invalid_input",
                                format!("idle: {d:?} is not a number of days from 1 to 3650"),
                            )
                        })
                })
                .transpose()?,
            exercise: some(&self.exercise).is_some(),
            sort,
            descending: match some(&self.dir).as_deref() {
                None => sort.descending_by_default(),
                Some("desc") => true,
                Some("asc") => false,
                Some(other) => {
                    return Err(AppError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_input",
                        format!("dir: {other:?}; use asc or desc"),
                    ));
                }
            },
            limit: self.limit.unwrap_or(100),
            offset: self.offset.unwrap_or(0),
        })
    }
}

pub(crate) async fn list(ctx: Ctx, Query(q): Query<ListQuery>) -> Result<Response, AppError> {
    let filter = q.filter(
        &renkei_core::time::format(ctx.now),
        ctx.state.config.server.team_zone(),
    )?;
    let store = ctx.settled().await?;
    let (total, list) = incidents::page(store, &filter).await?;
    let mut response = Json(list).into_response();
    // The body stays the list it always was; the total rides beside it, exact up
    // to 10,000 and said to be more beyond.
    response
        .headers_mut()
        .insert("x-total-count", axum::http::HeaderValue::from(total));
    if total > incidents::COUNT_CAP {
        response
            .headers_mut()
            .insert("x-total-count-capped", axum::http::HeaderValue::from(1));
    }
    Ok(response)
}

pub(crate) async fn get(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    Ok(Json(incidents::get(ctx.settled().await?, id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    #[serde(default)]
    state: Option<String>,
    /// A coordinator's user number; 0 gives the incident to nobody.
    #[serde(default)]
    owner_id: Option<i64>,
    #[serde(default)]
    tlp: Option<String>,
}

pub(crate) async fn patch(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<IncidentPatch>,
) -> Result<Response, AppError> {
    let actor = c.auth.actor();
    // Check everything before changing anything.
    let to_state = p.state.as_deref().map(IncidentState::parse).transpose()?;
    let tlp = p.tlp.as_deref().map(Tlp::parse).transpose()?;
    incidents::get(c.store(), id).await?;
    if let Some(o) = p.owner_id {
        incidents::assign(c.store(), &actor, id, (o != 0).then_some(o)).await?;
    }
    if let Some(s) = to_state {
        incidents::set_state(c.store(), &actor, id, s).await?;
    }
    if let Some(t) = tlp {
        incidents::set_tlp(c.store(), &actor, id, t).await?;
    }
    Ok(Json(incidents::get(c.store(), id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    keep: i64,
    others: Vec<i64>,
}

pub(crate) async fn merge(c: Ctx, ApiJson(m): ApiJson<MergeBody>) -> Result<Response, AppError> {
    incidents::merge(c.store(), &c.auth.actor(), m.keep, &m.others).await?;
    Ok(Json(incidents::get(c.store(), m.keep).await?).into_response())
}

/// The longest period statistics are given for.
pub const MAX_PERIOD_YEARS: u32 = 10;

#[derive(Deserialize)]
pub struct Period {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Period {
    /// Defaults to the quarter `today` is in.
    pub fn resolve(&self, today: chrono::NaiveDate) -> Result<(String, String), AppError> {
        use chrono::Datelike;
        let now = today;
        let q_start = chrono::NaiveDate::from_ymd_opt(now.year(), (now.month0() / 3) * 3 + 1, 1)
            .unwrap_or(now);
        let q_end = q_start
            .checked_add_months(chrono::Months::new(3))
            .unwrap_or(now);
        let from = match self.from.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => day("from", v)?,
            None => format!("{q_start}T00:00:00.000000Z"),
        };
        let to = match self.to.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => day("to", v)?,
            None => format!("{q_end}T00:00:00.000000Z"),
        };
        if from >= to {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "from must be before to",
            ));
        }
        // Statistics are for periods people compare; a century of rows is not one.
        let date =
            |t: &str| chrono::NaiveDate::parse_from_str(t.get(..10).unwrap_or(""), "%Y-%m-%d");
        if let (Ok(a), Ok(b)) = (date(&from), date(&to))
            && a.checked_add_months(chrono::Months::new(12 * MAX_PERIOD_YEARS))
                .is_some_and(|limit| b > limit)
        {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                format!("a period is at most {MAX_PERIOD_YEARS} years"),
            ));
        }
        Ok((from, to))
    }
}

pub(crate) async fn statistics(
    State(state): State<AppState>,
    Query(p): Query<Period>,
) -> Result<Response, AppError> {
    let (from, to) = p.resolve(state.store.now().date_naive())?;
    Ok(Json(stats::statistics(&state.store, &from, &to).await?).into_response())
}
