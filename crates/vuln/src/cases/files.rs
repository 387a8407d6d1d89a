//! A case's files: what the finder sent (the team's own), and what coordinators
//! share with the vendors (a proof of concept, a patch to test). Each is kept whole
//! with its SHA-256; fetching one goes through the case's gate, so a vendor that has
//! not acknowledged, or is not on the case, reaches none.

use sha2::{Digest, Sha256};

use super::*;

/// The largest file a case keeps.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct CaseFile {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// `team` (coordinators only) or `vendors` (every vendor that acknowledged).
    pub shared_with: String,
    pub added_by: String,
    pub added_at: String,
}

/// The case's files, or only those shared as `shared_with` says.
pub(crate) async fn list_files(
    store: &Store,
    case_id: i64,
    shared_with: Option<&str>,
) -> Result<Vec<CaseFile>> {
    Ok(sqlx::query_as(
        "SELECT id, filename, content_type, size, sha256, shared_with, added_by, added_at FROM case_files \
         WHERE case_id = $1 AND ($2 IS NULL OR shared_with = $2) ORDER BY id",
    )
    .bind(case_id)
    .bind(shared_with)
    .fetch_all(store.pool())
    .await?)
}

/// A name safe to show and to offer for download: the last path segment, without
/// control characters or quotes, at most 200 characters.
pub(crate) fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// Keeps a file on the case, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut Tx,
    case_id: i64,
    shared_with: &str,
    filename: &str,
    content_type: &str,
    data: &[u8],
    added_by: &str,
    now: &str,
) -> Result<CaseFile> {
    if data.is_empty() || data.len() > MAX_FILE_BYTES {
        return Err(VulnError::invalid(
            "file",
            format!(
                "a file must hold something and at most {} MB",
                MAX_FILE_BYTES / 1024 / 1024
            ),
        ));
    }
    if !matches!(shared_with, "team" | "vendors") {
        return Err(VulnError::invalid(
            "shared_with",
            "team (coordinators only) or vendors",
        ));
    }
    let filename = clean_name(filename);
    let content_type = content_type.trim();
    // What the browser gets to render is decided when the file is fetched; here the
    // type is only kept, if it looks like one.
    let content_type = if content_type.contains('/')
        && content_type.len() <= 100
        && content_type.is_ascii()
        && !content_type.contains(['\r', '\n'])
    {
        content_type
    } else {
        "application/octet-stream"
    };
    let sha256 = hex::encode(Sha256::digest(data));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO case_files (case_id, shared_with, filename, content_type, size, sha256, data, added_by, added_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(case_id)
    .bind(shared_with)
    .bind(&filename)
    .bind(content_type)
    .bind(data.len() as i64)
    .bind(&sha256)
    .bind(data)
    .bind(added_by)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(CaseFile {
        id,
        filename,
        content_type: content_type.to_string(),
        size: data.len() as i64,
        sha256,
        shared_with: shared_with.to_string(),
        added_by: added_by.to_string(),
        added_at: now.to_string(),
    })
}

/// A coordinator adds a file to the case, for the team or for the vendors.
#[allow(clippy::too_many_arguments)]
pub async fn add_file(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    filename: &str,
    content_type: &str,
    shared_with: &str,
    data: &[u8],
    now: DateTime<Utc>,
) -> Result<CaseFile> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let by = principal
        .user()
        .map(|u| u.email.clone())
        .unwrap_or_default();
    let mut tx = store.begin().await?;
    let file = insert(
        &mut tx,
        detail.case.id,
        shared_with,
        filename,
        content_type,
        data,
        &by,
        &time::format(now),
    )
    .await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.file_add",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"file": file.id, "name": file.filename, "sha256": file.sha256, "size": file.size, "shared_with": file.shared_with}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(file)
}

/// One file and its bytes, for whoever may fetch it: coordinators any, a vendor that
/// acknowledged those shared with the vendors. Everyone else is told it does not
/// exist. Each fetch is logged.
pub async fn fetch(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    file: i64,
    now: DateTime<Utc>,
) -> Result<(CaseFile, Vec<u8>)> {
    let (detail, _) = authorize(store, settings, principal, key, now).await?;
    let Some(meta) = detail.files.iter().find(|f| f.id == file).cloned() else {
        return Err(VulnError::NotFound("file"));
    };
    let data: Vec<u8> =
        sqlx::query_scalar("SELECT data FROM case_files WHERE id = $1 AND case_id = $2")
            .bind(file)
            .bind(detail.case.id)
            .fetch_one(store.pool())
            .await?;
    audit::record_alone(
        store,
        &actor_of(principal),
        Event {
            action: "case.file_read",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"file": file, "view": detail.view}),
        },
    )
    .await?;
    Ok((meta, data))
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn file_names_lose_their_paths_and_anything_a_header_would_choke_on() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\poc\\exploit.py"), "exploit.py");
        assert_eq!(clean_name("a\"b\r\n.txt"), "ab.txt");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(&"x".repeat(300)).len(), 200);
    }
}
