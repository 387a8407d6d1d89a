//! A coordinator's own saved views of the queue: a name for a set of filters used
//! every day ("my phishing", "NTT's open ones"), beside the views every queue has.
//! The query is kept as the queue's address carries it, so a saved view is refined
//! and bookmarked like any other; the page checks it before it is kept.

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use serde::Serialize;
use serde_json::json;

use crate::{IncidentError, Result};

/// How many views one person keeps: enough for a working day, few enough to show.
pub const MAX_VIEWS: i64 = 20;

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    /// The queue's query string, without the leading `?`.
    pub query: String,
}

/// A person's views, in the order they were saved.
pub async fn list(store: &Store, user: i64) -> Result<Vec<SavedView>> {
    Ok(
        sqlx::query_as("SELECT id, name, query FROM queue_views WHERE user_id = $1 ORDER BY id")
            .bind(user)
            .fetch_all(store.pool())
            .await?,
    )
}

/// Keeps `query` as `name` for `user`; the same name again replaces that view.
pub async fn save(
    store: &Store,
    actor: &Actor,
    user: i64,
    name: &str,
    query: &str,
) -> Result<SavedView> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(IncidentError::invalid(
            "name",
            "a name of 1 to 60 characters",
        ));
    }
    if query.len() > 2000 {
        return Err(IncidentError::invalid("query", "at most 2,000 bytes"));
    }
    let mut tx = store.begin().await?;
    let held: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM queue_views WHERE user_id = $1 AND name <> $2")
            .bind(user)
            .bind(name)
            .fetch_one(tx.conn())
            .await?;
    if held >= MAX_VIEWS {
        return Err(IncidentError::invalid(
            "name",
            format!("at most {MAX_VIEWS} saved views; remove one first"),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO queue_views (user_id, name, query, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, name) DO UPDATE SET query = excluded.query RETURNING id",
    )
    .bind(user)
    .bind(name)
    .bind(query)
    .bind(tx.now_str())
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "queue_view.save",
            object_type: "user",
            object_id: user.to_string(),
            changes: json!({"name": name, "query": query}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(SavedView {
        id,
        name: name.to_string(),
        query: query.to_string(),
    })
}

/// Removes one of `user`'s views; another person's is not found.
pub async fn remove(store: &Store, actor: &Actor, user: i64, id: i64) -> Result<()> {
    let mut tx = store.begin().await?;
    let gone = sqlx::query("DELETE FROM queue_views WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(IncidentError::NotFound("saved view"));
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "queue_view.remove",
            object_type: "user",
            object_id: user.to_string(),
            changes: json!({"view": id}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
