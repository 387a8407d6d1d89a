//! Correspondence over the API: write to anyone about a report, an incident or a
//! selection of incidents (answered 202 with the message's number: the outbox sends
//! it), preview first, and read an incident's conversation.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use renkei_core::lang::Lang;
use renkei_incident::correspond::{self, About, Letter};
use renkei_incident::incidents;
use renkei_mail::Attachment;
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiJson;
use crate::http::context::Ctx;
use crate::http::error::AppError;

/// A file sent with a mail, its bytes in base64.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    filename: String,
    #[serde(default = "octets")]
    content_type: String,
    data_base64: String,
}

fn octets() -> String {
    "application/octet-stream".into()
}

/// The mail as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailBody {
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    reply_to: Option<i64>,
    #[serde(default)]
    quote: bool,
    #[serde(default)]
    report_files: Vec<i64>,
    #[serde(default)]
    attachments: Vec<FileBody>,
    #[serde(default)]
    share: bool,
    #[serde(default)]
    question: bool,
    /// For a selection: the incidents the mail is about.
    #[serde(default)]
    incidents: Vec<i64>,
    /// Referral organizations to point to (by number).
    #[serde(default)]
    referrals: Vec<i64>,
    /// What the referral is about, for the `referral` template's choice.
    #[serde(default)]
    referral_topic: Option<String>,
}

impl MailBody {
    fn letter(self) -> Result<(Letter, Vec<i64>), AppError> {
        let mut attachments = Vec::new();
        for f in self.attachments {
            let data = base64::engine::general_purpose::STANDARD
                .decode(f.data_base64.trim())
                .map_err(|e| {
                    AppError::bad_request(
                        "invalid_input",
                        format!("attachments: {:?} is not base64: {e}", f.filename),
                    )
                })?;
            attachments.push(Attachment {
                filename: f.filename,
                content_type: f.content_type,
                data,
            });
        }
        let lang = match self.lang.as_deref().filter(|l| !l.is_empty()) {
            Some(l) => Some(
                Lang::parse(l)
                    .map_err(|_| AppError::bad_request("invalid_input", "lang: ja or en"))?,
            ),
            None => None,
        };
        Ok((
            Letter {
                to: self.to,
                cc: self.cc,
                subject: self.subject,
                body: self.body,
                template: self.template,
                lang,
                reply_to: self.reply_to,
                quote: self.quote,
                report_files: self.report_files,
                attachments,
                share: self.share,
                question: self.question,
                referrals: self.referrals,
                referral_topic: self.referral_topic,
            },
            self.incidents,
        ))
    }
}

async fn send(c: &Ctx, about: About, letter: Letter) -> Result<Response, AppError> {
    let tables = c.state.enricher.tables();
    let m = correspond::send(
        c.store(),
        &c.state.notify,
        Some(&tables),
        &c.auth.actor(),
        &about,
        &letter,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": m.message,
            "outbox": m.outbox,
            "message_id": m.message_id,
            "subject": m.preview.subject,
            "to": m.preview.to,
            "cc": m.preview.cc,
            "signed": m.preview.signed,
            "encrypted": m.preview.encrypted,
            "without_key": m.preview.without_key,
            "waiting": m.waiting,
        })),
    )
        .into_response())
}

async fn preview(c: &Ctx, about: About, letter: Letter) -> Result<Response, AppError> {
    let tables = c.state.enricher.tables();
    let p = correspond::preview(
        c.store(),
        &c.state.notify,
        Some(&tables),
        &c.auth.actor(),
        &about,
        &letter,
    )
    .await?;
    Ok(Json(p).into_response())
}

pub(crate) async fn report_send(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<MailBody>,
) -> Result<Response, AppError> {
    let (letter, _) = body.letter()?;
    send(&c, About::Report(id), letter).await
}

pub(crate) async fn report_preview(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<MailBody>,
) -> Result<Response, AppError> {
    let (letter, _) = body.letter()?;
    preview(&c, About::Report(id), letter).await
}

pub(crate) async fn incident_send(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<MailBody>,
) -> Result<Response, AppError> {
    let (letter, _) = body.letter()?;
    send(&c, About::Incidents(vec![id]), letter).await
}

pub(crate) async fn incident_preview(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<MailBody>,
) -> Result<Response, AppError> {
    let (letter, _) = body.letter()?;
    preview(&c, About::Incidents(vec![id]), letter).await
}

pub(crate) async fn selection_send(
    c: Ctx,
    ApiJson(body): ApiJson<MailBody>,
) -> Result<Response, AppError> {
    let (letter, ids) = body.letter()?;
    send(&c, About::Incidents(ids), letter).await
}

pub(crate) async fn selection_preview(
    c: Ctx,
    ApiJson(body): ApiJson<MailBody>,
) -> Result<Response, AppError> {
    let (letter, ids) = body.letter()?;
    preview(&c, About::Incidents(ids), letter).await
}

/// An incident's conversation: its own and its report's.
pub(crate) async fn incident_thread(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    Ok(Json(incidents::incident_thread(c.store(), id).await?).into_response())
}

/// Who a mail about the incident would usually go to.
pub(crate) async fn incident_recipients(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let tables = c.state.enricher.tables();
    Ok(Json(
        correspond::suggestions(
            c.store(),
            &c.state.notify,
            Some(&tables),
            &About::Incidents(vec![id]),
        )
        .await?,
    )
    .into_response())
}

/// Who a mail about the report would usually go to.
pub(crate) async fn report_recipients(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let tables = c.state.enricher.tables();
    Ok(Json(
        correspond::suggestions(
            c.store(),
            &c.state.notify,
            Some(&tables),
            &About::Report(id),
        )
        .await?,
    )
    .into_response())
}
