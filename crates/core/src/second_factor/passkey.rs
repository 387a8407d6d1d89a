//! Security keys and passkeys (WebAuthn Level 3) as a second factor.
//!
//! The password stays the first factor; the key proves possession, so user
//! verification on the key (a PIN, a fingerprint) is not asked for. The ceremonies
//! are checked by `webauthn_rp` (pure Rust: P-256, P-384, Ed25519 and RSA
//! signatures, "none" and self attestation). Everything between the options sent to
//! the browser and its answer lives in the database, so that any node may finish a
//! ceremony another began.
//!
//! # Layout
//! - [`RelyingParty`]: who Renkei is to the browser, from `server.public_url` (a
//!   domain name: WebAuthn does not work on a bare IP address).
//! - Registration: [`begin_registration`] (options for `navigator.credentials.create`)
//!   and [`finish_registration`]; [`list`], [`remove`].
//! - Sign-in: [`request_options`] for the challenge a right password opened, and
//!   [`check_assertion`], which `answer_challenge` calls inside its transaction.

use serde::Serialize;
use serde_json::json;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{AllowedCredentials, AuthenticationVerificationOptions};
use webauthn_rp::request::register::{
    Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle64,
    Username,
};
use webauthn_rp::request::{AsciiDomain, Credentials as _, PublicKeyCredentialDescriptor, RpId};
use webauthn_rp::response::auth::ser_relaxed::NonDiscoverableAuthenticationRelaxed64;
use webauthn_rp::response::register::ser_relaxed::RegistrationRelaxed;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, NonDiscoverableAuthenticationServerState,
    NonDiscoverableCredentialRequestOptions, PublicKeyCredentialCreationOptions,
    RegistrationServerState,
};

use crate::audit::{self, Actor, Event};
use crate::store::Tx;
use crate::{CoreError, Result, Store, time};

/// How long the browser has between the options and its answer (the options say
/// five minutes; the row outlives them a little).
const CEREMONY_MINUTES: i64 = 6;
/// The longest name a person may give a key.
const NAME_MAX: usize = 60;

/// Renkei as the browser's relying party: the RP ID (the public address's host name)
/// and the one origin answers may come from.
#[derive(Debug)]
pub struct RelyingParty {
    rp_id: RpId,
    origin: String,
}

impl RelyingParty {
    /// From the public address (`https://renkei.csirt.example`). `None` when its host
    /// is an IP address or not a domain name: browsers refuse WebAuthn there.
    pub fn from_public_url(public_url: &str) -> Option<RelyingParty> {
        let (scheme, rest) = public_url.split_once("://")?;
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let authority = rest.split(['/', '?', '#']).next()?;
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        };
        if host.is_empty()
            || host.starts_with('[')
            || host.parse::<std::net::IpAddr>().is_ok()
            || host.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return None;
        }
        let domain = AsciiDomain::try_from(host.to_ascii_lowercase()).ok()?;
        Some(RelyingParty {
            rp_id: RpId::Domain(domain),
            origin: format!("{scheme}://{}", authority.to_ascii_lowercase()),
        })
    }

    /// The origin answers must come from (`https://renkei.csirt.example`).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// A key as its owner sees it on the account page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Passkey {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("webauthn {what}: {e}"))
}

fn refused(e: impl std::fmt::Display) -> CoreError {
    CoreError::invalid(
        "credential",
        format!("the security key's answer was not accepted: {e}"),
    )
}

