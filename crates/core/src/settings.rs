//! Installation-wide values kept in the database so that every node sees the same:
//! the key that signs CSRF tokens, for one.

use sqlx::Row;

use crate::{Result, Store, secrets};

pub async fn get(store: &Store, key: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

/// Returns the secret stored under `key`, creating it on first use. Two nodes racing
/// to create it both end up with the one that was stored first.
pub async fn secret(store: &Store, key: &str) -> Result<Vec<u8>> {
    if let Some(v) = get(store, key).await? {
        return hex::decode(v)
            .map_err(|e| crate::CoreError::Internal(format!("setting {key}: {e}")));
    }
    let fresh = hex::encode(secrets::random_bytes::<32>());
    store
        .write(
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(&fresh),
        )
        .await?;
    let stored = get(store, key).await?.unwrap_or(fresh);
    hex::decode(stored).map_err(|e| crate::CoreError::Internal(format!("setting {key}: {e}")))
}
