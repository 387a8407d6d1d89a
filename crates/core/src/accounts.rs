//! User accounts, passwords, login sessions, API tokens, the first-admin setup link
//! and the welcome links with which a person given an account sets its password.
//!
//! Passwords are hashed with Argon2id. Session cookies, API tokens and setup links are
//! random 256-bit secrets stored only as SHA-256 digests, so a copy of the database
//! does not let anyone sign in.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Duration;
use serde::Serialize;
use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::access::{Role, Scope, Scopes, UserInfo};
use crate::audit::{self, Actor, Event};
use crate::lang::Lang;
use crate::row::Bit;
use crate::store::Tx;
use crate::{CoreError, Result, Store, secrets, time};

pub const MIN_PASSWORD_LEN: usize = 10;
const TOKEN_PREFIX: &str = "rk_";
const SESSION_PREFIX: &str = "rs_";

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub org_id: Option<i64>,
    pub lang: Lang,
    pub created_at: String,
    #[sqlx(try_from = "Bit")]
    pub disabled: bool,
}

impl User {
    pub fn info(&self) -> UserInfo {
        UserInfo {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            org_id: self.org_id,
            lang: self.lang,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub org_id: Option<i64>,
    /// None: the account cannot sign in with a password (sensors, or until set).
    pub password: Option<String>,
    pub lang: Lang,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub name: &'a str,
    /// `None`: all the account's role may hold but admin.
    pub scopes: Option<Scopes>,
    /// Days until it stops working; `None`: until revoked.
    pub expires_in_days: Option<u32>,
}

/// Who asks for a token: a person signed in, or a token (never wider than itself).
#[derive(Debug, Clone)]
pub enum Issuer {
    /// The installation itself: the command line, or a sensor being registered.
    System,
    Session(UserInfo),
    Token(UserInfo, Scopes),
}

/// A token, as the bearer header brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub user: UserInfo,
    pub scopes: Scopes,
}

/// One of an account's signed-in sessions, as its owner sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionInfo {
    /// A handle for ending it (not the secret, nor enough to find it).
    #[sqlx(skip)]
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub client: String,
    pub user_agent: String,
    /// The session this request came with.
    #[sqlx(skip)]
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// The account, and how the session was opened (`password`, `second_factor`,
    /// `sso`).
    Valid(UserInfo, String),
    /// The cookie names a session that has run out; the person should sign in again.
    Expired,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Success(UserInfo),
    Failed,
}

pub fn validate_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(CoreError::invalid(
            "email",
            format!("{email:?} is not an e-mail address"),
        ))
    }
}

fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(CoreError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(CoreError::invalid("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

/// Argon2id is deliberately slow; keep it off the async executor.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("password hashing: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("password hashing task: {e}")))?
}

async fn password_matches(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        // Without a stored hash, verify against a fixed one anyway so that unknown
        // accounts take as long as known ones.
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        match PasswordHash::new(&stored) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

/// An Argon2id hash of a random password nobody knows, made once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secrets::random_token("").as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

const USER_COLUMNS: &str = "id, email, display_name, role, org_id, lang, created_at, CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END AS disabled";

pub async fn user_count(store: &Store) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(store.pool())
        .await?)
}

/// The administrators still at work, with the language each reads: who hears of
/// what goes wrong with the system itself (a silent sensor).
pub async fn admin_addresses(store: &Store) -> Result<Vec<(String, Lang)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT email, lang FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(email, lang)| (email, Lang::parse(&lang).unwrap_or(Lang::En)))
        .collect())
}

pub async fn list_users(store: &Store) -> Result<Vec<User>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY id"
    )))
    .fetch_all(store.pool())
    .await?)
}

pub async fn get_user(store: &Store, id: i64) -> Result<User> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(CoreError::NotFound("user"))
}

pub async fn find_user_by_email(store: &Store, email: &str) -> Result<Option<User>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    )))
    .bind(email.trim().to_lowercase())
    .fetch_optional(store.pool())
    .await?)
}

