//! Pages for notifying the sites involved: preview and send, the list of
//! notifications with their mail's state, the template editor, and the about page
//! with the data attributions.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use renkei_incident::{correspond, incidents, notify};
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::form::Form;
use crate::http::state::AppState;
use crate::pages::{Page, Shell, html, see_other};

fn ids_of(pairs: &[(String, String)]) -> Vec<i64> {
    let mut ids: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[derive(Template)]
#[template(path = "notify.html")]
struct NotifyPage<'a> {
    shell: Shell<'a>,
    ids: Vec<i64>,
    plan: notify::Plan,
}

async fn show_plan(
    state: &AppState,
    page: &Page,
    ids: Vec<i64>,
    overrides: &HashMap<i64, String>,
) -> Result<Response, AppError> {
    let plan = notify::preview(&state.store, &state.notify, &ids, overrides).await?;
    html(&NotifyPage {
        shell: page.shell("notifications"),
        ids,
        plan,
    })
}

pub(crate) async fn preview(
    page: Page,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let ids = ids_of(&pairs);
    show_plan(&page.state, &page, ids, &HashMap::new()).await
}

pub(crate) async fn send(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let ids = ids_of(&pairs);
    let overrides: HashMap<i64, String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix("to_")?.parse().ok()?;
            let v = v.trim();
            (!v.is_empty()).then(|| (id, v.to_string()))
        })
        .collect();
    if pairs.iter().any(|(k, v)| k == "do" && v == "send") {
        notify::send(
            page.store(),
            &page.state.notify,
            &page.auth.actor(),
            &ids,
            &overrides,
        )
        .await?;
        return Ok(see_other("/notifications"));
    }
    show_plan(&page.state, &page, ids, &overrides).await
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct ListPage<'a> {
    shell: Shell<'a>,
    list: Vec<notify::Notification>,
    relay_set: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

pub(crate) async fn list(page: Page, Query(q): Query<ListQuery>) -> Result<Response, AppError> {
    let status = q.status.filter(|s| !s.is_empty());
    html(&ListPage {
        shell: page.shell("notifications"),
        list: notify::list(page.store(), status.as_deref(), 500).await?,
        relay_set: !page.state.config.mail.relay.is_empty(),
    })
}

#[derive(Template)]
#[template(path = "templates.html")]
struct TemplatesPage<'a> {
    shell: Shell<'a>,
    templates: Vec<notify::Template>,
    /// The templates coordinators write from, each in both languages.
    letters: Vec<notify::Template>,
}

pub(crate) async fn templates(page: Page) -> Result<Response, AppError> {
    let mut templates = Vec::new();
    for lang in notify::TEMPLATE_LANGS {
        templates.push(notify::template(page.store(), lang).await?);
    }
    let mut letters = Vec::new();
    for name in correspond::TEMPLATES {
        for lang in ["ja", "en"] {
            letters.push(correspond::template(page.store(), name, lang).await?);
        }
    }
    html(&TemplatesPage {
        shell: page.shell("templates"),
        templates,
        letters,
    })
}

pub(crate) async fn template_save(
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.replace("\r\n", "\n"))
            .unwrap_or_default()
    };
    let name = get("name");
    let (lang, subject, body) = (get("lang"), get("subject"), get("body"));
    match name.as_str() {
        "" | notify::TEMPLATE => {
            notify::set_template(page.store(), &page.auth.actor(), &lang, &subject, &body).await?;
        }
        letter => {
            correspond::set_template(
                page.store(),
                &page.auth.actor(),
                letter,
                &lang,
                &subject,
                &body,
            )
            .await?;
        }
    }
    Ok(see_other("/admin/templates"))
}

pub(crate) async fn enrich(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let tables = page.state.enricher.tables();
    let i = incidents::enrich(page.store(), &page.auth.actor(), &tables, &[id]).await?;
    Ok(see_other(&format!(
        "/reports/{}#incident-{id}",
        i[0].report_id
    )))
}

#[derive(Template)]
#[template(path = "about.html")]
struct AboutPage<'a> {
    shell: Shell<'a>,
    sources: Vec<renkei_enrich::sources::SourceInfo>,
}

pub(crate) async fn about(page: Page) -> Result<Response, AppError> {
    html(&AboutPage {
        shell: page.shell("about"),
        sources: renkei_enrich::sources::list(page.store()).await?,
    })
}
