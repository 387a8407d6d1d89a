//! The product-developer registry: a public application opens a vendor in
//! `applied`; coordinators move it through the registration steps to `registered`
//! (recording the version of the terms it agreed to); each vendor has contacts with
//! OpenPGP keys, a product list and the languages it works in. What each step
//! leaves behind, and what it needs, is in [`crate::registration`].

use renkei_core::access::Principal;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::orgs::{self, NewOrganization, OrgKind};
use renkei_core::row::{Bit, Commas};
use renkei_core::{Store, accounts, time};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::VendorState;
use crate::{Result, VulnError, registration};

/// A public application to join the registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub company: String,
    /// The point of contact's name.
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub pgp_key: Option<String>,
    #[serde(default)]
    pub products: Vec<String>,
    /// `ja`, `en` or both; Japanese when none is given.
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// The vendor prefers case details by encrypted mail over the portal.
    #[serde(default)]
    pub by_mail: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Vendor {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub state: VendorState,
    #[sqlx(try_from = "Commas")]
    pub languages: Vec<String>,
    #[sqlx(try_from = "Bit")]
    pub by_mail: bool,
    pub terms_version: Option<String>,
    pub applied_at: String,
    pub registered_at: Option<String>,
    pub state_changed_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct VendorContact {
    pub id: i64,
    pub name: String,
    pub email: String,
    #[sqlx(skip)]
    pub has_key: bool,
    pub key_fingerprint: Option<String>,
    pub key_expires_at: Option<String>,
    /// `none`, `valid`, `expires_soon` (within 30 days) or `expired`.
    #[sqlx(skip)]
    pub key_status: &'static str,
    #[serde(skip)]
    pub pgp_key: Option<String>,
    /// When the key's fingerprint was confirmed with the contact by another channel.
    pub key_confirmed_at: Option<String>,
    pub key_confirmed_by: String,
    /// The contact's address has an account of the vendor's organization.
    #[sqlx(try_from = "Bit")]
    pub has_account: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct VendorProduct {
    pub id: i64,
    pub name: String,
    pub cpe: Option<String>,
    pub purl: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VendorDetail {
    #[serde(flatten)]
    pub vendor: Vendor,
    pub contacts: Vec<VendorContact>,
    pub products: Vec<VendorProduct>,
    /// The application as it came in (the first registration step's record).
    pub application: serde_json::Value,
    /// The documents exchanged during registration, with their digests.
    pub documents: Vec<crate::registration::VendorDocument>,
    /// The registration meeting's record (the team's; not shown to the vendor).
    pub meetings: Vec<crate::registration::VendorMeeting>,
}

/// A registration step taken, and, when it completed registration, the accounts made
/// for the vendor's contacts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StateOutcome {
    #[serde(flatten)]
    pub vendor: Vendor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welcomed: Option<crate::registration::Welcomed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub pgp_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub cpe: Option<String>,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    pub state: String,
    /// Required when the state becomes `terms_agreed`: the version agreed to.
    #[serde(default)]
    pub terms_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Terms {
    pub version: String,
    pub body: String,
    pub created_at: String,
}

const VENDOR_COLUMNS: &str = "v.id, v.org_id, o.name, v.state, v.languages, v.by_mail, v.terms_version, \
     v.applied_at, v.registered_at, v.state_changed_at";

fn languages(given: &[String]) -> Result<String> {
    let mut out: Vec<&str> = Vec::new();
    for l in given {
        match l.trim().to_ascii_lowercase().as_str() {
            "ja" => out.push("ja"),
            "en" => out.push("en"),
            "" => {}
            other => {
                return Err(VulnError::invalid(
                    "languages",
                    format!("{other:?} is not a language the team works in; use ja or en"),
                ));
            }
        }
    }
    out.dedup();
    if out.is_empty() {
        out.push("ja");
    }
    Ok(out.join(","))
}

struct KeyFacts {
    fingerprint: Option<String>,
    expires_at: Option<String>,
}

fn key_facts(key: Option<&str>) -> Result<(Option<String>, KeyFacts)> {
    match key.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok((
            None,
            KeyFacts {
                fingerprint: None,
                expires_at: None,
            },
        )),
        Some(armored) => {
            let facts = renkei_mail::pgp::key_facts(armored)
                .map_err(|e| VulnError::invalid("pgp_key", e.to_string()))?;
            Ok((
                Some(armored.to_string()),
                KeyFacts {
                    fingerprint: Some(facts.fingerprint),
                    expires_at: facts
                        .expires_at
                        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                        .map(time::format),
                },
            ))
        }
    }
}

/// Takes a public application: a vendor organization in `applied`, its first point
/// of contact and its products.
pub async fn apply(store: &Store, from: &str, app: Application, now: &str) -> Result<Vendor> {
    let company = app.company.trim();
    if company.is_empty() || company.len() > 200 {
        return Err(VulnError::invalid(
            "company",
            "give the company's name (at most 200 characters)",
        ));
    }
    let email = accounts::validate_email(&app.email)?;
    let name = app.name.trim();
    if name.is_empty() {
        return Err(VulnError::invalid(
            "name",
            "give the point of contact's name",
        ));
    }
    let langs = languages(&app.languages)?;
    let (key, facts) = key_facts(app.pgp_key.as_deref())?;
    let products: Vec<&str> = app
        .products
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if products.iter().any(|p| p.len() > 200) {
        return Err(VulnError::invalid(
            "products",
            "a product name has at most 200 characters",
        ));
    }
    let actor = Actor::anonymous(from);
    let org = orgs::create(
        store,
        &actor,
        NewOrganization {
            name: company.to_string(),
            kind: OrgKind::Vendor,
            country: app.country.clone().filter(|c| !c.trim().is_empty()),
            domain: email.rsplit_once('@').map(|(_, d)| d.to_string()),
            notes: String::new(),
            topics: String::new(),
            region: String::new(),
        },
    )
    .await
    .map_err(|e| match e {
        renkei_core::CoreError::Conflict(_) => VulnError::Conflict(format!(
            "{company} is already in the registry or has applied; the coordinators will contact you"
        )),
        other => other.into(),
    })?;
    let mut tx = store.begin().await?;
    let application = json!({
        "company": company, "name": name, "email": email, "products": products,
        "languages": langs, "by_mail": app.by_mail, "from": from,
    });
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO vendors (org_id, state, languages, by_mail, application, applied_at, state_changed_at) \
         VALUES ($1, 'applied', $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(org.id)
    .bind(&langs)
    .bind(i64::from(app.by_mail))
    .bind(application.to_string())
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO vendor_contacts (vendor_id, name, email, pgp_key, key_fingerprint, key_expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(name)
    .bind(&email)
    .bind(&key)
    .bind(&facts.fingerprint)
    .bind(&facts.expires_at)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let mut seen = std::collections::HashSet::new();
    for p in products.iter().filter(|p| seen.insert(p.to_lowercase())) {
        sqlx::query(
            "INSERT INTO vendor_products (vendor_id, name, created_at) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(*p)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "vendor.apply",
            object_type: "vendor",
            object_id: id.to_string(),
            changes: application,
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await.map(|d| d.vendor)
}

pub async fn list(store: &Store) -> Result<Vec<Vendor>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VENDOR_COLUMNS} FROM vendors v JOIN organizations o ON o.id = v.org_id ORDER BY o.name"
    )))
    .fetch_all(store.pool())
    .await?)
}

