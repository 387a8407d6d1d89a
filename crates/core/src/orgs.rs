//! The shared address book: organizations (the team itself, constituents, product
//! developers, partner CSIRTs, ISPs and network owners) and their contacts.

use serde::{Deserialize, Serialize};
use serde_json::json;

use sqlx::AssertSqlSafe;

use crate::audit::{self, Actor, Event};
use crate::lang::Lang;
use crate::{CoreError, Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// The coordination center itself.
    Team,
    Constituent,
    /// A product developer (vendor).
    Vendor,
    /// A partner CSIRT, national or other.
    Csirt,
    /// An ISP or other network owner that receives notifications.
    Isp,
    /// Where the team points people for what it does not do itself: the police,
    /// consumer affairs centres, lawyers' associations (with topics and a region).
    Referral,
}

impl TryFrom<String> for OrgKind {
    type Error = CoreError;
    fn try_from(s: String) -> Result<OrgKind> {
        OrgKind::parse(&s)
    }
}

crate::text_column!(OrgKind);

impl OrgKind {
    pub const ALL: [OrgKind; 6] = [
        OrgKind::Team,
        OrgKind::Constituent,
        OrgKind::Vendor,
        OrgKind::Csirt,
        OrgKind::Isp,
        OrgKind::Referral,
    ];

    pub fn parse(s: &str) -> Result<OrgKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "team" => Ok(OrgKind::Team),
            "constituent" => Ok(OrgKind::Constituent),
            "vendor" | "product-developer" => Ok(OrgKind::Vendor),
            "csirt" => Ok(OrgKind::Csirt),
            "isp" | "network-owner" => Ok(OrgKind::Isp),
            "referral" => Ok(OrgKind::Referral),
            other => Err(CoreError::invalid(
                "kind",
                format!(
                    "unknown organization kind {other:?}; use team, constituent, vendor, csirt, isp or referral"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Team => "team",
            OrgKind::Constituent => "constituent",
            OrgKind::Vendor => "vendor",
            OrgKind::Csirt => "csirt",
            OrgKind::Isp => "isp",
            OrgKind::Referral => "referral",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub kind: OrgKind,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub domain: Option<String>,
    pub notes: String,
    pub created_at: String,
    pub updated_at: String,
    /// What a referral organization takes (police, consumer, legal, …), comma
    /// separated lower-case words; empty for other kinds.
    pub topics: String,
    /// Where it serves: a country (JP) or a subdivision (JP-13); empty: everywhere.
    pub region: String,
}

impl Organization {
    /// The topics, one word each.
    pub fn topic_list(&self) -> Vec<&str> {
        self.topics
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    pub kind: OrgKind,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub notes: String,
    /// For referral organizations: what they take, comma separated.
    #[serde(default)]
    pub topics: String,
    /// For referral organizations: where they serve (JP, JP-13); empty: everywhere.
    #[serde(default)]
    pub region: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Contact {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    /// ASCII-armored OpenPGP public key for encrypted mail.
    pub pgp_key: Option<String>,
    pub lang: Lang,
    /// What the contact is for: general, security (POC), abuse, …
    pub role: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub pgp_key: Option<String>,
    #[serde(default)]
    pub lang: Lang,
    #[serde(default)]
    pub role: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

const ORG_COLUMNS: &str =
    "id, name, kind, country, domain, notes, created_at, updated_at, topics, region";
const CONTACT_COLUMNS: &str = "id, org_id, name, email, phone, pgp_key, lang, role, created_at";

/// The organization's fields, trimmed and checked.
struct Checked {
    name: String,
    country: Option<String>,
    domain: Option<String>,
    notes: String,
    topics: String,
    region: String,
}

fn check(new: NewOrganization) -> Result<Checked> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(CoreError::invalid(
            "name",
            "give a name of 1 to 200 characters",
        ));
    }
    let country = non_empty(new.country).map(|c| c.to_ascii_uppercase());
    if let Some(c) = &country
        && !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
    {
        return Err(CoreError::invalid(
            "country",
            format!("{c:?} is not a two-letter country code"),
        ));
    }
    let domain = non_empty(new.domain).map(|d| d.to_ascii_lowercase());
    if let Some(d) = &domain
        && (d.contains(char::is_whitespace) || !d.contains('.') || d.contains('@'))
    {
        return Err(CoreError::invalid(
            "domain",
            format!("{d:?} is not a domain name"),
        ));
    }
    let mut topics: Vec<String> = new
        .topics
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    topics.sort();
    topics.dedup();
    if topics.iter().any(|t| t.chars().count() > 40) || topics.len() > 20 {
        return Err(CoreError::invalid(
            "topics",
            "at most 20 topics of 40 characters each, comma separated",
        ));
    }
    let region = new.region.trim().to_ascii_uppercase();
    let valid_region = region.is_empty()
        || (region.len() >= 2
            && region.len() <= 6
            && region[..2].chars().all(|c| c.is_ascii_uppercase())
            && (region.len() == 2
                || (region.as_bytes()[2] == b'-'
                    && region[3..].chars().all(|c| c.is_ascii_alphanumeric())
                    && region.len() > 3)));
    if !valid_region {
        return Err(CoreError::invalid(
            "region",
            format!("{region:?} is not a country (JP) or a subdivision (JP-13)"),
        ));
    }
    Ok(Checked {
        name,
        country,
        domain,
        notes: new.notes.trim().to_string(),
        topics: topics.join(","),
        region,
    })
}

/// Changes an organization's details; the audit row keeps each old and new value.
/// The kind stays: accounts (and later cases) depend on it.
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: i64,
    changed: NewOrganization,
) -> Result<Organization> {
    let before = get(store, id).await?;
    if changed.kind != before.kind {
        return Err(CoreError::invalid(
            "kind",
            "the kind of an organization cannot change; add a new one",
        ));
    }
    let c = check(changed)?;
    let mut diff = serde_json::Map::new();
    if c.name != before.name {
        diff.insert("name".into(), json!([before.name, c.name]));
    }
    if c.country != before.country {
        diff.insert("country".into(), json!([before.country, c.country]));
    }
    if c.domain != before.domain {
        diff.insert("domain".into(), json!([before.domain, c.domain]));
    }
    if c.notes != before.notes {
        diff.insert("notes".into(), json!([before.notes, c.notes]));
    }
    if c.topics != before.topics {
        diff.insert("topics".into(), json!([before.topics, c.topics]));
    }
    if c.region != before.region {
        diff.insert("region".into(), json!([before.region, c.region]));
    }
    if diff.is_empty() {
        return Ok(before);
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE organizations SET name = $1, country = $2, domain = $3, notes = $4, updated_at = $5, topics = $7, region = $8 WHERE id = $6")
        .bind(&c.name)
        .bind(&c.country)
        .bind(&c.domain)
        .bind(&c.notes)
        .bind(store.now_str())
        .bind(id)
        .bind(&c.topics)
        .bind(&c.region)
        .execute(tx.conn())
        .await
        .map_err(|e| CoreError::from_insert(e, "an organization with this name"))?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "org.updated",
            object_type: "organization",
            object_id: id.to_string(),
            changes: serde_json::Value::Object(diff),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await
}

pub async fn create(store: &Store, actor: &Actor, new: NewOrganization) -> Result<Organization> {
    let kind = new.kind;
    let Checked {
        name,
        country,
        domain,
        notes,
        topics,
        region,
    } = check(new)?;
    let now = store.now_str();
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO organizations (name, kind, country, domain, notes, created_at, updated_at, topics, region)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) RETURNING id",
    )
    .bind(&name)
    .bind(kind.as_str())
    .bind(&country)
    .bind(&domain)
    .bind(&notes)
    .bind(&now)
    .bind(&topics)
    .bind(&region)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| CoreError::from_insert(e, "an organization with this name"))?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "org.created",
            object_type: "organization",
            object_id: id.to_string(),
            changes: json!({"name": name, "kind": kind.as_str(), "country": country, "domain": domain, "topics": topics, "region": region}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await
}

pub async fn get(store: &Store, id: i64) -> Result<Organization> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(CoreError::NotFound("organization"))
}

pub async fn list(store: &Store, kind: Option<OrgKind>) -> Result<Vec<Organization>> {
    Ok(match kind {
        Some(k) => {
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {ORG_COLUMNS} FROM organizations WHERE kind = $1 ORDER BY name"
            )))
            .bind(k.as_str())
            .fetch_all(store.pool())
            .await?
        }
        None => {
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {ORG_COLUMNS} FROM organizations ORDER BY name"
            )))
            .fetch_all(store.pool())
            .await?
        }
    })
}