pub async fn create_user(store: &Store, actor: &Actor, new: NewUser) -> Result<User> {
    let email = validate_email(&new.email)?;
    let display_name = new.display_name.trim().to_string();
    if display_name.chars().count() > 200 {
        return Err(CoreError::invalid(
            "display_name",
            "must be at most 200 characters",
        ));
    }
    let display_name = if display_name.is_empty() {
        email.clone()
    } else {
        display_name
    };
    match (new.role.needs_org(), new.org_id) {
        (true, None) => {
            return Err(CoreError::invalid(
                "org_id",
                format!("a {} account belongs to an organization", new.role.as_str()),
            ));
        }
        (false, Some(_)) if new.role.is_staff() => {
            return Err(CoreError::invalid(
                "org_id",
                "staff accounts belong to the team, not to another organization",
            ));
        }
        _ => {}
    }
    if new.password.is_some() && !new.role.may_use_password() {
        return Err(CoreError::invalid(
            "password",
            "sensor accounts sign in with API tokens only",
        ));
    }
    let password_hash = match new.password {
        Some(p) => {
            validate_password(&p)?;
            Some(hash_password(p).await?)
        }
        None => None,
    };
    let mut tx = store.begin().await?;
    if let Some(org_id) = new.org_id {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM organizations WHERE id = $1")
                .bind(org_id)
                .fetch_optional(tx.conn())
                .await?;
        match kind.as_deref() {
            None => {
                return Err(CoreError::invalid(
                    "org_id",
                    format!("no organization #{org_id}"),
                ));
            }
            // Vendor accounts will receive unpublished vulnerability details meant for
            // their organization: it must be a product developer.
            Some(k) if new.role == Role::Vendor && k != "vendor" => {
                return Err(CoreError::invalid(
                    "org_id",
                    "a vendor account belongs to a product-developer (vendor) organization",
                ));
            }
            Some(_) => {}
        }
    }
    let now = store.now_str();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, display_name, role, org_id, password_hash, lang, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&email)
    .bind(&display_name)
    .bind(new.role.as_str())
    .bind(new.org_id)
    .bind(&password_hash)
    .bind(new.lang.as_str())
    .bind(&now)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| CoreError::from_insert(e, "an account with this e-mail"))?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "user.created",
            object_type: "user",
            object_id: id.to_string(),
            changes: json!({
                "email": email, "display_name": display_name, "role": new.role.as_str(),
                "org_id": new.org_id, "lang": new.lang.as_str(),
                "password_set": password_hash.is_some(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    get_user(store, id).await
}

/// Disables or re-enables an account. A disabled account's sessions end at once and
/// its tokens stop working; its history stays.
pub async fn set_disabled(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    disabled: bool,
) -> Result<User> {
    let before = get_user(store, user_id).await?;
    if before.disabled == disabled {
        return Ok(before);
    }
    if disabled && actor.user_id == Some(user_id) {
        return Err(CoreError::invalid(
            "disabled",
            "you cannot disable your own account",
        ));
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
        .bind(disabled.then(|| store.now_str()))
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await?;
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            },
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"disabled": [before.disabled, disabled]}),
        },
    )
    .await?;
    tx.commit().await?;
    get_user(store, user_id).await
}

/// What the server keeps of a sign-in through the OpenID Connect provider while the
/// browser is away: found again by the state the browser brings back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLogin {
    pub verifier: String,
    pub nonce: String,
    pub next: String,
}

/// Keeps `login` under `state` (stored as a digest) for `minutes`.
pub async fn sso_login_begin(
    store: &Store,
    state: &str,
    login: &SsoLogin,
    minutes: i64,
) -> Result<()> {
    let now = store.now();
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM sso_logins WHERE expires_at < $1")
        .bind(time::format(now))
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO sso_logins (state_hash, verifier, nonce, next, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secrets::digest(state))
    .bind(&login.verifier)
    .bind(&login.nonce)
    .bind(&login.next)
    .bind(time::format(now + Duration::minutes(minutes)))
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Takes the sign-in kept under `state`, once: `None` if unknown, used or run out.
pub async fn sso_login_take(store: &Store, state: &str) -> Result<Option<SsoLogin>> {
    let hash = secrets::digest(state);
    let mut tx = store.begin().await?;
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT verifier, nonce, next, expires_at FROM sso_logins WHERE state_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(tx.conn())
    .await?;
    sqlx::query("DELETE FROM sso_logins WHERE state_hash = $1")
        .bind(&hash)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(row
        .filter(|(_, _, _, until)| time::parse(until).is_some_and(|t| t > store.now()))
        .map(|(verifier, nonce, next, _)| SsoLogin {
            verifier,
            nonce,
            next,
        }))
}

/// Gives an account another role (and organization), as the organization's sign-in
/// provider says; its tokens wider than the new role allows are revoked.
pub async fn set_role(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    role: Role,
    org_id: Option<i64>,
) -> Result<User> {
    let before = get_user(store, user_id).await?;
    let org_id = if role.needs_org() { org_id } else { None };
    if role.needs_org() && org_id.is_none() {
        return Err(CoreError::invalid(
            "org_id",
            format!("a {} account belongs to an organization", role.as_str()),
        ));
    }
    let allowed = Scopes::of(Scope::allowed_for(role));
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE users SET role = $1, org_id = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(org_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    let tokens: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, scopes FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_all(tx.conn())
    .await?;
    for (id, scopes) in tokens {
        if !Scopes::parse(&scopes).is_ok_and(|s| s.is_within(&allowed)) {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
                .bind(store.now_str())
                .bind(id)
                .execute(tx.conn())
                .await?;
        }
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "user.role_changed",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"role": [before.role.as_str(), role.as_str()], "org_id": [before.org_id, org_id]}),
        },
    )
    .await?;
    tx.commit().await?;
    get_user(store, user_id).await
}