pub async fn get(store: &Store, id: i64) -> Result<VendorDetail> {
    let vendor: Vendor = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VENDOR_COLUMNS} FROM vendors v JOIN organizations o ON o.id = v.org_id WHERE v.id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(VulnError::NotFound("vendor"))?;
    let now = store.now();
    let mut contacts: Vec<VendorContact> = sqlx::query_as(
        "SELECT c.id, c.name, c.email, c.pgp_key, c.key_fingerprint, c.key_expires_at, c.key_confirmed_at, \
                c.key_confirmed_by, CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.email = c.email AND u.org_id = $2) \
                THEN 1 ELSE 0 END AS has_account \
         FROM vendor_contacts c WHERE c.vendor_id = $1 ORDER BY c.id",
    )
    .bind(id)
    .bind(vendor.org_id)
    .fetch_all(store.pool())
    .await?;
    for c in &mut contacts {
        c.has_key = c.pgp_key.is_some();
        c.key_status = match (
            &c.pgp_key,
            c.key_expires_at.as_deref().and_then(time::parse),
        ) {
            (None, _) => "none",
            (Some(_), Some(t)) if t <= now => "expired",
            (Some(_), Some(t)) if t <= now + chrono::Duration::days(30) => "expires_soon",
            _ => "valid",
        };
    }
    let products = products(store, id).await?;
    let application: String = sqlx::query_scalar("SELECT application FROM vendors WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await?;
    Ok(VendorDetail {
        vendor,
        contacts,
        products,
        application: serde_json::from_str(&application).unwrap_or_default(),
        documents: crate::registration::documents(store, id).await?,
        meetings: crate::registration::meetings(store, id).await?,
    })
}

