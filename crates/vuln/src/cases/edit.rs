//! What a coordinator changes on the case itself.

use super::*;

/// What a coordinator may change on a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub affected: Option<String>,
    pub cvss_vector: Option<String>,
    pub cwe: Option<String>,
    pub cve: Option<String>,
    pub credit: Option<String>,
    pub series: Option<String>,
    pub tlp: Option<String>,
    pub note_text: Option<NoteText>,
    pub references: Option<Vec<String>>,
    /// `open` or `closed` (a case closed without publication).
    pub state: Option<String>,
    /// What a vendor reads before acknowledging.
    pub summary: Option<String>,
    /// The case concerns industrial control systems.
    pub control_systems: Option<bool>,
}

pub async fn update(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    patch: CasePatch,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let c = &detail.case;
    let merged = NewCase {
        title: patch.title.clone().unwrap_or_else(|| c.title.clone()),
        description: patch
            .description
            .clone()
            .unwrap_or_else(|| c.description.clone()),
        affected: patch.affected.clone().unwrap_or_else(|| c.affected.clone()),
        cvss_vector: patch
            .cvss_vector
            .clone()
            .or_else(|| c.cvss.as_ref().map(|x| x.vector.clone())),
        cwe: patch.cwe.clone().or_else(|| c.cwe.clone()),
        cve: patch.cve.clone().or_else(|| c.cve.clone()),
        credit: patch.credit.clone().unwrap_or_else(|| c.credit.clone()),
        reporter_name: String::new(),
        reporter_email: String::new(),
        series: Some(
            patch
                .series
                .clone()
                .unwrap_or_else(|| c.series.as_str().to_string()),
        ),
        tlp: Some(patch.tlp.clone().unwrap_or_else(|| c.tlp.clone())),
    };
    let checked = check(&merged, c.series)?;
    let references: Vec<String> = patch
        .references
        .clone()
        .unwrap_or_else(|| c.references.clone())
        .into_iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if let Some(bad) = references
        .iter()
        .find(|r| !(r.starts_with("https://") || r.starts_with("http://")))
    {
        return Err(VulnError::invalid(
            "references",
            format!("{bad:?} is not an http(s) URL"),
        ));
    }
    let state = match patch.state.as_deref() {
        None => c.state.clone(),
        Some("open") | Some("closed") if c.note.is_none() => {
            patch.state.clone().unwrap_or_default()
        }
        Some("open") | Some("closed") => {
            return Err(VulnError::Conflict(
                "the case has a note; its state follows the publication".into(),
            ));
        }
        Some(other) => {
            return Err(VulnError::invalid(
                "state",
                format!("{other:?}: use open or closed"),
            ));
        }
    };
    if checked.series != c.series && c.note.is_some() {
        return Err(VulnError::Conflict(
            "the note's ID is given; the series can no longer change".into(),
        ));
    }
    let note_text = patch
        .note_text
        .clone()
        .unwrap_or_else(|| c.note_text.clone());
    let summary = patch
        .summary
        .as_deref()
        .map(str::trim)
        .unwrap_or(c.summary.as_str());
    if summary.chars().count() > 2000 || summary.contains('\0') {
        return Err(VulnError::invalid("summary", "at most 2,000 characters"));
    }
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE cases SET title = $1, description = $2, affected = $3, cvss_vector = $4, cvss_score = $5, cwe = $6, \
         cve = $7, credit = $8, series = $9, tlp = $10, note_text = $11, refs = $12, state = $13, updated_at = $14, \
         summary = $16, control_systems = $17 WHERE id = $15",
    )
    .bind(merged.title.trim())
    .bind(merged.description.trim())
    .bind(merged.affected.trim())
    .bind(checked.cvss.as_ref().map(|x| x.vector.clone()))
    .bind(checked.cvss.as_ref().map(|x| x.score))
    .bind(&checked.cwe)
    .bind(&checked.cve)
    .bind(merged.credit.trim())
    .bind(checked.series.as_str())
    .bind(checked.tlp.as_str())
    .bind(serde_json::to_string(&note_text).unwrap_or_default())
    .bind(serde_json::to_string(&references).unwrap_or_default())
    .bind(&state)
    .bind(time::format(now))
    .bind(c.id)
    .bind(summary)
    .bind(i64::from(patch.control_systems.unwrap_or(c.control_systems)))
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.update",
            object_type: "case",
            object_id: c.key.clone(),
            changes: json!({
                "title": patch.title, "cvss_vector": patch.cvss_vector, "cwe": patch.cwe, "cve": patch.cve,
                "series": patch.series, "tlp": patch.tlp, "state": patch.state, "summary": patch.summary, "control_systems": patch.control_systems,
                "text_changed": patch.description.is_some() || patch.note_text.is_some() || patch.affected.is_some(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &c.key, now).await?;
    detail_for_team(store, settings, key, now).await
}