pub async fn set_lang(store: &Store, actor: &Actor, user_id: i64, lang: Lang) -> Result<()> {
    let before = get_user(store, user_id).await?;
    if before.lang == lang {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE users SET lang = $1 WHERE id = $2")
        .bind(lang.as_str())
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "user.lang_changed",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"lang": [before.lang.as_str(), lang.as_str()]}),
        },
    )
    .await?;
    tx.commit().await
}

pub async fn set_password(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    password: String,
) -> Result<()> {
    let user = get_user(store, user_id).await?;
    if !user.role.may_use_password() {
        return Err(CoreError::invalid(
            "password",
            "sensor accounts sign in with API tokens only",
        ));
    }
    validate_password(&password)?;
    let hash = hash_password(password).await?;
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    // A new password ends every other session of the account.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "user.password_changed",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({}),
        },
    )
    .await?;
    tx.commit().await
}

/// Whether the account has a password set (a welcomed account that never used its
/// link has none).
pub async fn has_password(store: &Store, user_id: i64) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL",
    )
    .bind(user_id)
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}

/// Makes a one-time welcome link for an account made on someone's behalf (a vendor's
/// contacts when it completes registration): with it the person sets the password.
/// Issued in the caller's transaction, beside the mail that carries it; earlier unused
/// links of the account stop working. Only the secret's digest is kept.
pub async fn issue_welcome_link(
    tx: &mut Tx,
    user_id: i64,
    ttl_hours: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let token = secrets::random_token("");
    sqlx::query("DELETE FROM account_links WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO account_links (token_hash, user_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, 'welcome', $3, $4)",
    )
    .bind(secrets::digest(&token))
    .bind(user_id)
    .bind(time::format(now))
    .bind(time::format(now + Duration::hours(ttl_hours as i64)))
    .execute(tx.conn())
    .await?;
    Ok(token)
}

/// The account a welcome link is for, while the link is unused and unexpired and
/// the account enabled; `None` otherwise, whatever the reason (a guess learns
/// nothing).
pub async fn welcome_link_user(store: &Store, token: &str) -> Result<Option<User>> {
    let user_id: Option<i64> = sqlx::query_scalar(
        "SELECT l.user_id FROM account_links l JOIN users u ON u.id = l.user_id \
         WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2 AND u.disabled_at IS NULL",
    )
    .bind(secrets::digest(token))
    .bind(store.now_str())
    .fetch_optional(store.pool())
    .await?;
    match user_id {
        Some(id) => Ok(Some(get_user(store, id).await?)),
        None => Ok(None),
    }
}

