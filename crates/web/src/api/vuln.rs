//! Vulnerability coordination over the JSON API: the vendor registry, cases and
//! their vendors, threads and publication date, public notes and their renderings.
//! Every case handler hands the caller's principal to `renkei_vuln::cases`, whose
//! one gate answers "not found" to anyone who may not see the case.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_vuln::{cases, notes, registration, stats, vendors};
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiJson;
use crate::api::incidents::Period;
use crate::http::auth::Auth;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

async fn throttle(state: &AppState, auth: &Auth) -> Result<(), AppError> {
    if state.anonymous_submission_throttled(auth).await {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many submissions from this address; try again later",
        ));
    }
    Ok(())
}

pub(crate) async fn apply(
    c: Ctx,
    ApiJson(app): ApiJson<vendors::Application>,
) -> Result<Response, AppError> {
    throttle(&c.state, &c.auth).await?;
    let v = vendors::apply(c.store(), &c.auth.client, app, &c.state.store.now_str()).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub(crate) async fn vendor_list(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(vendors::list(&state.store).await?).into_response())
}

pub(crate) async fn vendor_get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    Ok(Json(vendors::get(&state.store, id).await?).into_response())
}

pub(crate) async fn vendor_me(c: Ctx) -> Result<Response, AppError> {
    Ok(Json(vendors::own(c.store(), c.caller()).await?).into_response())
}

/// A vendor keeps its own points of contact and keys up to date (audited as its
/// user).
pub(crate) async fn own_contact(
    c: Ctx,
    ApiJson(new): ApiJson<vendors::NewContact>,
) -> Result<Response, AppError> {
    let id = vendors::own_id(c.store(), c.caller()).await?;
    let contact = vendors::add_contact(
        c.store(),
        &c.state.vuln,
        &c.auth.actor(),
        id,
        new,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(contact)).into_response())
}

/// A vendor keeps its own product list up to date (CPE 2.3 and PURL), audited.
pub(crate) async fn own_product(
    c: Ctx,
    ApiJson(new): ApiJson<vendors::NewProduct>,
) -> Result<Response, AppError> {
    let id = vendors::own_id(c.store(), c.caller()).await?;
    let product = vendors::add_product(
        c.store(),
        &c.auth.actor(),
        id,
        new,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(product)).into_response())
}

pub(crate) async fn vendor_state(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(change): ApiJson<vendors::StateChange>,
) -> Result<Response, AppError> {
    let v = vendors::set_state(
        c.store(),
        &c.state.vuln,
        &c.auth.actor(),
        id,
        change,
        &c.state.store.now_str(),
    )
    .await?;
    Ok(Json(v).into_response())
}

