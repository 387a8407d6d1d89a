//! The explanations the report prints beside its tables: what a scan or a forged
//! sender is, what a reader should do about it. The catalogs hold a default for
//! each; the team edits its own once and every quarter's report uses it.

use std::collections::BTreeMap;

use super::*;

/// The explanations there are, in the order the report prints them: one per
/// incident category, and the observation section's.
pub const KEYS: [&str; 8] = [
    "scan",
    "forged",
    "intrusion",
    "phishing",
    "dos",
    "malware",
    "other",
    "observation",
];

/// One explanation in both languages; `custom` when the team wrote it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub key: String,
    #[serde(default)]
    pub text_ja: String,
    #[serde(default)]
    pub text_en: String,
    #[serde(default, skip_deserializing)]
    pub custom: bool,
}

fn default_text(key: &str, lang: Lang) -> String {
    catalog(lang)
        .lookup(&format!("quarterly.explain_{key}"))
        .unwrap_or("")
        .to_string()
}

/// Every explanation as the report would print it now: the team's, or the default.
pub async fn list(store: &Store) -> Result<Vec<Text>> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT key, text_ja, text_en FROM report_texts")
            .fetch_all(store.pool())
            .await?;
    Ok(KEYS
        .iter()
        .map(|key| match rows.iter().find(|(k, _, _)| k == key) {
            Some((_, ja, en)) => Text {
                key: key.to_string(),
                text_ja: ja.clone(),
                text_en: en.clone(),
                custom: true,
            },
            None => Text {
                key: key.to_string(),
                text_ja: default_text(key, Lang::Ja),
                text_en: default_text(key, Lang::En),
                custom: false,
            },
        })
        .collect())
}

/// The explanations in one language, by key.
pub async fn resolved(store: &Store, lang: Lang) -> Result<BTreeMap<String, String>> {
    Ok(list(store)
        .await?
        .into_iter()
        .map(|t| {
            let text = lang.pick(&t.text_ja, &t.text_en).to_string();
            (t.key, text)
        })
        .collect())
}

/// Sets the team's explanations (staff). A text left empty in both languages
/// returns to the default.
pub async fn set(store: &Store, user: &UserInfo, texts: &[Text]) -> Result<Vec<Text>> {
    if !user.role.is_staff() {
        return Err(ReportError::Forbidden(
            "the report's explanations are written by the team's staff".into(),
        ));
    }
    for t in texts {
        if !KEYS.contains(&t.key.as_str()) {
            return Err(ReportError::invalid(
                "key",
                format!("{:?} is not one of {}", t.key, KEYS.join(", ")),
            ));
        }
        if [&t.text_ja, &t.text_en].iter().any(|x| x.len() > 20_000) {
            return Err(ReportError::invalid(
                "texts",
                format!("{}: a text is at most 20,000 bytes", t.key),
            ));
        }
    }
    let mut tx = store.begin().await?;
    let now = store.now_str();
    for t in texts {
        sqlx::query("DELETE FROM report_texts WHERE key = $1")
            .bind(&t.key)
            .execute(tx.conn())
            .await?;
        if t.text_ja.trim().is_empty() && t.text_en.trim().is_empty() {
            continue;
        }
        sqlx::query(
            "INSERT INTO report_texts (key, text_ja, text_en, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.key)
        .bind(t.text_ja.trim_end())
        .bind(t.text_en.trim_end())
        .bind(user.id)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "report.texts",
            object_type: "quarterly_report",
            object_id: "texts".into(),
            changes: json!({"keys": texts.iter().map(|t| t.key.as_str()).collect::<Vec<_>>()}),
        },
    )
    .await?;
    tx.commit().await?;
    list(store).await
}