/// Sets the password through a welcome link, which is then used up.
pub async fn use_welcome_link(store: &Store, token: &str, password: String) -> Result<User> {
    let user = welcome_link_user(store, token)
        .await?
        .ok_or(CoreError::NotFound("welcome link"))?;
    validate_password(&password)?;
    let hash = hash_password(password).await?;
    let mut tx = store.begin().await?;
    let claimed = sqlx::query(
        "UPDATE account_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(store.now_str())
    .bind(secrets::digest(token))
    .execute(tx.conn())
    .await?
    .rows_affected();
    if claimed == 0 {
        return Err(CoreError::NotFound("welcome link"));
    }
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(user.id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "user.welcome_link_used",
            object_type: "user",
            object_id: user.id.to_string(),
            changes: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Checks a password and audits the attempt, successful or not. `from` is the client
/// address, kept in the audit row.
pub async fn login(store: &Store, email: &str, password: &str, from: &str) -> Result<LoginOutcome> {
    let email_norm = email.trim().to_lowercase();
    #[derive(sqlx::FromRow)]
    struct WithHash {
        #[sqlx(flatten)]
        user: User,
        password_hash: Option<String>,
    }
    let row: Option<WithHash> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
    )))
    .bind(&email_norm)
    .fetch_optional(store.pool())
    .await?;
    let (user, stored) = match row {
        Some(r) => (Some(r.user), r.password_hash),
        None => (None, None),
    };
    let matches = password_matches(password.to_string(), stored.clone()).await;
    match user {
        Some(user)
            if matches && stored.is_some() && !user.disabled && user.role.may_use_password() =>
        {
            audit::record_alone(
                store,
                &Actor::user(user.id, &user.email),
                Event {
                    action: "login.succeeded",
                    object_type: "user",
                    object_id: user.id.to_string(),
                    changes: json!({"from": from}),
                },
            )
            .await?;
            Ok(LoginOutcome::Success(user.info()))
        }
        user => {
            audit::record_alone(
                store,
                &Actor::anonymous(from),
                Event {
                    action: "login.failed",
                    object_type: "user",
                    object_id: user.map(|u| u.id.to_string()).unwrap_or_default(),
                    changes: json!({"email": email_norm.chars().take(254).collect::<String>(), "from": from}),
                },
            )
            .await?;
            Ok(LoginOutcome::Failed)
        }
    }
}

/// Records a login refused by the rate limiter, so that floods show in the log.
pub async fn login_throttled(store: &Store, email: &str, from: &str) -> Result<()> {
    audit::record_alone(
        store,
        &Actor::anonymous(from),
        Event {
            action: "login.throttled",
            object_type: "user",
            object_id: String::new(),
            changes: json!({"email": email.trim().to_lowercase().chars().take(254).collect::<String>(), "from": from}),
        },
    )
    .await?;
    Ok(())
}

/// Where a session was opened from, for its owner's list of sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionOrigin<'a> {
    pub client: &'a str,
    pub user_agent: &'a str,
    /// How the person signed in: `password` (the default), `second_factor`, `sso`.
    pub method: &'a str,
}

/// Opens a session and returns the secret to put in the cookie.
pub async fn create_session(
    store: &Store,
    user_id: i64,
    ttl_minutes: u64,
    origin: SessionOrigin<'_>,
) -> Result<String> {
    let token = secrets::random_token(SESSION_PREFIX);
    let now = store.now();
    let expires = now + Duration::minutes(ttl_minutes as i64);
    let user_agent: String = origin.user_agent.chars().take(200).collect();
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, client, user_agent, method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(secrets::digest(&token))
    .bind(user_id)
    .bind(time::format(now))
    .bind(time::format(expires))
    .bind(time::format(now))
    .bind(origin.client)
    .bind(user_agent)
    .bind(if origin.method.is_empty() {
        "password"
    } else {
        origin.method
    })
    .execute(tx.conn())
    .await?;
    // Housekeeping: sessions that ran out long ago are of no further use.
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(time::format(now - Duration::days(7)))
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// Looks a session cookie up and, if it is valid, extends it (sliding expiry).
pub async fn session(store: &Store, token: &str, ttl_minutes: u64) -> Result<SessionLookup> {
    if !token.starts_with(SESSION_PREFIX) {
        return Ok(SessionLookup::Unknown);
    }
    let hash = secrets::digest(token);
    let row: Option<(i64, String, String, String)> = sqlx::query_as(
        "SELECT user_id, expires_at, last_seen_at, method FROM sessions WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(store.pool())
    .await?;
    let Some((user_id, expires_at, last_seen_at, method)) = row else {
        return Ok(SessionLookup::Unknown);
    };
    let now = store.now();
    let expires = time::parse(&expires_at).unwrap_or(now);
    if expires <= now {
        return Ok(SessionLookup::Expired);
    }
    let user = get_user(store, user_id).await?;
    if user.disabled {
        return Ok(SessionLookup::Unknown);
    }
    let last_seen = time::parse(&last_seen_at).unwrap_or(now);
    // Extending on every request would turn each page view into a write.
    if now - last_seen > Duration::seconds(60) {
        let mut tx = store.begin().await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3")
            .bind(time::format(now))
            .bind(time::format(now + Duration::minutes(ttl_minutes as i64)))
            .bind(&hash)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
    }
    Ok(SessionLookup::Valid(user.info(), method))
}

/// The account's sessions that have not run out, newest first. `current` is the
/// secret of the session asking, to mark it.
pub async fn list_sessions(
    store: &Store,
    user_id: i64,
    current: Option<&str>,
) -> Result<Vec<SessionInfo>> {
    let current = current.map(secrets::digest);
    #[derive(sqlx::FromRow)]
    struct Stored {
        token_hash: String,
        #[sqlx(flatten)]
        session: SessionInfo,
    }
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT token_hash, created_at, last_seen_at, expires_at, client, user_agent FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
    )
    .bind(user_id)
    .bind(store.now_str())
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SessionInfo {
            id: session_handle(&r.token_hash),
            current: current.as_deref() == Some(r.token_hash.as_str()),
            ..r.session
        })
        .collect())
}

