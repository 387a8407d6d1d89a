//! Public machine-readable publication of vulnerability notes: the Atom feed and the
//! CSAF provider layout under /.well-known/csaf/ (provider-metadata.json, a TLP:WHITE
//! directory with index.txt, changes.csv, its ROLIE feed, and each advisory with its
//! SHA-256 and SHA-512 files and, when the team has a key, its OpenPGP signature;
//! the public key itself) that CSAF aggregators fetch; and the team's security.txt.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use renkei_vuln::notes;
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha512};

use crate::api::vuln::public_cache;
use crate::http::error::AppError;
use crate::http::state::AppState;

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

fn typed(content_type: &'static str, body: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    public_cache(&mut r);
    r
}

pub(crate) async fn atom(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
) -> Result<Response, AppError> {
    let now = state.store.now();
    let list = notes::list_published(&state.store, now, 100).await?;
    let lang = if q.lang.as_deref() == Some("en") {
        "en"
    } else {
        "ja"
    };
    Ok(typed(
        "application/atom+xml; charset=utf-8",
        notes::atom(&state.vuln, &list, lang, now),
    ))
}

pub(crate) async fn provider_metadata(State(state): State<AppState>) -> Result<Response, AppError> {
    let now = state.store.now();
    let list = notes::list_published(&state.store, now, 100_000).await?;
    let last = list
        .iter()
        .map(|n| n.updated_at.clone())
        .max()
        .unwrap_or_else(|| "2000-01-01T00:00:00.000000Z".into());
    Ok(typed(
        "application/json",
        notes::provider_metadata(&state.vuln, &last).to_string(),
    ))
}

pub(crate) async fn index_txt(State(state): State<AppState>) -> Result<Response, AppError> {
    let list = notes::list_published(&state.store, state.store.now(), 100_000).await?;
    Ok(typed(
        "text/plain; charset=utf-8",
        notes::csaf_index(&list).0,
    ))
}

pub(crate) async fn changes_csv(State(state): State<AppState>) -> Result<Response, AppError> {
    let list = notes::list_published(&state.store, state.store.now(), 100_000).await?;
    Ok(typed("text/csv; charset=utf-8", notes::csaf_index(&list).1))
}

/// `/.well-known/csaf/white/<year>/<file>.json`, with `.sha256` and `.sha512`
/// beside it.
pub(crate) async fn advisory(
    State(state): State<AppState>,
    Path((year, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let now = state.store.now();
    let (json_name, hash) = match file.rsplit_once('.') {
        Some((base, "sha256")) => (base.to_string(), Some("sha256")),
        Some((base, "sha512")) => (base.to_string(), Some("sha512")),
        Some((base, "asc")) => (base.to_string(), Some("asc")),
        _ => (file.clone(), None),
    };
    let list = notes::list_published(&state.store, now, 100_000).await?;
    let summary =
        notes::note_key_for_path(&list, &year, &json_name).ok_or_else(AppError::not_found)?;
    let note = notes::get(&state.store, &summary.key, now, false)
        .await?
        .ok_or_else(AppError::not_found)?;
    let doc = serde_json::to_string_pretty(&notes::to_csaf(&state.vuln, &note, "en")?)
        .map_err(AppError::internal)?;
    Ok(match hash {
        None => typed("application/json", doc),
        Some("asc") => {
            let key = state
                .vuln
                .team_key
                .as_ref()
                .ok_or_else(AppError::not_found)?;
            let signature = key
                .sign_detached(doc.as_bytes())
                .map_err(AppError::internal)?;
            typed("application/pgp-signature", signature)
        }
        Some("sha256") => typed(
            "text/plain; charset=utf-8",
            format!(
                "{}  {json_name}\n",
                hex::encode(Sha256::digest(doc.as_bytes()))
            ),
        ),
        Some(_) => typed(
            "text/plain; charset=utf-8",
            format!(
                "{}  {json_name}\n",
                hex::encode(Sha512::digest(doc.as_bytes()))
            ),
        ),
    })
}

/// The ROLIE feed of the TLP:WHITE advisories.
pub(crate) async fn rolie(State(state): State<AppState>) -> Result<Response, AppError> {
    let now = state.store.now();
    let list = notes::list_published(&state.store, now, 100_000).await?;
    Ok(typed(
        "application/json",
        notes::rolie_feed(&state.vuln, &list, now).to_string(),
    ))
}

/// The team's public OpenPGP key, at the address provider-metadata.json names.
pub(crate) async fn openpgp_key(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let key = state
        .vuln
        .team_key
        .as_ref()
        .ok_or_else(AppError::not_found)?;
    let wanted = format!("{}.asc", key.fingerprint().to_ascii_uppercase());
    if !file.eq_ignore_ascii_case(&wanted) {
        return Err(AppError::not_found());
    }
    Ok(typed(
        "application/pgp-keys",
        key.public_armored().map_err(AppError::internal)?,
    ))
}

/// RFC 9116's security.txt.
pub(crate) async fn security_txt(State(state): State<AppState>) -> Result<Response, AppError> {
    let mail = renkei_mail::conversations::bare(&state.vuln.from);
    Ok(typed(
        "text/plain; charset=utf-8",
        notes::security_txt(&state.vuln, Some(mail.as_str()), state.store.now()),
    ))
}