pub async fn products(store: &Store, vendor_id: i64) -> Result<Vec<VendorProduct>> {
    Ok(sqlx::query_as(
        "SELECT id, name, cpe, purl FROM vendor_products WHERE vendor_id = $1 ORDER BY name",
    )
    .bind(vendor_id)
    .fetch_all(store.pool())
    .await?)
}

/// The registry entry of the organization a vendor user belongs to: vendor users see
/// their own organization and nothing else.
pub async fn own(store: &Store, principal: &Principal) -> Result<VendorDetail> {
    let mut detail = get(store, own_id(store, principal).await?).await?;
    // The meeting record is the team's notes; the application keeps the address it
    // came from.
    detail.meetings.clear();
    if let Some(app) = detail.application.as_object_mut() {
        app.remove("from");
    }
    Ok(detail)
}

/// The registry id of the vendor user's own organization; "not found" for anyone
/// else.
pub async fn own_id(store: &Store, principal: &Principal) -> Result<i64> {
    let org = renkei_core::access::CaseView::own_vendor_org(principal)
        .ok_or(VulnError::NotFound("vendor"))?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM vendors WHERE org_id = $1")
        .bind(org)
        .fetch_optional(store.pool())
        .await?;
    id.ok_or(VulnError::NotFound("vendor"))
}

