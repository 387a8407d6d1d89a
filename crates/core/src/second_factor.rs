//! The second factor: time-based one-time passwords (TOTP, RFC 6238, the codes an
//! authenticator app shows) and security keys or passkeys (WebAuthn), with
//! single-use recovery codes, and the short-lived challenge that sits between a
//! right password and a session.
//!
//! # Layout
//! - [`totp`]: the RFC 6238 arithmetic (HMAC-SHA1, 30-second steps, six digits).
//! - [`passkey`]: WebAuthn registration and assertion.
//! - Enrolment: [`begin`] stores a fresh secret, [`confirm`] makes it count once the
//!   person typed a code from it, and hands out the recovery codes (the first
//!   factor of either kind does); [`remove`].
//! - Sign-in: [`open_challenge`] after the password, [`answer_challenge`] with a
//!   code or a key's answer ([`Proof`]).
//!
//! A code is accepted once: the step it belongs to is remembered, so a code read
//! over someone's shoulder cannot be replayed within its 30 seconds. Recovery codes
//! are stored as digests and each works once.

use chrono::Duration;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::{CoreError, Result, Store, secrets, time};

/// Seconds a TOTP code stands for.
pub const STEP: i64 = 30;
/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODES: usize = 10;
const CHALLENGE_PREFIX: &str = "rc_";
/// How long a person has to type the code after the password.
const CHALLENGE_MINUTES: i64 = 5;

pub mod passkey;

/// RFC 6238 TOTP over RFC 4226 HOTP, as authenticator apps compute it.
pub mod totp {
    use super::*;

    /// The six-digit code for `secret` at time step `step`.
    pub fn code_at(secret: &[u8], step: i64) -> String {
        let mut mac =
            Hmac::<sha1::Sha1>::new_from_slice(secret).expect("any key length works for HMAC");
        mac.update(&(step as u64).to_be_bytes());
        let h = mac.finalize().into_bytes();
        let offset = (h[h.len() - 1] & 0x0f) as usize;
        let bin = u32::from_be_bytes([
            h[offset] & 0x7f,
            h[offset + 1],
            h[offset + 2],
            h[offset + 3],
        ]);
        format!("{:06}", bin % 1_000_000)
    }

    /// The step a Unix time falls in.
    pub fn step_of(unix: i64) -> i64 {
        unix.div_euclid(STEP)
    }

    /// The step within one step of `now` whose code `code` is, if any (a clock a
    /// little off, or a code typed as it turned over, still counts).
    pub fn matching_step(secret: &[u8], code: &str, now_unix: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = step_of(now_unix);
        (now - 1..=now + 1).find(|s| {
            subtle::ConstantTimeEq::ct_eq(code_at(secret, *s).as_bytes(), code.as_bytes()).into()
        })
    }

    /// The secret as authenticator apps take it: base32 without padding.
    pub fn base32(secret: &[u8]) -> String {
        data_encoding::BASE32_NOPAD.encode(secret)
    }

    /// The `otpauth://` address an app reads (by QR code or by hand).
    pub fn uri(issuer: &str, account: &str, secret: &[u8]) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
            enc(issuer),
            enc(account),
            base32(secret),
            enc(issuer)
        )
    }
}

/// An account's second factor, as its owner sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// A confirmed TOTP app.
    pub enrolled: bool,
    /// Set up but not yet confirmed with a code.
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// Security keys and passkeys.
    pub passkeys: Vec<passkey::Passkey>,
}

pub async fn status(store: &Store, user_id: i64) -> Result<Status> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT confirmed_at FROM second_factors WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(store.pool())
            .await?;
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(store.pool())
    .await?;
    Ok(Status {
        enrolled: row.as_ref().is_some_and(|r| r.0.is_some()),
        pending: row.as_ref().is_some_and(|r| r.0.is_none()),
        recovery_codes_left: left,
        passkeys: passkey::list(store, user_id).await?,
    })
}