fn clean_name(name: &str) -> Result<String> {
    let name: String = name.trim().chars().filter(|c| !c.is_control()).collect();
    if name.is_empty() {
        return Err(CoreError::invalid("name", "give the key a name"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(CoreError::invalid(
            "name",
            format!("a key's name has at most {NAME_MAX} characters"),
        ));
    }
    Ok(name)
}

/// The account's user handle: the one its first key was made with, or a new random
/// one (never the account number or the address: the key keeps it).
async fn user_handle(store: &Store, user_id: i64) -> Result<UserHandle64> {
    let existing: Option<String> =
        sqlx::query_scalar("SELECT user_handle FROM passkeys WHERE user_id = $1 LIMIT 1")
            .bind(user_id)
            .fetch_optional(store.pool())
            .await?;
    match existing {
        Some(h) => decode_handle(&h),
        None => Ok(UserHandle64::new()),
    }
}

/// A user handle as stored (hex of its 64 bytes).
fn decode_handle(stored: &str) -> Result<UserHandle64> {
    let bytes: [u8; 64] = hex::decode(stored)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| internal("user handle", "not 64 bytes"))?;
    UserHandle64::decode(bytes).map_err(|e| internal("user handle", e))
}

async fn descriptors(
    store: &Store,
    user_id: i64,
) -> Result<Vec<PublicKeyCredentialDescriptor<Vec<u8>>>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT credential_id, CAST(transports AS BIGINT) FROM passkeys WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|(id, transports)| {
            let id = hex::decode(id).map_err(|e| internal("credential id", e))?;
            Ok(PublicKeyCredentialDescriptor {
                id: CredentialId::decode(id).map_err(|e| internal("credential id", e))?,
                transports: AuthTransports::decode(u8::try_from(transports).unwrap_or(0))
                    .map_err(|e| internal("transports", e))?,
            })
        })
        .collect()
}

/// Starts registering a key named `name` for the signed-in account: the options for
/// `navigator.credentials.create` (PublicKeyCredentialCreationOptionsJSON).
pub async fn begin_registration(
    store: &Store,
    rp: &RelyingParty,
    user_id: i64,
    email: &str,
    display_name: &str,
    name: &str,
) -> Result<String> {
    let name = clean_name(name)?;
    let handle = user_handle(store, user_id).await?;
    let fallback = format!("user-{user_id}");
    let user_name = Username::try_from(email)
        .or_else(|_| Username::try_from(fallback.as_str()))
        .map_err(|e| internal("user name", e))?;
    let entity = PublicKeyCredentialUserEntity {
        name: user_name,
        id: &handle,
        display_name: Nickname::try_from(display_name).ok(),
    };
    let exclude = descriptors(store, user_id).await?;
    let (server, client) =
        PublicKeyCredentialCreationOptions::second_factor(&rp.rp_id, entity, exclude)
            .start_ceremony()
            .map_err(|e| internal("creation options", e))?;
    let options = serde_json::to_string(&client).map_err(|e| internal("creation options", e))?;
    let state = server
        .encode()
        .map_err(|e| internal("registration state", e))?;
    let expires = time::format(store.now() + chrono::Duration::minutes(CEREMONY_MINUTES));
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM passkey_registrations WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO passkey_registrations (user_id, name, state, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(&name)
    .bind(hex::encode(state))
    .bind(expires)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(options)
}

/// Finishes a registration with the browser's answer
/// (`PublicKeyCredential.toJSON()`); returns the new key's name and, when this is
/// the account's first second factor, its recovery codes (shown once).
pub async fn finish_registration(
    store: &Store,
    rp: &RelyingParty,
    actor: &Actor,
    user_id: i64,
    answer: &str,
) -> Result<(String, Vec<String>)> {
    let mut tx = store.begin().await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT name, state, expires_at FROM passkey_registrations WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((name, state, expires_at)) = row else {
        return Err(CoreError::invalid(
            "credential",
            "no registration is under way; start again",
        ));
    };
    sqlx::query("DELETE FROM passkey_registrations WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    if time::parse(&expires_at).is_none_or(|t| t <= store.now()) {
        tx.commit().await?;
        return Err(CoreError::invalid(
            "credential",
            "the registration ran out of time; start again",
        ));
    }
    let state = hex::decode(state).map_err(|e| internal("registration state", e))?;
    let server = RegistrationServerState::<64>::decode(state.as_slice())
        .map_err(|e| internal("registration state", e))?;
    // `PublicKeyCredential.toJSON()` (RegistrationResponseJSON), keys a browser adds
    // beyond the standard ignored. The options are answered once, right or wrong: a
    // refused answer still ends the registration.
    let registration = match serde_json::from_str::<RegistrationRelaxed>(answer) {
        Ok(RegistrationRelaxed(r)) => r,
        Err(e) => {
            tx.commit().await?;
            return Err(refused(e));
        }
    };
    let origins = [rp.origin.as_str()];
    let options = RegistrationVerificationOptions::<&str, &str> {
        allowed_origins: &origins,
        ..RegistrationVerificationOptions::default()
    };
    let credential = match server.verify(&rp.rp_id, &registration, &options) {
        Ok(c) => c,
        Err(e) => {
            tx.commit().await?;
            return Err(refused(e));
        }
    };
    let (id, transports, handle, static_state, dynamic_state, _metadata) = credential.into_parts();
    let credential_id = hex::encode(id.encode().map_err(|e| internal("credential id", e))?);
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM passkeys WHERE credential_id = $1")
        .bind(&credential_id)
        .fetch_optional(tx.conn())
        .await?;
    if taken.is_some() {
        tx.commit().await?;
        return Err(CoreError::Conflict(
            "this security key is registered already".into(),
        ));
    }
    let first = !super::is_enrolled_in(&mut tx, user_id).await?;
    sqlx::query(
        "INSERT INTO passkeys (user_id, credential_id, user_handle, name, static_state, dynamic_state, transports, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user_id)
    .bind(&credential_id)
    .bind(hex::encode(handle.encode().map_err(|e| internal("user handle", e))?))
    .bind(&name)
    .bind(hex::encode(static_state.encode().map_err(|e| internal("static state", e))?))
    .bind(hex::encode(dynamic_state.encode().map_err(|e| internal("dynamic state", e))?))
    .bind(i64::from(transports.encode().map_err(|e| internal("transports", e))?))
    .bind(store.now_str())
    .execute(tx.conn())
    .await?;
    let codes = if first {
        super::replace_recovery_codes(&mut tx, user_id).await?
    } else {
        Vec::new()
    };
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "second_factor.enrolled",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"kind": "passkey", "name": name, "recovery_codes": codes.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((name, codes))
}

/// The account's keys, oldest first.
pub async fn list(store: &Store, user_id: i64) -> Result<Vec<Passkey>> {
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at, last_used_at)| Passkey {
            id,
            name,
            created_at,
            last_used_at,
        })
        .collect())
}

