//! Writing from Renkei: the compose page for a report or a selection of incidents —
//! usual recipients offered, a template to start from, the answered message
//! quoted, files of the report attached — with a preview that shows the mail as it
//! will go out (signed, encrypted or why not) before it is sent.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_core::lang::Lang;
use renkei_incident::correspond::{self, About, Letter, Preview, Suggestion};
use renkei_incident::incidents;
use renkei_mail::conversations::Message;

use crate::http::error::AppError;
use crate::http::form::WithFiles;
use crate::pages::{Page, Shell, html, html_status, see_other};

/// The form as filled in (or about to be).
#[derive(Debug, Clone, Default)]
struct Filled {
    to: String,
    cc: String,
    subject: String,
    body: String,
    template: String,
    lang: String,
    reply_to: Option<i64>,
    quote: bool,
    question: bool,
    share: bool,
    files: Vec<i64>,
    ids: Vec<i64>,
    referrals: Vec<i64>,
    referral_topic: String,
}

impl Filled {
    fn read(pairs: &[(String, String)]) -> Filled {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let numbers = |k: &str| -> Vec<i64> {
            let mut v: Vec<i64> = pairs
                .iter()
                .filter(|(n, _)| n == k)
                .flat_map(|(_, v)| {
                    v.split(',')
                        .filter_map(|x| x.trim().parse().ok())
                        .collect::<Vec<_>>()
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        Filled {
            to: get("to"),
            cc: get("cc"),
            subject: get("subject"),
            body: get("body").replace("\r\n", "\n"),
            template: get("template"),
            lang: get("lang"),
            reply_to: get("reply_to").trim().parse().ok(),
            quote: !get("quote").is_empty(),
            question: !get("question").is_empty(),
            share: !get("share").is_empty(),
            files: numbers("file"),
            ids: numbers("ids"),
            referrals: numbers("referral"),
            referral_topic: get("referral_topic"),
        }
    }

    fn letter(&self) -> Letter {
        Letter {
            to: vec![self.to.clone()],
            cc: vec![self.cc.clone()],
            subject: self.subject.clone(),
            body: self.body.clone(),
            template: Some(self.template.clone()).filter(|t| !t.is_empty()),
            lang: Lang::parse(&self.lang).ok(),
            reply_to: self.reply_to,
            quote: self.quote,
            report_files: self.files.clone(),
            attachments: Vec::new(),
            share: self.share,
            question: self.question,
            referrals: self.referrals.clone(),
            referral_topic: Some(self.referral_topic.clone()).filter(|t| !t.trim().is_empty()),
        }
    }
}

#[derive(Template)]
#[template(path = "write.html")]
struct WritePage<'a> {
    shell: Shell<'a>,
    /// Where the form posts: `/reports/7/write` or `/incidents/write`.
    action: String,
    /// Back to the conversation.
    back: String,
    report: Option<i64>,
    suggestions: Vec<Suggestion>,
    templates: [&'static str; 5],
    files: Vec<incidents::Attachment>,
    /// The referral directory, to point someone to.
    referral_orgs: Vec<renkei_core::orgs::Organization>,
    answering: Option<Message>,
    form: Filled,
    preview: Option<Preview>,
    error: Option<String>,
}

impl WritePage<'_> {
    fn file_checked(&self, id: &i64) -> bool {
        self.form.files.contains(id)
    }

    fn referral_checked(&self, id: &i64) -> bool {
        self.form.referrals.contains(id)
    }
}

struct Target {
    about: About,
    action: String,
    back: String,
    report: Option<i64>,
}

async fn target_of(page: &Page, report: Option<i64>, ids: &[i64]) -> Result<Target, AppError> {
    Ok(match report {
        Some(id) => {
            incidents::report(page.store(), id).await?;
            Target {
                about: About::Report(id),
                action: format!("/reports/{id}/write"),
                back: format!("/reports/{id}#thread"),
                report: Some(id),
            }
        }
        None => {
            let first = incidents::get(
                page.store(),
                *ids.first().ok_or_else(|| {
                    AppError::bad_request("invalid_input", "choose at least one incident")
                })?,
            )
            .await?;
            Target {
                about: About::Incidents(ids.to_vec()),
                action: "/incidents/write".into(),
                back: format!("/reports/{}#thread", first.report_id),
                report: Some(first.report_id),
            }
        }
    })
}

async fn show(
    page: &Page,
    target: Target,
    form: Filled,
    preview: Option<Preview>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let tables = page.state.enricher.tables();
    let suggestions = correspond::suggestions(
        page.store(),
        &page.state.notify,
        Some(&tables),
        &target.about,
    )
    .await?;
    let owners_thread = match &target.about {
        About::Report(id) => incidents::thread(page.store(), *id).await?,
        About::Incidents(ids) => {
            let mut all = Vec::new();
            for i in ids {
                all.extend(incidents::incident_thread(page.store(), *i).await?);
            }
            all
        }
    };
    let answering = form
        .reply_to
        .and_then(|m| owners_thread.into_iter().find(|x| x.id == m));
    let files = match (&target.about, target.report) {
        (About::Report(_), Some(r)) => incidents::attachments(page.store(), r).await?,
        _ => Vec::new(),
    };
    let view = WritePage {
        shell: page.shell("incidents"),
        action: target.action,
        back: target.back,
        report: target.report,
        suggestions,
        templates: correspond::TEMPLATES,
        files,
        referral_orgs: renkei_core::orgs::list(
            page.store(),
            Some(renkei_core::orgs::OrgKind::Referral),
        )
        .await?,
        answering,
        form,
        preview,
        error: error.clone(),
    };
    match error {
        Some(_) => html_status(StatusCode::UNPROCESSABLE_ENTITY, &view),
        None => html(&view),
    }
}

/// The compose page, opened from a report (`?template=`, `?reply_to=`, `?to=`).
pub(crate) async fn report_form(
    page: Page,
    Path(id): Path<i64>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let form = start(&pairs);
    let target = target_of(&page, Some(id), &[]).await?;
    show(&page, target, form, None, None).await
}

/// The compose page for a selection of incidents (`?ids=`).
pub(crate) async fn incidents_form(
    page: Page,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let form = start(&pairs);
    let target = target_of(&page, None, &form.ids).await?;
    show(&page, target, form, None, None).await
}

fn start(pairs: &[(String, String)]) -> Filled {
    let mut form = Filled::read(pairs);
    // Answering a message quotes it unless the coordinator says otherwise.
    if form.reply_to.is_some() && !pairs.iter().any(|(k, _)| k == "quote") {
        form.quote = true;
    }
    form
}

enum Done {
    Previewed(Preview),
    Sent(correspond::Mailed),
}

/// Previews the mail, or sends it. Either way a mail that cannot go as written is
/// shown again with its problem; anything else is the error page's.
async fn act(
    page: &Page,
    report: Option<i64>,
    sent: WithFiles,
    sending: bool,
) -> Result<Response, AppError> {
    let mut form = Filled::read(&sent.pairs);
    let target = target_of(page, report, &form.ids).await?;
    // Files added here become files of the report, ticked to go with the mail.
    if !sent.files.is_empty() {
        let report = match &target.about {
            About::Report(r) => Some(*r),
            About::Incidents(ids) => {
                let mut reports = Vec::new();
                for i in ids {
                    reports.push(incidents::get(page.store(), *i).await?.report_id);
                }
                reports.sort_unstable();
                reports.dedup();
                (reports.len() == 1).then(|| reports[0])
            }
        };
        let added = match report {
            Some(r) => {
                let actor = page.auth.actor();
                renkei_incident::reports::add_files(page.store(), &actor, r, &sent.files)
                    .await
                    .map_err(AppError::from)
            }
            None => Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                page.shell("").t("mail.upload_one_report"),
            )),
        };
        match added {
            Ok(ids) => form.files.extend(ids),
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
                return show(page, target, form, None, Some(e.message)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let tables = page.state.enricher.tables();
    let (store, settings, actor) = (page.store(), &page.state.notify, page.auth.actor());
    let letter = form.letter();
    let result = if sending {
        correspond::send(
            store,
            settings,
            Some(&tables),
            &actor,
            &target.about,
            &letter,
        )
        .await
        .map(Done::Sent)
    } else {
        correspond::preview(
            store,
            settings,
            Some(&tables),
            &actor,
            &target.about,
            &letter,
        )
        .await
        .map(Done::Previewed)
    };
    match result {
        Ok(Done::Previewed(p)) => {
            // What was previewed is what will be sent: the template's text goes into
            // the fields, to be edited or sent as it is.
            form.subject = p.subject.clone();
            form.body = p.body.clone();
            if form.template.is_empty() || !form.body.is_empty() {
                form.quote = false;
            }
            form.lang = p.lang.as_str().to_string();
            show(page, target, form, Some(p), None).await
        }
        Ok(Done::Sent(m)) => Ok(see_other(&format!(
            "{}#message-{}",
            target.back.trim_end_matches("#thread"),
            m.message
        ))),
        Err(e) => {
            let e = AppError::from(e);
            if e.status != StatusCode::UNPROCESSABLE_ENTITY {
                return Err(e);
            }
            show(page, target, form, None, Some(e.message)).await
        }
    }
}

pub(crate) async fn report_preview(
    page: Page,
    Path(id): Path<i64>,
    pairs: WithFiles,
) -> Result<Response, AppError> {
    act(&page, Some(id), pairs, false).await
}

pub(crate) async fn report_send(
    page: Page,
    Path(id): Path<i64>,
    pairs: WithFiles,
) -> Result<Response, AppError> {
    act(&page, Some(id), pairs, true).await
}

pub(crate) async fn incidents_preview(page: Page, pairs: WithFiles) -> Result<Response, AppError> {
    act(&page, None, pairs, false).await
}

pub(crate) async fn incidents_send(page: Page, pairs: WithFiles) -> Result<Response, AppError> {
    act(&page, None, pairs, true).await
}