/// An app or a key: two indexed look-ups in one statement.
const ENROLLED: &str = "SELECT user_id FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL \
     UNION ALL SELECT user_id FROM passkeys WHERE user_id = $1 LIMIT 1";

/// Whether the account signs in with a second factor (an app or a key).
///
/// Indexed look-ups only: the staff policy asks it on every request of a session.
pub async fn is_enrolled(store: &Store, user_id: i64) -> Result<bool> {
    let one: Option<i64> = sqlx::query_scalar(ENROLLED)
        .bind(user_id)
        .fetch_optional(store.pool())
        .await?;
    Ok(one.is_some())
}

async fn is_enrolled_in(tx: &mut crate::store::Tx, user_id: i64) -> Result<bool> {
    let one: Option<i64> = sqlx::query_scalar(ENROLLED)
        .bind(user_id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(one.is_some())
}

/// Recovery codes stand in for a second factor: once the last one (app or key) is
/// gone, so are they.
async fn drop_recovery_codes_if_unenrolled(tx: &mut crate::store::Tx, user_id: i64) -> Result<()> {
    if !is_enrolled_in(tx, user_id).await? {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Whether the account has a confirmed authenticator app.
async fn has_app(store: &Store, user_id: i64) -> Result<bool> {
    let confirmed: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(store.pool())
    .await?;
    Ok(confirmed.is_some())
}

/// Starts setting up an authenticator app: a fresh secret (replacing one not yet
/// confirmed), returned for the person to scan. A confirmed one stays until removed.
pub async fn begin(store: &Store, user_id: i64) -> Result<Vec<u8>> {
    if has_app(store, user_id).await? {
        return Err(CoreError::Conflict(
            "an authenticator app is set up already; remove it first".into(),
        ));
    }
    let secret = secrets::random_bytes::<20>().to_vec();
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO second_factors (user_id, totp_secret, last_step, created_at) VALUES ($1, $2, 0, $3)",
    )
    .bind(user_id)
    .bind(hex::encode(&secret))
    .bind(store.now_str())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// The secret being set up (not yet confirmed), to show it again.
pub async fn pending_secret(store: &Store, user_id: i64) -> Result<Option<Vec<u8>>> {
    let hex_secret: Option<String> = sqlx::query_scalar(
        "SELECT totp_secret FROM second_factors WHERE user_id = $1 AND confirmed_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(store.pool())
    .await?;
    Ok(hex_secret.and_then(|h| hex::decode(h).ok()))
}

/// Confirms the app with a code it shows; returns the recovery codes, shown once.
pub async fn confirm(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    code: &str,
) -> Result<Vec<String>> {
    let Some(secret) = pending_secret(store, user_id).await? else {
        return Err(CoreError::invalid("code", "set up the app first"));
    };
    let Some(step) = totp::matching_step(&secret, code, store.now().timestamp()) else {
        return Err(CoreError::invalid(
            "code",
            "that code does not match; check the phone's clock and type the code shown now",
        ));
    };
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE second_factors SET confirmed_at = $1, last_step = $2 WHERE user_id = $3 AND confirmed_at IS NULL",
    )
    .bind(store.now_str())
    .bind(step)
    .bind(user_id)
    .execute(tx.conn())
    .await?;
    let codes = replace_recovery_codes(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "second_factor.enrolled",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"kind": "totp", "recovery_codes": RECOVERY_CODES}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// A fresh set of recovery codes in place of any before; returned to be shown once.
async fn replace_recovery_codes(tx: &mut crate::store::Tx, user_id: i64) -> Result<Vec<String>> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    for c in &codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(secrets::digest(&normalize_recovery(c)))
            .execute(tx.conn())
            .await?;
    }
    Ok(codes)
}

/// Removes the authenticator app (after the person proved a second factor with a
/// code). The recovery codes stay while a security key does.
pub async fn remove(store: &Store, actor: &Actor, user_id: i64, code: &str) -> Result<()> {
    if !has_app(store, user_id).await? {
        return Err(CoreError::NotFound("second factor"));
    }
    let mut tx = store.begin().await?;
    if !check_code(&mut tx, user_id, code).await? {
        return Err(CoreError::invalid("code", "that code does not match"));
    }
    sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    drop_recovery_codes_if_unenrolled(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "second_factor.removed",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"kind": "totp"}),
        },
    )
    .await?;
    tx.commit().await
}

fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes = secrets::random_bytes::<10>();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Checks and spends a code (TOTP or recovery) for `user_id`, on its own.
pub async fn spend_code(store: &Store, user_id: i64, code: &str) -> Result<bool> {
    let mut tx = store.begin().await?;
    let ok = check_code(&mut tx, user_id, code).await?;
    tx.commit().await?;
    Ok(ok)
}

/// A TOTP code (not used before) or an unused recovery code, checked and spent in
/// `tx`.
async fn check_code(tx: &mut crate::store::Tx, user_id: i64, code: &str) -> Result<bool> {
    let lock = match tx.dialect() {
        crate::store::Dialect::Postgres => " FOR UPDATE",
        crate::store::Dialect::Sqlite => "",
    };
    let row: Option<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT totp_secret, CAST(last_step AS BIGINT) FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL{lock}"
    )))
    .bind(user_id)
    .fetch_optional(tx.conn())
    .await?;
    // An account with only security keys has no app, but has recovery codes.
    if let Some((secret, last_step)) = row {
        let secret =
            hex::decode(secret).map_err(|e| CoreError::Internal(format!("totp secret: {e}")))?;
        if let Some(step) = totp::matching_step(&secret, code, tx.now().timestamp()) {
            if step <= last_step {
                return Ok(false);
            }
            sqlx::query("UPDATE second_factors SET last_step = $1 WHERE user_id = $2")
                .bind(step)
                .bind(user_id)
                .execute(tx.conn())
                .await?;
            return Ok(true);
        }
    }
    let spent = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(tx.now_str())
    .bind(user_id)
    .bind(secrets::digest(&normalize_recovery(code)))
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(spent > 0)
}

/// After a right password on an account with a second factor: a challenge the
/// browser holds (in a cookie) until it brings the code. Returns its secret.
pub async fn open_challenge(store: &Store, user_id: i64) -> Result<String> {
    let token = secrets::random_token(CHALLENGE_PREFIX);
    let now = store.now();
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM login_challenges WHERE expires_at < $1")
        .bind(time::format(now))
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO login_challenges (token_hash, user_id, created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(secrets::digest(&token))
    .bind(user_id)
    .bind(time::format(now))
    .bind(time::format(now + Duration::minutes(CHALLENGE_MINUTES)))
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// What answering a challenge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The code was right: the account to open a session for.
    Passed(i64),
    /// Wrong code; the challenge stands (for a few more tries).
    Wrong,
    /// No such challenge, or it ran out or was tried too often: sign in again.
    Gone,
}

/// Tries allowed per challenge before the password must be given again.
const CHALLENGE_TRIES: i64 = 5;

/// What the person brings to a challenge.
pub enum Proof<'a> {
    /// A code from the app, or a recovery code.
    Code(&'a str),
    /// A security key's answer (`PublicKeyCredential.toJSON()`) to the request
    /// [`passkey::request_options`] made for this challenge.
    Passkey(&'a passkey::RelyingParty, &'a str),
}

/// The account a live challenge (not run out, tries left) was opened for.
pub async fn challenge_user(store: &Store, token: &str) -> Result<Option<i64>> {
    if !token.starts_with(CHALLENGE_PREFIX) {
        return Ok(None);
    }
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT user_id, expires_at, CAST(attempts AS BIGINT) FROM login_challenges WHERE token_hash = $1",
    )
    .bind(secrets::digest(token))
    .fetch_optional(store.pool())
    .await?;
    Ok(row
        .filter(|(_, expires_at, attempts)| {
            time::parse(expires_at).is_some_and(|t| t > store.now()) && *attempts < CHALLENGE_TRIES
        })
        .map(|(user_id, _, _)| user_id))
}

