//! Templates: the texts mail starts from, one per name and language (ja, en). Each
//! pillar ships its own defaults; operators replace them at run time, and a
//! replacement is kept only if it renders. Rendering is minijinja with undefined
//! names refused, and an error names the template and the line.

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use serde::Serialize;
use serde_json::json;

use crate::MailError;

/// The languages templates exist in.
pub const LANGS: [&str; 2] = ["ja", "en"];

/// A template as it is used now: the operators' version if there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub name: String,
    pub lang: String,
    pub subject: String,
    pub body: String,
    /// Whether operators replaced the shipped text.
    pub customized: bool,
}

/// The shipped text of a template in one language.
#[derive(Debug, Clone, Copy)]
pub struct Default {
    pub subject: &'static str,
    pub body: &'static str,
}

fn lang_of(lang: &str) -> &'static str {
    if lang == "ja" { "ja" } else { "en" }
}

/// The template `name` in `lang` (English when there is none in that language).
pub async fn get(
    store: &Store,
    name: &str,
    lang: &str,
    shipped: Default,
) -> Result<Template, MailError> {
    let lang = lang_of(lang);
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT subject, body FROM mail_templates WHERE name = $1 AND lang = $2")
            .bind(name)
            .bind(lang)
            .fetch_optional(store.pool())
            .await?;
    Ok(match row {
        Some((subject, body)) => Template {
            name: name.into(),
            lang: lang.into(),
            subject,
            body,
            customized: true,
        },
        None => Template {
            name: name.into(),
            lang: lang.into(),
            subject: shipped.subject.into(),
            body: shipped.body.into(),
            customized: false,
        },
    })
}

/// Saves an operator's version after checking that it renders with `sample`;
/// audited with the text before and after.
pub async fn save(
    store: &Store,
    actor: &Actor,
    name: &str,
    lang: &str,
    subject: &str,
    body: &str,
    sample: &minijinja::Value,
) -> Result<(), MailError> {
    if !LANGS.contains(&lang) {
        return Err(MailError::invalid("lang", "templates exist for ja and en"));
    }
    let rendered = render(&format!("{name}/{lang} subject"), subject, sample)?;
    crate::conversations::header_field("subject", &rendered)?;
    render(&format!("{name}/{lang}"), body, sample)?;
    let now = store.now_str();
    let mut tx = store.begin().await?;
    let before: Option<(String, String)> =
        sqlx::query_as("SELECT subject, body FROM mail_templates WHERE name = $1 AND lang = $2")
            .bind(name)
            .bind(lang)
            .fetch_optional(tx.conn())
            .await?;
    sqlx::query("DELETE FROM mail_templates WHERE name = $1 AND lang = $2")
        .bind(name)
        .bind(lang)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO mail_templates (name, lang, subject, body, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(name)
        .bind(lang)
        .bind(subject)
        .bind(body)
        .bind(&now)
        .bind(&actor.label)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "template.changed",
            object_type: "mail_template",
            object_id: format!("{name}/{lang}"),
            changes: json!({"before": before.map(|(s, b)| json!({"subject": s, "body": b})), "after": {"subject": subject, "body": body}}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Goes back to the shipped text.
pub async fn reset(store: &Store, actor: &Actor, name: &str, lang: &str) -> Result<(), MailError> {
    let mut tx = store.begin().await?;
    let gone = sqlx::query("DELETE FROM mail_templates WHERE name = $1 AND lang = $2")
        .bind(name)
        .bind(lang)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if gone > 0 {
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "template.reset",
                object_type: "mail_template",
                object_id: format!("{name}/{lang}"),
                changes: json!({}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Mail is plain text: nothing is escaped as HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

fn failed(name: &str) -> impl Fn(minijinja::Error) -> MailError + '_ {
    move |e: minijinja::Error| MailError::Template {
        name: name.to_string(),
        line: e.line().unwrap_or(0),
        message: e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string()),
    }
}

/// minijinja drops a template's last line break; a mail keeps it.
fn keep_last_break(source: &str, mut out: String) -> String {
    if source.ends_with('\n') && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Renders a template's text; an error says which template and which line.
pub fn render(name: &str, source: &str, ctx: &minijinja::Value) -> Result<String, MailError> {
    let mut env = environment();
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(failed(name))?;
    let out = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(failed(name))?;
    Ok(keep_last_break(source, out))
}

/// A template's subject and body read once and rendered for many recipients (a
/// feed's day for each of thousands), as [`render`] renders each.
pub struct Compiled {
    name: String,
    env: minijinja::Environment<'static>,
    body_source_ends_in_break: bool,
}

impl Compiled {
    pub fn new(name: &str, subject: &str, body: &str) -> Result<Compiled, MailError> {
        let mut env = environment();
        env.add_template_owned("subject", subject.to_string())
            .map_err(failed(name))?;
        env.add_template_owned("body", body.to_string())
            .map_err(failed(name))?;
        Ok(Compiled {
            name: name.to_string(),
            env,
            body_source_ends_in_break: body.ends_with('\n'),
        })
    }

    fn render(&self, which: &str, ctx: &minijinja::Value) -> Result<String, MailError> {
        self.env
            .get_template(which)
            .and_then(|t| t.render(ctx))
            .map_err(failed(&self.name))
    }

    pub fn subject(&self, ctx: &minijinja::Value) -> Result<String, MailError> {
        self.render("subject", ctx)
    }

    pub fn body(&self, ctx: &minijinja::Value) -> Result<String, MailError> {
        let out = self.render("body", ctx)?;
        Ok(if self.body_source_ends_in_break {
            keep_last_break("\n", out)
        } else {
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_fails_names_itself_and_the_line() {
        let ctx = minijinja::context! { team => "CSIRT" };
        let e = render(
            "ask_logs/ja",
            "line one\n{{ team }}\n{{ nobody.name }}\n",
            &ctx,
        )
        .unwrap_err();
        match e {
            MailError::Template { name, line, .. } => {
                assert_eq!(name, "ask_logs/ja");
                assert_eq!(line, 3);
            }
            other => panic!("{other:?}"),
        }
        let e = render("x/en", "{% if %}", &ctx).unwrap_err();
        assert!(e.to_string().starts_with("template x/en, line 1"), "{e}");
    }

    #[test]
    fn text_is_not_escaped_and_keeps_its_last_line_break() {
        let ctx = minijinja::context! { who => "<abuse@isp.example> & co" };
        assert_eq!(
            render("t", "Dear {{ who }}\n", &ctx).unwrap(),
            "Dear <abuse@isp.example> & co\n"
        );
    }
}