/// A session's handle: the first 16 hex digits of its hash, which is itself the
/// hash of a secret, so the handle gives nothing away.
fn session_handle(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// Ends one of `user_id`'s sessions by its handle; another account's is "not found".
pub async fn revoke_session(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    handle: &str,
) -> Result<()> {
    if handle.len() != 16 || !handle.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CoreError::NotFound("session"));
    }
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(store.pool())
            .await?;
    let Some(hash) = hashes.into_iter().find(|h| session_handle(h) == handle) else {
        return Err(CoreError::NotFound("session"));
    };
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1 AND user_id = $2")
        .bind(&hash)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "session.revoked",
            object_type: "user",
            object_id: user_id.to_string(),
            changes: json!({"session": handle}),
        },
    )
    .await?;
    tx.commit().await
}

pub async fn end_session(store: &Store, actor: &Actor, token: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    let removed = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(secrets::digest(token))
        .execute(tx.conn())
        .await?
        .rows_affected();
    if removed > 0
        && let Some(user_id) = actor.user_id
    {
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "logout",
                object_type: "user",
                object_id: user_id.to_string(),
                changes: json!({}),
            },
        )
        .await?;
    }
    tx.commit().await
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at";

/// Issues a token for `user_id` with every scope its role may hold, as the
/// installation itself (the command line, sensor registration).
pub async fn create_token(
    store: &Store,
    actor: &Actor,
    user_id: i64,
    name: &str,
) -> Result<(ApiToken, String)> {
    let role = get_user(store, user_id).await?.role;
    let new = NewToken {
        name,
        scopes: Some(Scopes::of(Scope::allowed_for(role))),
        expires_in_days: None,
    };
    issue_token(store, actor, &Issuer::System, user_id, new).await
}

/// Issues an API token for `user_id`; the secret is returned once and never stored.
///
/// A person signed in may issue tokens for their own account, an admin for any; a
/// token may issue only if it has the admin scope, and never one with a scope it
/// lacks itself. No token gets a scope its account's role may not hold.
pub async fn issue_token(
    store: &Store,
    actor: &Actor,
    issuer: &Issuer,
    user_id: i64,
    new: NewToken<'_>,
) -> Result<(ApiToken, String)> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CoreError::invalid(
            "name",
            "give the token a name of 1 to 100 characters",
        ));
    }
    let (caller, ceiling) = match issuer {
        Issuer::System => (None, None),
        Issuer::Session(u) => (Some(u), None),
        Issuer::Token(u, scopes) => {
            if !scopes.has(Scope::Admin) {
                return Err(CoreError::Forbidden);
            }
            (Some(u), Some(scopes))
        }
    };
    if let Some(caller) = caller
        && user_id != caller.id
        && caller.role != Role::Admin
    {
        return Err(CoreError::Forbidden);
    }
    let user = get_user(store, user_id).await?;
    if user.disabled {
        return Err(CoreError::invalid("user_id", "the account is disabled"));
    }
    let scopes = new.scopes.unwrap_or_else(|| Scopes::default_for(user.role));
    let allowed = Scopes::of(Scope::allowed_for(user.role));
    if !scopes.is_within(&allowed) {
        return Err(CoreError::invalid(
            "scopes",
            format!(
                "a {} account's token may have only: {}",
                user.role.as_str(),
                allowed.as_string()
            ),
        ));
    }
    if let Some(ceiling) = ceiling
        && !scopes.is_within(ceiling)
    {
        return Err(CoreError::invalid(
            "scopes",
            format!(
                "a token may not issue one wider than itself ({})",
                ceiling.as_string()
            ),
        ));
    }
    if new.expires_in_days == Some(0) || new.expires_in_days.is_some_and(|d| d > 3650) {
        return Err(CoreError::invalid(
            "expires_in_days",
            "from 1 to 3650 days, or none",
        ));
    }
    let now = store.now();
    let expires_at = new
        .expires_in_days
        .map(|d| time::format(now + Duration::days(i64::from(d))));
    let secret = secrets::random_token(TOKEN_PREFIX);
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(secrets::digest(&secret))
    .bind(time::format(now))
    .bind(scopes.as_string())
    .bind(&expires_at)
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "token.created",
            object_type: "api_token",
            object_id: id.to_string(),
            changes: json!({"user_id": user_id, "name": name, "scopes": scopes.as_string(), "expires_at": expires_at}),
        },
    )
    .await?;
    tx.commit().await?;
    let token = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(store.pool())
    .await?;
    Ok((token, secret))
}