/// Takes a registration step (or suspends, reinstates, withdraws). A step is taken
/// only when what it stands for is on record (see [`registration::missing_for`]);
/// completing registration makes the contacts' accounts and sends their welcome.
pub async fn set_state(
    store: &Store,
    settings: &crate::Settings,
    actor: &Actor,
    id: i64,
    change: StateChange,
    now: &str,
) -> Result<StateOutcome> {
    let to = VendorState::parse(&change.state)?;
    let detail = get(store, id).await?;
    let current = detail.vendor.clone();
    if !current.state.may_become(to) {
        return Err(VulnError::Conflict(format!(
            "a vendor in {} cannot become {}",
            current.state.as_str(),
            to.as_str()
        )));
    }
    let missing = registration::missing_for(store, &detail, to).await?;
    if !missing.is_empty() {
        return Err(VulnError::Conflict(format!(
            "before the vendor is {}: {}",
            to.as_str(),
            missing.join("; ")
        )));
    }
    let mut tx = store.begin().await?;
    let terms = if to == VendorState::TermsAgreed {
        let version = change
            .terms_version
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                VulnError::invalid("terms_version", "name the version of the terms agreed to")
            })?;
        let known: Option<String> =
            sqlx::query_scalar("SELECT version FROM vendor_terms WHERE version = $1")
                .bind(version)
                .fetch_optional(tx.conn())
                .await?;
        Some(known.ok_or_else(|| {
            VulnError::invalid(
                "terms_version",
                format!("no terms with version {version:?}; add them first"),
            )
        })?)
    } else {
        current.terms_version.clone()
    };
    let registered_at = match (to, &current.registered_at) {
        (VendorState::Registered, None) => Some(now.to_string()),
        (_, r) => r.clone(),
    };
    sqlx::query(
        "UPDATE vendors SET state = $1, terms_version = $2, registered_at = $3, state_changed_at = $4 WHERE id = $5",
    )
    .bind(to.as_str())
    .bind(&terms)
    .bind(&registered_at)
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.state",
            object_type: "vendor",
            object_id: id.to_string(),
            changes: json!({"state": [current.state, to], "terms_version": terms}),
        },
    )
    .await?;
    tx.commit().await?;
    let welcomed = if to == VendorState::Registered && current.registered_at.is_none() {
        Some(registration::welcome_contacts(store, settings, actor, id, None).await?)
    } else {
        None
    };
    Ok(StateOutcome {
        vendor: get(store, id).await?.vendor,
        welcomed,
    })
}

/// Adds a point of contact. At a registered vendor the contact gets its account and
/// welcome mail at once.
pub async fn add_contact(
    store: &Store,
    settings: &crate::Settings,
    actor: &Actor,
    vendor_id: i64,
    new: NewContact,
    now: &str,
) -> Result<VendorContact> {
    let registered = get(store, vendor_id).await?.vendor.state == VendorState::Registered;
    let email = accounts::validate_email(&new.email)?;
    let (key, facts) = key_facts(new.pgp_key.as_deref())?;
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO vendor_contacts (vendor_id, name, email, pgp_key, key_fingerprint, key_expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(vendor_id)
    .bind(new.name.trim())
    .bind(&email)
    .bind(&key)
    .bind(&facts.fingerprint)
    .bind(&facts.expires_at)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| VulnError::from_insert(e, "a contact with this address"))?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.contact_add",
            object_type: "vendor",
            object_id: vendor_id.to_string(),
            changes: json!({"contact": id, "email": email, "key": facts.fingerprint}),
        },
    )
    .await?;
    tx.commit().await?;
    if registered {
        registration::welcome_contacts(store, settings, actor, vendor_id, Some(id)).await?;
    }
    get(store, vendor_id)
        .await?
        .contacts
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(VulnError::NotFound("contact"))
}

pub async fn add_product(
    store: &Store,
    actor: &Actor,
    vendor_id: i64,
    new: NewProduct,
    now: &str,
) -> Result<VendorProduct> {
    get(store, vendor_id).await?;
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(VulnError::invalid(
            "name",
            "give the product's name (at most 200 characters)",
        ));
    }
    let cpe = new
        .cpe
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = &cpe
        && !(c.starts_with("cpe:2.3:") || c.starts_with("cpe:/"))
    {
        return Err(VulnError::invalid(
            "cpe",
            format!("{c:?} is not a CPE name (cpe:2.3:… or cpe:/…)"),
        ));
    }
    let purl = new
        .purl
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(p) = &purl
        && !valid_purl(p)
    {
        return Err(VulnError::invalid(
            "purl",
            format!("{p:?} is not a package URL (pkg:type/name)"),
        ));
    }
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO vendor_products (vendor_id, name, cpe, purl, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(vendor_id)
    .bind(name)
    .bind(&cpe)
    .bind(&purl)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| VulnError::from_insert(e, "a product with this name"))?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.product_add",
            object_type: "vendor",
            object_id: vendor_id.to_string(),
            changes: json!({"product": id, "name": name, "cpe": cpe, "purl": purl}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(VendorProduct {
        id,
        name: name.to_string(),
        cpe,
        purl,
    })
}