/// Removes one of the account's keys, once the person proved a second factor with a
/// code (from the app, or a recovery code). The last factor gone, the recovery
/// codes go too.
pub async fn remove(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    passkey_id: i64,
    code: &str,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(passkey_id)
            .bind(user_id)
            .fetch_optional(tx.conn())
            .await?;
    let Some(name) = name else {
        return Err(CoreError::NotFound("security key"));
    };
    if !super::check_code(&mut tx, user_id, code).await? {
        return Err(CoreError::invalid("code", "that code does not match"));
    }
    sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(passkey_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    super::drop_recovery_codes_if_unenrolled(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "second_factor.removed",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"kind": "passkey", "name": name}),
        },
    )
    .await?;
    tx.commit().await
}

/// Options for `navigator.credentials.get` on the sign-in challenge `token` (the
/// account's keys allowed), kept with the challenge; `None` when the challenge is
/// gone or the account has no key.
pub async fn request_options(
    store: &Store,
    rp: &RelyingParty,
    token: &str,
) -> Result<Option<String>> {
    let Some(user_id) = super::challenge_user(store, token).await? else {
        return Ok(None);
    };
    let keys = descriptors(store, user_id).await?;
    if keys.is_empty() {
        return Ok(None);
    }
    let mut allowed = AllowedCredentials::with_capacity(keys.len());
    for k in keys {
        allowed.push(k.into());
    }
    let (server, client) =
        NonDiscoverableCredentialRequestOptions::second_factor(&rp.rp_id, allowed)
            .map_err(|e| internal("request options", e))?
            .start_ceremony()
            .map_err(|e| internal("request options", e))?;
    let options = serde_json::to_string(&client).map_err(|e| internal("request options", e))?;
    let state = server.encode().map_err(|e| internal("request state", e))?;
    store
        .write(
            sqlx::query("UPDATE login_challenges SET passkey_state = $1 WHERE token_hash = $2")
                .bind(hex::encode(state))
                .bind(crate::secrets::digest(token)),
        )
        .await?;
    Ok(Some(options))
}

