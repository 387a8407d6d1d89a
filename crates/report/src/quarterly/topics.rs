//! The topics (トピック) the coordinators write for a quarter, in both languages.

use super::*;

/// A topic (トピック) the coordinators write for the quarter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    #[serde(default)]
    pub title_ja: String,
    #[serde(default)]
    pub title_en: String,
    /// Markdown.
    #[serde(default)]
    pub body_ja: String,
    #[serde(default)]
    pub body_en: String,
}

impl Topic {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }

    pub fn body(&self, lang: Lang) -> &str {
        lang.pick(&self.body_ja, &self.body_en)
    }
}

/// The quarter's topics, in order.
pub async fn topics(store: &Store, quarter: Quarter) -> Result<Vec<Topic>> {
    Ok(sqlx::query_as(
        "SELECT title_ja, title_en, body_ja, body_en FROM report_topics WHERE quarter = $1 ORDER BY position",
    )
    .bind(quarter.to_string())
    .fetch_all(store.pool())
    .await?)
}

/// Replaces the quarter's topics (staff).
pub async fn set_topics(
    store: &Store,
    user: &UserInfo,
    quarter: Quarter,
    topics: &[Topic],
) -> Result<Vec<Topic>> {
    if !user.role.is_staff() {
        return Err(ReportError::Forbidden(
            "the report's topics are written by the team's staff".into(),
        ));
    }
    if topics.len() > 30 {
        return Err(ReportError::invalid("topics", "at most 30 topics"));
    }
    for (i, t) in topics.iter().enumerate() {
        let at = |m: &str| ReportError::invalid("topics", format!("topic {}: {m}", i + 1));
        if t.title_ja.trim().is_empty() && t.title_en.trim().is_empty() {
            return Err(at("a title in Japanese or English"));
        }
        if [&t.title_ja, &t.title_en]
            .iter()
            .any(|x| x.chars().count() > 300 || x.contains('\n'))
        {
            return Err(at("a title is one line of at most 300 characters"));
        }
        if [&t.body_ja, &t.body_en].iter().any(|x| x.len() > 50_000) {
            return Err(at("a text is at most 50,000 bytes"));
        }
    }
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM report_topics WHERE quarter = $1")
        .bind(quarter.to_string())
        .execute(tx.conn())
        .await?;
    let now = store.now_str();
    for (i, t) in topics.iter().enumerate() {
        sqlx::query(
            "INSERT INTO report_topics (quarter, position, title_ja, title_en, body_ja, body_en, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(quarter.to_string())
        .bind(i as i64)
        .bind(t.title_ja.trim())
        .bind(t.title_en.trim())
        .bind(t.body_ja.trim_end())
        .bind(t.body_en.trim_end())
        .bind(user.id)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "report.topics",
            object_type: "quarterly_report",
            object_id: quarter.to_string(),
            changes: json!({"topics": topics.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    self::topics(store, quarter).await
}