/// `pkg:type/namespace/name@version`: the shape CSAF's test 6.1.13 checks.
pub fn valid_purl(p: &str) -> bool {
    let Some(rest) = p.strip_prefix("pkg:") else {
        return false;
    };
    let Some((kind, name)) = rest.split_once('/') else {
        return false;
    };
    !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'+' || b == b'-')
        && !kind.as_bytes()[0].is_ascii_digit()
        && !name.trim_matches('/').is_empty()
        && !p.contains(char::is_whitespace)
}

pub async fn set_terms(
    store: &Store,
    actor: &Actor,
    version: &str,
    body: &str,
    now: &str,
) -> Result<Terms> {
    let version = version.trim();
    if version.is_empty() || version.len() > 40 || body.trim().is_empty() {
        return Err(VulnError::invalid(
            "version",
            "terms need a version (at most 40 characters) and a text",
        ));
    }
    let mut tx = store.begin().await?;
    sqlx::query("INSERT INTO vendor_terms (version, body, created_at) VALUES ($1, $2, $3)")
        .bind(version)
        .bind(body)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| {
            VulnError::from_insert(e, "terms with this version (versions are never rewritten)")
        })?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.terms_add",
            object_type: "vendor_terms",
            object_id: version.to_string(),
            changes: json!({"length": body.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Terms {
        version: version.to_string(),
        body: body.to_string(),
        created_at: now.to_string(),
    })
}

pub async fn terms(store: &Store) -> Result<Vec<Terms>> {
    Ok(sqlx::query_as(
        "SELECT version, body, created_at FROM vendor_terms ORDER BY created_at DESC",
    )
    .fetch_all(store.pool())
    .await?)
}

/// A vendor that may be affected, with the products the text names and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    pub vendor_id: i64,
    pub name: String,
    pub state: VendorState,
    pub products: Vec<String>,
    /// Why it is proposed, each as `kind: what matched` — `product: Router X`,
    /// `cpe: cpe:2.3:h:acme:router_x`, `purl: pkg:npm/acme/widget`, `vendor: Acme`.
    pub reasons: Vec<String>,
}

/// A CPE 2.3 (or 2.2 URI) name reduced to what names a product: part, vendor and
/// product, lowercased; the version and the rest are left out.
fn cpe_product(cpe: &str) -> Option<String> {
    let t = cpe.trim().to_ascii_lowercase();
    let parts: Vec<&str> = if let Some(rest) = t.strip_prefix("cpe:2.3:") {
        rest.split(':').take(3).collect()
    } else if let Some(rest) = t.strip_prefix("cpe:/") {
        rest.split(':').take(3).collect()
    } else {
        return None;
    };
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && *p != "*")).then(|| parts.join(":"))
}

/// A package URL reduced to type, namespace and name, lowercased (version,
/// qualifiers and subpath left out).
fn purl_package(purl: &str) -> Option<String> {
    let t = purl.trim().to_ascii_lowercase();
    let rest = t.strip_prefix("pkg:")?;
    let rest = rest.split(['?', '#']).next()?;
    let rest = rest.split('@').next()?.trim_end_matches('/');
    (rest.contains('/') && !rest.starts_with('/')).then(|| rest.to_string())
}

/// The CPE and package URL identifiers written in a text, reduced as above.
fn identifiers(text: &str) -> (Vec<String>, Vec<String>) {
    let mut cpes = Vec::new();
    let mut purls = Vec::new();
    for token in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '"' | '\'' | '(' | ')' | '<' | '>' | '[' | ']'
            )
    }) {
        if let Some(c) = cpe_product(token) {
            cpes.push(c);
        } else if let Some(p) = purl_package(token) {
            purls.push(p);
        }
    }
    (cpes, purls)
}