pub async fn list_tokens(store: &Store, user_id: i64) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id"
    )))
    .bind(user_id)
    .fetch_all(store.pool())
    .await?)
}

/// Revokes one of `owner`'s tokens; a token of somebody else is "not found".
pub async fn revoke_token(store: &Store, actor: &Actor, owner: i64, token_id: i64) -> Result<()> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(store.now_str())
    .bind(token_id)
    .bind(owner)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(CoreError::NotFound("token"));
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "token.revoked",
            object_type: "api_token",
            object_id: token_id.to_string(),
            changes: json!({"user_id": owner}),
        },
    )
    .await?;
    tx.commit().await
}

/// The account behind a bearer token and the token's scopes, if the token is known,
/// unrevoked, not expired and its account enabled.
pub async fn token_user(store: &Store, secret: &str) -> Result<Option<TokenHolder>> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    /// The token's id, account, scopes, expiry and last use.
    type Found = (i64, i64, Scopes, Option<String>, Option<String>);
    let row: Option<Found> = sqlx::query_as("SELECT id, user_id, scopes, expires_at, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(secrets::digest(secret))
        .fetch_optional(store.pool())
        .await?;
    let Some((id, user_id, scopes, expires_at, last_used_at)) = row else {
        return Ok(None);
    };
    let now = store.now();
    let expired = expires_at.is_some_and(|t| time::parse(&t).is_none_or(|t| t <= now));
    if expired {
        return Ok(None);
    }
    let user = get_user(store, user_id).await?;
    if user.disabled {
        return Ok(None);
    }
    let stale = last_used_at
        .and_then(|t| time::parse(&t))
        .is_none_or(|t| now - t > Duration::seconds(60));
    if stale {
        let mut tx = store.begin().await?;
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(time::format(now))
            .bind(id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
    }
    Ok(Some(TokenHolder {
        user: user.info(),
        scopes,
    }))
}

/// On an installation without accounts, issues a one-time link secret for creating
/// the first admin; older unused links stop working.
pub async fn first_admin_setup_token(store: &Store, ttl_hours: u64) -> Result<Option<String>> {
    if user_count(store).await? > 0 {
        return Ok(None);
    }
    let token = secrets::random_token("");
    let now = store.now();
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL")
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(secrets::digest(&token))
    .bind(time::format(now))
    .bind(time::format(now + Duration::hours(ttl_hours as i64)))
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

pub async fn setup_token_is_valid(store: &Store, token: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(secrets::digest(token))
    .bind(store.now_str())
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0 && user_count(store).await? == 0)
}

/// Creates the first admin through the one-time link.
pub async fn complete_setup(
    store: &Store,
    token: &str,
    email: &str,
    display_name: &str,
    password: String,
    lang: Lang,
) -> Result<User> {
    if !setup_token_is_valid(store, token).await? {
        return Err(CoreError::NotFound("setup link"));
    }
    let user = create_user(
        store,
        &Actor::system("setup"),
        NewUser {
            email: email.to_string(),
            display_name: display_name.to_string(),
            role: Role::Admin,
            org_id: None,
            password: Some(password),
            lang,
        },
    )
    .await?;
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2")
        .bind(store.now_str())
        .bind(secrets::digest(token))
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(user)
}