pub(crate) async fn vendor_contact(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(new): ApiJson<vendors::NewContact>,
) -> Result<Response, AppError> {
    let c = vendors::add_contact(
        c.store(),
        &c.state.vuln,
        &c.auth.actor(),
        id,
        new,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

pub(crate) async fn vendor_product(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(new): ApiJson<vendors::NewProduct>,
) -> Result<Response, AppError> {
    let p = vendors::add_product(
        c.store(),
        &c.auth.actor(),
        id,
        new,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[derive(Deserialize)]
pub struct DocumentQuery {
    #[serde(default)]
    name: String,
    #[serde(default)]
    direction: String,
}

/// A coordinator keeps a registration document (the request body): one sent to the
/// vendor, or one it returned signed.
pub(crate) async fn vendor_document_add(
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<DocumentQuery>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let d = registration::add_document(
        c.store(),
        &c.auth.actor(),
        id,
        q.direction.trim(),
        &q.name,
        content_type,
        &body,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

pub(crate) async fn vendor_document(
    c: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let (meta, data) = registration::document(c.store(), id, doc).await?;
    Ok(file_response(&meta.filename, &meta.sha256, data))
}

pub(crate) async fn vendor_meeting(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(new): ApiJson<registration::NewMeeting>,
) -> Result<Response, AppError> {
    let m = registration::record_meeting(
        c.store(),
        &c.auth.actor(),
        id,
        new,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(m)).into_response())
}

pub(crate) async fn vendor_key_confirm(
    c: Ctx,
    Path((id, contact)): Path<(i64, i64)>,
    ApiJson(given): ApiJson<registration::KeyConfirmation>,
) -> Result<Response, AppError> {
    let k = registration::confirm_key(
        c.store(),
        &c.auth.actor(),
        id,
        contact,
        &given,
        &c.state.store.now_str(),
    )
    .await?;
    Ok(Json(k).into_response())
}

/// Makes the contact's account if it has none, or sends a fresh welcome link to one
/// that has never set its password.
pub(crate) async fn vendor_welcome(
    c: Ctx,
    Path((id, contact)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let w = registration::welcome_contacts(
        c.store(),
        &c.state.vuln,
        &c.auth.actor(),
        id,
        Some(contact),
    )
    .await?;
    Ok(Json(w).into_response())
}

pub(crate) async fn terms(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(vendors::terms(&state.store).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTerms {
    version: String,
    body: String,
}

pub(crate) async fn terms_add(c: Ctx, ApiJson(t): ApiJson<NewTerms>) -> Result<Response, AppError> {
    let t = vendors::set_terms(
        c.store(),
        &c.auth.actor(),
        &t.version,
        &t.body,
        &c.state.store.now_str(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

/// A finder's report (public) or a coordinator's new case (staff): both open a draft.
pub(crate) async fn case_submit(
    c: Ctx,
    ApiJson(new): ApiJson<cases::NewCase>,
) -> Result<Response, AppError> {
    let now = c.state.store.now_str();
    if c.auth.principal.role().is_some_and(|r| r.is_staff()) {
        let key = cases::create(c.store(), &c.auth.actor(), new, &now).await?;
        return Ok((StatusCode::CREATED, Json(json!({"case": key}))).into_response());
    }
    throttle(&c.state, &c.auth).await?;
    // Japanese first, unless the finder's account says otherwise.
    let lang = c
        .auth
        .principal
        .user()
        .map(|u| u.lang)
        .unwrap_or(renkei_core::lang::Lang::Ja);
    let submitted =
        cases::submit(c.store(), &c.state.vuln, &c.auth.actor(), new, lang, &now).await?;
    let status_url = submitted
        .secret
        .map(|s| cases::finder::link(&c.state.vuln, &s));
    Ok((
        StatusCode::CREATED,
        Json(json!({"case": submitted.case, "status_url": status_url})),
    )
        .into_response())
}

/// The reports the signed-in caller made, as their account lists them.
pub(crate) async fn own_reports(c: Ctx) -> Result<Response, AppError> {
    let user = c
        .caller()
        .user()
        .ok_or(renkei_core::CoreError::Unauthenticated)?
        .id;
    let r = cases::finder::own_reports(c.store(), &c.state.vuln, user, c.now).await?;
    Ok(Json(r).into_response())
}

pub(crate) async fn case_add_partner(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(add): ApiJson<cases::AddPartner>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::add_partner(store, settings, caller, &key, add, c.now).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

pub(crate) async fn case_partner_tracking(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(upd): ApiJson<cases::TrackingUpdate>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::set_tracking(store, settings, caller, &key, upd, c.now).await?;
    Ok(Json(d).into_response())
}

pub(crate) async fn case_acknowledge(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(ack): ApiJson<cases::Acknowledge>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::acknowledge(store, settings, caller, &key, ack, c.now).await?;
    Ok(Json(d).into_response())
}

/// A case file as a download: always an attachment of no particular type, so that
/// nothing in it is rendered on this site.
/// A kept file as a download, with its digest in `X-Content-SHA256`; always
/// `application/octet-stream`, so that no uploaded file is ever rendered by the
/// browser.
pub(crate) fn file_response(filename: &str, sha256: &str, data: Vec<u8>) -> Response {
    let name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = header::HeaderValue::from_str(sha256) {
        r.headers_mut()
            .insert(header::HeaderName::from_static("x-content-sha256"), v);
    }
    r
}

pub(crate) async fn case_file(
    c: Ctx,
    Path((key, file)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let (meta, data) = cases::fetch(store, settings, caller, &key, file, c.now).await?;
    Ok(file_response(&meta.filename, &meta.sha256, data))
}

#[derive(Deserialize)]
pub struct FileQuery {
    /// Optional here so that the case's gate answers first, whoever asks.
    #[serde(default)]
    name: String,
    #[serde(default)]
    shared_with: Option<String>,
}

/// A coordinator adds a file (the request body) to the case.
pub(crate) async fn case_file_add(
    c: Ctx,
    Path(key): Path<String>,
    Query(q): Query<FileQuery>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let f = cases::add_file(
        store,
        settings,
        caller,
        &key,
        &q.name,
        content_type,
        q.shared_with.as_deref().unwrap_or("team"),
        &body,
        c.now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(f)).into_response())
}

pub(crate) async fn case_finder_thread(
    c: Ctx,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let m = cases::finder::thread(store, settings, caller, &key, c.now).await?;
    Ok(Json(m).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinderMessage {
    body: String,
}

pub(crate) async fn case_finder_reply(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(m): ApiJson<FinderMessage>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let id = cases::finder::reply(store, settings, caller, &key, &m.body, c.now).await?;
    Ok((StatusCode::CREATED, Json(json!({"message": id}))).into_response())
}

pub(crate) async fn case_finder_link(
    c: Ctx,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let lang = caller.user().map(|u| u.lang).unwrap_or_default();
    let id = cases::finder::send_new_link(store, settings, caller, &key, lang, c.now).await?;
    Ok((StatusCode::CREATED, Json(json!({"message": id}))).into_response())
}

#[derive(Deserialize)]
pub struct ImportQuery {
    format: String,
}

pub(crate) async fn case_import(
    c: Ctx,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<Response, AppError> {
    let key = cases::import(
        c.store(),
        &c.auth.actor(),
        &q.format,
        &body,
        &c.state.store.now_str(),
    )
    .await?;
    let detail = cases::detail_for_team(c.store(), &c.state.vuln, key.as_str(), c.now).await?;
    let text = format!(
        "{}\n{}\n{}",
        detail.case.title, detail.case.description, detail.case.affected
    );
    let suggestions = vendors::suggest(c.store(), &text).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"case": key, "suggested_vendors": suggestions})),
    )
        .into_response())
}

pub(crate) async fn case_list(c: Ctx) -> Result<Response, AppError> {
    Ok(Json(cases::list(c.store(), c.caller(), c.now).await?).into_response())
}

pub(crate) async fn case_get(c: Ctx, Path(key): Path<String>) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::read(store, settings, caller, &key, c.now).await?;
    Ok(Json(d).into_response())
}

pub(crate) async fn case_patch(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(patch): ApiJson<cases::CasePatch>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::update(store, settings, caller, &key, patch, c.now).await?;
    Ok(Json(d).into_response())
}

pub(crate) async fn case_suggestions(
    c: Ctx,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let s = cases::suggestions(store, settings, caller, &key, c.now).await?;
    Ok(Json(s).into_response())
}

pub(crate) async fn case_add_vendor(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(add): ApiJson<cases::AddVendor>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::add_vendor(store, settings, caller, &key, add, c.now).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

pub(crate) async fn case_vendor_status(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(upd): ApiJson<cases::VendorUpdate>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::update_vendor(store, settings, caller, &key, upd, c.now).await?;
    Ok(Json(d).into_response())
}

pub(crate) async fn case_propose_date(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(p): ApiJson<cases::DateProposal>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::propose_date(store, settings, caller, &key, p, c.now).await?;
    Ok(Json(d).into_response())
}

pub(crate) async fn case_answer_date(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(a): ApiJson<cases::DateAnswer>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = cases::answer_date(store, settings, caller, &key, a, c.now).await?;
    Ok(Json(d).into_response())
}

pub(crate) async fn case_schedule(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(s): ApiJson<notes::Schedule>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let d = notes::schedule(store, settings, caller, &key, s, c.now).await?;
    Ok(Json(d).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revise {
    summary: String,
}

pub(crate) async fn case_revise(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(r): ApiJson<Revise>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let n = notes::revise(store, settings, caller, &key, &r.summary, c.now).await?;
    Ok((StatusCode::CREATED, Json(n)).into_response())
}

pub(crate) async fn case_messages(c: Ctx, Path(key): Path<String>) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let m = cases::messages(store, settings, caller, &key, c.now).await?;
    Ok(Json(m).into_response())
}

pub(crate) async fn case_message_add(
    c: Ctx,
    Path(key): Path<String>,
    ApiJson(m): ApiJson<cases::NewMessage>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let m = cases::post_message(store, settings, caller, &key, m, c.now).await?;
    Ok((StatusCode::CREATED, Json(m)).into_response())
}

#[derive(Deserialize)]
pub struct ExportQuery {
    format: String,
    lang: Option<String>,
}

/// A case's note in a machine-readable format, for coordinators, published or not.
pub(crate) async fn case_export(
    c: Ctx,
    Path(key): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, AppError> {
    let (store, settings, caller) = c.vuln();
    let note = cases::note_for_export(store, settings, caller, &key, c.now).await?;
    render_note(
        &c.state,
        &note,
        &q.format,
        q.lang.as_deref().unwrap_or("en"),
    )
}

fn render_note(
    state: &AppState,
    note: &notes::Note,
    format: &str,
    lang: &str,
) -> Result<Response, AppError> {
    Ok(match format {
        "csaf" => Json(notes::to_csaf(&state.vuln, note, lang)?).into_response(),
        "cve5" => Json(notes::to_cve5(&state.vuln, note)?).into_response(),
        "jvnrss" => (
            [(header::CONTENT_TYPE, "application/rdf+xml; charset=utf-8")],
            notes::to_jvnrss(&state.vuln, note, lang),
        )
            .into_response(),
        "json" => Json(note).into_response(),
        other => {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                format!("unknown format {other:?}; use csaf, cve5, jvnrss or json"),
            ));
        }
    })
}

pub(crate) async fn note_list(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(notes::list_published(&state.store, state.store.now(), 1000).await?).into_response())
}

#[derive(Deserialize)]
pub struct NoteQuery {
    format: Option<String>,
    lang: Option<String>,
}

/// A published note (JSON by default; `?format=csaf|cve5|jvnrss`). A note whose
/// moment has not come does not exist for the public.
pub(crate) async fn note_get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<NoteQuery>,
) -> Result<Response, AppError> {
    let note = notes::get(&state.store, &key, state.store.now(), false)
        .await?
        .ok_or_else(AppError::not_found)?;
    let mut response = render_note(
        &state,
        &note,
        q.format.as_deref().unwrap_or("json"),
        q.lang.as_deref().unwrap_or("en"),
    )?;
    public_cache(&mut response);
    Ok(response)
}

/// Public documents may be cached briefly; confidential answers keep `no-store`.
pub(crate) fn public_cache(response: &mut Response) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=60"),
    );
}

pub(crate) async fn statistics(
    State(state): State<AppState>,
    Query(p): Query<Period>,
) -> Result<Response, AppError> {
    let (from, to) = p.resolve(state.store.now().date_naive())?;
    let parse = |t: &str| {
        renkei_core::time::parse(t).ok_or_else(|| {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "bad period",
            )
        })
    };
    let (from, to) = (parse(&from)?, parse(&to)?);
    Ok(
        Json(stats::statistics(&state.store, &state.vuln, from, to, state.store.now()).await?)
            .into_response(),
    )
}