/// Vendors whose products the text names — by name, by CPE or by package URL — or
/// whose own name it contains (case-insensitive), registered ones first; withdrawn
/// vendors are left out. Each suggestion says why.
pub async fn suggest(store: &Store, text: &str) -> Result<Vec<Suggestion>> {
    let haystack = text.to_lowercase();
    let (cpes, purls) = identifiers(text);
    let vendors = list(store).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        vendor_id: i64,
        name: String,
        cpe: Option<String>,
        purl: Option<String>,
    }
    let all: Vec<Row> =
        sqlx::query_as("SELECT vendor_id, name, cpe, purl FROM vendor_products ORDER BY name, id")
            .fetch_all(store.pool())
            .await?;
    let mut out = Vec::new();
    for v in vendors
        .into_iter()
        .filter(|v| v.state != VendorState::Withdrawn)
    {
        let mut matched = Vec::new();
        let mut reasons = Vec::new();
        for p in all.iter().filter(|p| p.vendor_id == v.id) {
            let by_cpe = p
                .cpe
                .as_deref()
                .and_then(cpe_product)
                .filter(|c| cpes.contains(c));
            let by_purl = p
                .purl
                .as_deref()
                .and_then(purl_package)
                .filter(|c| purls.contains(c));
            let by_name = contains_word(&haystack, &p.name.to_lowercase());
            if let Some(c) = &by_cpe {
                reasons.push(format!("cpe: {c}"));
            }
            if let Some(c) = &by_purl {
                reasons.push(format!("purl: pkg:{c}"));
            }
            if by_name {
                reasons.push(format!("product: {}", p.name));
            }
            if by_cpe.is_some() || by_purl.is_some() || by_name {
                matched.push(p.name.clone());
            }
        }
        if contains_word(&haystack, &v.name.to_lowercase()) {
            reasons.push(format!("vendor: {}", v.name));
        }
        if !reasons.is_empty() {
            out.push(Suggestion {
                vendor_id: v.id,
                name: v.name,
                state: v.state,
                products: matched,
                reasons,
            });
        }
    }
    out.sort_by_key(|s| {
        (
            s.state != VendorState::Registered,
            std::cmp::Reverse(s.products.len()),
        )
    });
    Ok(out)
}

/// `needle` appears in `haystack` not as part of a longer word.
fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.len() < 2 {
        return false;
    }
    haystack.match_indices(needle).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() || !c.is_ascii());
        boundary(before) && boundary(after)
    })
}