/// Checks the proof against the challenge; a right one ends the challenge.
pub async fn answer_challenge(
    store: &Store,
    token: &str,
    proof: Proof<'_>,
    from: &str,
) -> Result<Answer> {
    if !token.starts_with(CHALLENGE_PREFIX) {
        return Ok(Answer::Gone);
    }
    let hash = secrets::digest(token);
    let mut tx = store.begin().await?;
    let row: Option<(i64, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT user_id, expires_at, CAST(attempts AS BIGINT), passkey_state FROM login_challenges WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(tx.conn())
    .await?;
    let Some((user_id, expires_at, attempts, passkey_state)) = row else {
        return Ok(Answer::Gone);
    };
    if time::parse(&expires_at).is_none_or(|t| t <= store.now()) || attempts >= CHALLENGE_TRIES {
        sqlx::query("DELETE FROM login_challenges WHERE token_hash = $1")
            .bind(&hash)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        return Ok(Answer::Gone);
    }
    let (passed, kind) = match proof {
        Proof::Code(code) => (check_code(&mut tx, user_id, code).await?, "code"),
        Proof::Passkey(rp, answer) => (
            passkey::check_assertion(&mut tx, rp, user_id, passkey_state.as_deref(), answer)
                .await?,
            "passkey",
        ),
    };
    let actor = Actor::user(user_id, &format!("user {user_id}"));
    if passed {
        sqlx::query("DELETE FROM login_challenges WHERE token_hash = $1")
            .bind(&hash)
            .execute(tx.conn())
            .await?;
    } else {
        // A request is answered once: a wrong answer needs a fresh one.
        sqlx::query(
            "UPDATE login_challenges SET attempts = attempts + 1, passkey_state = NULL WHERE token_hash = $1",
        )
        .bind(&hash)
        .execute(tx.conn())
        .await?;
    }
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: if passed {
                "second_factor.passed"
            } else {
                "second_factor.failed"
            },
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"from": from, "with": kind}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(if passed {
        Answer::Passed(user_id)
    } else {
        Answer::Wrong
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows (eight digits there; six here are the
    /// last six of the same number).
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (unix, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                totp::code_at(secret, totp::step_of(unix)),
                eight[2..],
                "{unix}"
            );
        }
    }

    #[test]
    fn a_code_counts_within_one_step_either_side_and_only_as_six_digits() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = totp::code_at(secret, totp::step_of(now));
        assert_eq!(
            totp::matching_step(secret, &code, now),
            Some(totp::step_of(now))
        );
        assert!(totp::matching_step(secret, &code, now + STEP).is_some());
        assert_eq!(totp::matching_step(secret, &code, now + 3 * STEP), None);
        assert_eq!(totp::matching_step(secret, "12345", now), None);
        assert_eq!(totp::matching_step(secret, "abcdef", now), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(totp::matching_step(secret, &spaced, now).is_some());
    }

    #[test]
    fn the_otpauth_address_names_issuer_account_and_secret() {
        let uri = totp::uri(
            "Renkei CSIRT",
            "alice@csirt.example",
            b"12345678901234567890",
        );
        assert_eq!(
            uri,
            "otpauth://totp/Renkei%20CSIRT:alice%40csirt.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Renkei%20CSIRT&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_read_the_same_however_they_are_typed() {
        let c = recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(
            normalize_recovery(&c.to_uppercase()),
            normalize_recovery(&c)
        );
        assert_eq!(
            normalize_recovery(&c.replace('-', " ")),
            normalize_recovery(&c)
        );
    }
}