pub async fn add_contact(
    store: &Store,
    actor: &Actor,
    org_id: i64,
    new: NewContact,
) -> Result<Contact> {
    get(store, org_id).await?;
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(CoreError::invalid(
            "name",
            "give a name of 1 to 200 characters",
        ));
    }
    let email = crate::accounts::validate_email(&new.email)?;
    let pgp_key = non_empty(new.pgp_key);
    if let Some(k) = &pgp_key
        && !k.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    {
        return Err(CoreError::invalid(
            "pgp_key",
            "paste an ASCII-armored OpenPGP public key block",
        ));
    }
    let role = non_empty(new.role).unwrap_or_else(|| "general".into());
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO contacts (org_id, name, email, phone, pgp_key, lang, role, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(org_id)
    .bind(&name)
    .bind(&email)
    .bind(non_empty(new.phone))
    .bind(&pgp_key)
    .bind(new.lang.as_str())
    .bind(&role)
    .bind(store.now_str())
    .fetch_one(tx.conn())
    .await?;
    sqlx::query("UPDATE organizations SET updated_at = $1 WHERE id = $2")
        .bind(store.now_str())
        .bind(org_id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "contact.created",
            object_type: "organization",
            object_id: org_id.to_string(),
            changes: json!({"contact_id": id, "name": name, "email": email, "role": role,
                            "lang": new.lang.as_str(), "pgp_key": pgp_key.is_some()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(store.pool())
    .await?)
}

pub async fn contacts(store: &Store, org_id: i64) -> Result<Vec<Contact>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org_id)
    .fetch_all(store.pool())
    .await?)
}

/// The contacts of any organization with this address (any case), those with a key
/// first: who someone written to or heard from is.
pub async fn contacts_by_email(
    conn: &mut sqlx::AnyConnection,
    email: &str,
) -> Result<Vec<Contact>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE lower(email) = $1
         ORDER BY CASE WHEN pgp_key IS NULL THEN 1 ELSE 0 END, id"
    )))
    .bind(email.trim().to_ascii_lowercase())
    .fetch_all(conn)
    .await?)
}

pub async fn remove_contact(
    store: &Store,
    actor: &Actor,
    org_id: i64,
    contact_id: i64,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let (name, email): (String, String) =
        sqlx::query_as("SELECT name, email FROM contacts WHERE id = $1 AND org_id = $2")
            .bind(contact_id)
            .bind(org_id)
            .fetch_optional(tx.conn())
            .await?
            .ok_or(CoreError::NotFound("contact"))?;
    sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(contact_id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "contact.removed",
            object_type: "organization",
            object_id: org_id.to_string(),
            changes: json!({"contact_id": contact_id, "name": name, "email": email}),
        },
    )
    .await?;
    tx.commit().await
}