/// Warns each vendor contact whose OpenPGP key expires within 30 days, once, by a
/// mail (encrypted to that key while it still works) asking for a renewed key, with
/// the coordinators (`vuln.escalate_to`, when set) in copy. Returns the contacts
/// warned.
pub async fn warn_expiring_keys(
    store: &Store,
    settings: &crate::Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<i64>> {
    if settings.from.trim().is_empty() {
        return Ok(Vec::new());
    }
    let now_s = time::format(now);
    let soon = time::format(now + chrono::Duration::days(30));
    #[derive(sqlx::FromRow)]
    struct Expiring {
        id: i64,
        vendor_id: i64,
        name: String,
        email: String,
        pgp_key: String,
        key_fingerprint: Option<String>,
        key_expires_at: String,
        company: String,
    }
    let due: Vec<Expiring> = sqlx::query_as(
        "SELECT c.id, c.vendor_id, c.name, c.email, c.pgp_key, c.key_fingerprint, c.key_expires_at, o.name AS company \
         FROM vendor_contacts c JOIN vendors v ON v.id = c.vendor_id JOIN organizations o ON o.id = v.org_id \
         WHERE c.pgp_key IS NOT NULL AND c.key_expires_at IS NOT NULL AND c.key_expires_at <= $1 \
           AND c.key_expires_at > $2 AND c.key_warned_at IS NULL AND v.state <> 'withdrawn' ORDER BY c.id LIMIT 500",
    )
    .bind(&soon)
    .bind(&now_s)
    .fetch_all(store.pool())
    .await?;
    let mut warned = Vec::new();
    for c in due {
        let mut tx = store.begin().await?;
        let claimed = sqlx::query(
            "UPDATE vendor_contacts SET key_warned_at = $1 WHERE id = $2 AND key_warned_at IS NULL",
        )
        .bind(&now_s)
        .bind(c.id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let lang = get(store, c.vendor_id)
            .await?
            .vendor
            .languages
            .first()
            .and_then(|l| renkei_core::lang::Lang::parse(l).ok())
            .unwrap_or_default();
        let words = renkei_core::i18n::catalog(lang);
        let fingerprint = c.key_fingerprint.clone().unwrap_or_default();
        let expires = &c.key_expires_at[..10.min(c.key_expires_at.len())];
        let body = words.fill(
            "vuln.mail_key_expiry_body",
            &[
                ("name", &c.name),
                ("company", &c.company),
                ("fingerprint", &fingerprint),
                ("expires", &expires),
            ],
        );
        let cc = settings.vuln.escalate_to.join(", ");
        let mail = renkei_mail::enqueue(
            &mut tx,
            renkei_mail::NewMail {
                kind: "vendor.key_expiry",
                object_type: "vendor",
                object_id: c.vendor_id.to_string(),
                from: &settings.from,
                to: &c.email,
                subject: words.get("vuln.mail_key_expiry_subject"),
                body: &body,
                in_reply_to: None,
                auto_reply: true,
                attachments: &[],
                sign: settings.team_key.as_ref(),
                cc: &cc,
                encrypt_to: &[c.pgp_key.as_str()],
                exercise: false,
            },
        )
        .await?;
        audit::record(
            &mut tx,
            &Actor::system("key expiry"),
            Event {
                action: "vendor.key_expiry_warned",
                object_type: "vendor",
                object_id: c.vendor_id.to_string(),
                changes: json!({"contact": c.id, "fingerprint": fingerprint, "expires_at": c.key_expires_at, "mail": mail}),
            },
        )
        .await?;
        tx.commit().await?;
        warned.push(c.id);
    }
    Ok(warned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn product_names_match_as_words() {
        use super::contains_word;
        assert!(contains_word("a flaw in acme router x 2.1", "router x"));
        assert!(!contains_word("a flaw in acme routerxyz", "router"));
        assert!(contains_word("製品routerに脆弱性", "router"));
    }

    #[test]
    fn product_identifiers_are_compared_without_their_versions() {
        use super::{cpe_product, identifiers, purl_package};
        assert_eq!(
            cpe_product("cpe:2.3:h:Acme:router_x:2.1:*:*:*:*:*:*:*").as_deref(),
            Some("h:acme:router_x")
        );
        assert_eq!(
            cpe_product("cpe:/a:acme:widget:1.0").as_deref(),
            Some("a:acme:widget")
        );
        assert_eq!(cpe_product("cpe:2.3:a:*:widget"), None);
        assert_eq!(
            purl_package("pkg:npm/%40acme/widget@1.2.3?arch=x86#lib").as_deref(),
            Some("npm/%40acme/widget")
        );
        assert_eq!(
            purl_package("pkg:pypi/requests").as_deref(),
            Some("pypi/requests")
        );
        assert_eq!(purl_package("pkg:/x"), None);
        let (cpes, purls) = identifiers(
            "Affected: cpe:2.3:h:acme:router_x:2.0:*:*:*:*:*:*:*, (pkg:npm/acme-widget@1.0) and more",
        );
        assert_eq!(cpes, ["h:acme:router_x"]);
        assert_eq!(purls, ["npm/acme-widget"]);
    }

    #[test]
    fn package_urls_are_checked() {
        assert!(super::valid_purl("pkg:npm/%40acme/widget@1.2.3"));
        assert!(!super::valid_purl("npm/widget"));
        assert!(!super::valid_purl("pkg:/widget"));
    }
}