/// Checks the browser's answer to the challenge's request in `tx`; a right answer
/// moves the key's signature counter on and notes its use.
pub(super) async fn check_assertion(
    tx: &mut Tx,
    rp: &RelyingParty,
    user_id: i64,
    state: Option<&str>,
    answer: &str,
) -> Result<bool> {
    let Some(state) = state else {
        return Ok(false);
    };
    let Ok(authentication) = serde_json::from_str::<NonDiscoverableAuthenticationRelaxed64>(answer)
    else {
        return Ok(false);
    };
    let authentication = authentication.0;
    let state = hex::decode(state).map_err(|e| internal("request state", e))?;
    let server = NonDiscoverableAuthenticationServerState::decode(state.as_slice())
        .map_err(|e| internal("request state", e))?;
    let credential_id = hex::encode(authentication.raw_id().as_ref());
    let row: Option<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, user_handle, static_state, dynamic_state FROM passkeys WHERE credential_id = $1 AND user_id = $2",
    )
    .bind(&credential_id)
    .bind(user_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((passkey_id, handle, static_state, dynamic_state)) = row else {
        return Ok(false);
    };
    let handle = decode_handle(&handle)?;
    let static_state = hex::decode(static_state).map_err(|e| internal("static state", e))?;
    let static_state =
        StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(
            static_state.as_slice(),
        )
        .map_err(|e| internal("static state", e))?;
    let dynamic_state: [u8; 7] = hex::decode(dynamic_state)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| internal("dynamic state", "not 7 bytes"))?;
    let dynamic_state =
        DynamicState::decode(dynamic_state).map_err(|e| internal("dynamic state", e))?;
    let mut credential = AuthenticatedCredential::new(
        authentication.raw_id(),
        &handle,
        static_state,
        dynamic_state,
    )
    .map_err(|e| internal("credential", e))?;
    let origins = [rp.origin.as_str()];
    let options = AuthenticationVerificationOptions::<&str, &str> {
        allowed_origins: &origins,
        ..AuthenticationVerificationOptions::default()
    };
    let Ok(_changed) = server.verify(&rp.rp_id, &authentication, &mut credential, &options) else {
        return Ok(false);
    };
    let dynamic = credential
        .dynamic_state()
        .encode()
        .map_err(|e| internal("dynamic state", e))?;
    sqlx::query("UPDATE passkeys SET dynamic_state = $1, last_used_at = $2 WHERE id = $3")
        .bind(hex::encode(dynamic))
        .bind(tx.now_str())
        .bind(passkey_id)
        .execute(tx.conn())
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_public_address_host_and_never_an_ip_address() {
        let rp = RelyingParty::from_public_url("https://Renkei.CSIRT.example/").unwrap();
        assert_eq!(rp.origin(), "https://renkei.csirt.example");
        let rp = RelyingParty::from_public_url("http://localhost:8080").unwrap();
        assert_eq!(rp.origin(), "http://localhost:8080");
        for url in [
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "https://192.0.2.10",
            "ftp://renkei.example",
            "renkei.example",
            "https://",
        ] {
            assert!(RelyingParty::from_public_url(url).is_none(), "{url}");
        }
    }

    #[test]
    fn a_key_name_is_trimmed_and_bounded() {
        assert_eq!(clean_name("  YubiKey 5\n").unwrap(), "YubiKey 5");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"鍵".repeat(61)).is_err());
        assert_eq!(clean_name(&"鍵".repeat(60)).unwrap().chars().count(), 60);
    }
}
