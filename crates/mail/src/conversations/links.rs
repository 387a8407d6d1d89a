//! Secret links: capabilities handed to someone outside (a reporter) to follow one
//! thread without an account. Only the SHA-256 digest is stored; a link expires,
//! and revoking it ends it at once. A wrong, revoked or expired link is the same
//! nothing to whoever holds it.

use renkei_core::store::Tx;
use renkei_core::{Store, secrets, time};

use crate::MailError;
use crate::conversations::Owner;

/// Makes a link to the owner's thread valid until `expires_at`; returns the secret
/// (to be put in a mail, never stored).
pub async fn issue(tx: &mut Tx, owner: &Owner, expires_at: &str) -> Result<String, MailError> {
    let secret = secrets::random_token("s-");
    sqlx::query(
        "INSERT INTO thread_links (token_hash, owner_kind, owner_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secrets::digest(&secret))
    .bind(&owner.kind)
    .bind(owner.id)
    .bind(tx.now_str())
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(secret)
}

/// The thread a secret opens now, if any.
pub async fn open(store: &Store, secret: &str) -> Result<Option<Owner>, MailError> {
    if secret.len() > 100 {
        return Ok(None);
    }
    Ok(sqlx::query_as(
        "SELECT owner_kind, owner_id FROM thread_links WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(secrets::digest(secret))
    .bind(time::format(store.now()))
    .fetch_optional(store.pool())
    .await?)
}

/// Ends every link to the owner's thread; returns how many were live.
pub async fn revoke(tx: &mut Tx, owner: &Owner) -> Result<u64, MailError> {
    let now = tx.now_str();
    Ok(sqlx::query(
        "UPDATE thread_links SET revoked_at = $1 WHERE owner_kind = $2 AND owner_id = $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(&now)
    .bind(&owner.kind)
    .bind(owner.id)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Whether the owner's thread has a live link.
pub async fn live(store: &Store, owner: &Owner) -> Result<bool, MailError> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM thread_links WHERE owner_kind = $1 AND owner_id = $2 AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(&owner.kind)
    .bind(owner.id)
    .bind(time::format(store.now()))
    .fetch_optional(store.pool())
    .await?;
    Ok(n.is_some())
}
