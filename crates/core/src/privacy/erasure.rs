//! Erasure on request: every place an e-mail address or a name is kept, found
//! and replaced by a pseudonym (`erased-1a2b3c4d5e6f@erased.invalid`), one per
//! erasure, so that a thread still reads as one conversation and every count
//! stays as it was.
//!
//! [`PLACES`] is the list of where people are kept; the erasure test
//! (`crates/cli/tests/privacy.rs`) reads every place of it on both dialects. Whole values (a reporter's address,
//! a contact's name) are compared without regard to case; text and raw bytes
//! (a mail's body, a report as it came in) are searched for the address or name
//! standing alone, not inside a longer one (`bob@example.org` is not in
//! `jimbob@example.org`). Text a mail carries encoded (quoted-printable,
//! base64, an attachment's archive) is not read.
//!
//! What else changes with a match: a reporter's or contact's telephone number
//! goes, an account is disabled and signed out, a subscription ends. The audit
//! log gets one entry naming the pseudonym and how many rows changed where; its
//! earlier entries are hash-chained and stay as written, which [`Found::kept`]
//! counts so that the person can be told.

use std::collections::BTreeMap;

use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::audit::{self, Actor, Event};
use crate::store::Dialect;
use crate::{CoreError, Result, Store};

/// What a column keeps of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// An e-mail address, the whole value.
    Address,
    /// A person's name, the whole value.
    Name,
    /// Text in which either may appear.
    Text,
    /// Bytes as received or sent, in which either may appear.
    Bytes,
}

/// A column that keeps people.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub table: &'static str,
    pub column: &'static str,
    pub holds: Holds,
}

const fn at(table: &'static str, column: &'static str, holds: Holds) -> Place {
    Place {
        table,
        column,
        holds,
    }
}

/// Every place a person's address or name is kept. Tables with [`Holds::Text`]
/// or [`Holds::Bytes`] columns have a numeric `id`.
pub const PLACES: &[Place] = &[
    // Incident reports and their conversations.
    at("reports", "reporter_email", Holds::Address),
    at("reports", "reporter_name", Holds::Name),
    at("reports", "subject", Holds::Text),
    at("reports", "body", Holds::Text),
    at("reports", "raw", Holds::Bytes),
    at("report_attachments", "data", Holds::Bytes),
    at("incidents", "enrichment", Holds::Text),
    at("messages", "author", Holds::Text),
    at("messages", "mail_from", Holds::Text),
    at("messages", "mail_to", Holds::Text),
    at("messages", "mail_cc", Holds::Text),
    at("messages", "subject", Holds::Text),
    at("messages", "body", Holds::Text),
    at("messages", "raw", Holds::Bytes),
    at("thread_parties", "address", Holds::Address),
    at("outbox", "mail_from", Holds::Text),
    at("outbox", "rcpt_to", Holds::Text),
    at("outbox", "mail_cc", Holds::Text),
    at("outbox", "subject", Holds::Text),
    at("outbox", "body", Holds::Text),
    at("outbox", "raw", Holds::Bytes),
    at("contact_status", "email", Holds::Address),
    at("notifications", "recipient", Holds::Address),
    at("notifications", "recipient_name", Holds::Name),
    at("feed_batches", "recipient", Holds::Address),
    at("feed_batches", "recipient_detail", Holds::Text),
    // The address book and accounts.
    at("contacts", "email", Holds::Address),
    at("contacts", "name", Holds::Name),
    at("organizations", "notes", Holds::Text),
    at("users", "email", Holds::Address),
    at("users", "display_name", Holds::Name),
    // Vulnerability coordination.
    at("cases", "reporter_email", Holds::Address),
    at("cases", "reporter_name", Holds::Name),
    at("cases", "raw", Holds::Text),
    at("cases", "description", Holds::Text),
    at("cases", "credit", Holds::Text),
    at("case_messages", "author", Holds::Text),
    at("case_messages", "body", Holds::Text),
    at("vendor_contacts", "email", Holds::Address),
    at("vendor_contacts", "name", Holds::Name),
    at("vendor_meetings", "attendees", Holds::Text),
    at("vendor_meetings", "minutes", Holds::Text),
    // Dissemination.
    at("subscribers", "email", Holds::Address),
    at("alert_deliveries", "email", Holds::Address),
    at("alert_receipts", "who", Holds::Text),
];

/// Whom to erase: an address, a name, or both.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub address: Option<String>,
    pub name: Option<String>,
}

impl Person {
    /// Checks what a request names: an address must look like one, a name must
    /// be long enough not to be found inside every other word.
    pub fn parse(address: Option<&str>, name: Option<&str>) -> Result<Person> {
        let address = address.map(str::trim).filter(|a| !a.is_empty());
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if let Some(a) = address {
            let ok = a.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && !d.is_empty() && !a.contains(char::is_whitespace)
            });
            if !ok {
                return Err(CoreError::invalid(
                    "address",
                    format!("{a:?} is not an e-mail address"),
                ));
            }
        }
        if let Some(n) = name
            && n.chars().count() < 2
        {
            return Err(CoreError::invalid(
                "name",
                "a name of one character would be found inside other words",
            ));
        }
        if address.is_none() && name.is_none() {
            return Err(CoreError::invalid(
                "address",
                "name an address, a name or both",
            ));
        }
        Ok(Person {
            address: address.map(str::to_string),
            name: name.map(str::to_string),
        })
    }
}

/// What was found (or, after [`erase`], changed), place by place.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Found {
    /// The pseudonym: `erased-<hex>`; the address becomes
    /// `erased-<hex>@erased.invalid`.
    pub pseudonym: String,
    /// Rows per `table.column`.
    pub places: BTreeMap<String, u64>,
    /// Rows that keep the person and stay as they are: audit log entries, which
    /// are hash-chained.
    pub kept: BTreeMap<String, u64>,
}

impl Found {
    pub fn rows(&self) -> u64 {
        self.places.values().sum()
    }
}

/// A row's new value for a text or bytes column.
struct Change {
    id: i64,
    value: Vec<u8>,
}

/// Where the person is, and what each text and bytes row becomes.
struct Plan {
    found: Found,
    changes: Vec<(Place, Vec<Change>)>,
}

/// The dry run: every place the person is found, changing nothing.
pub async fn find(store: &Store, person: &Person) -> Result<Found> {
    Ok(plan(store, person, "erased-000000000000").await?.found)
}

/// Pseudonymises the person everywhere in one transaction and audits it. An
/// address or name found nowhere is an error and changes nothing.
pub async fn erase(store: &Store, person: &Person, actor: &Actor) -> Result<Found> {
    let mut token = [0u8; 6];
    rand::rng().fill_bytes(&mut token);
    let pseudonym = format!("erased-{}", hex::encode(token));
    let plan = plan(store, person, &pseudonym).await?;
    if plan.found.places.is_empty() {
        return Err(CoreError::NotFound("anything kept about this person"));
    }
    let address = format!("{pseudonym}@erased.invalid");
    let now = store.now_str();
    let mut tx = store.begin().await?;
    // Side effects first, while the whole values still match.
    if let Some(a) = &person.address {
        for sql in [
            "UPDATE reports SET reporter_phone = NULL WHERE lower(reporter_email) = lower($1)",
            "UPDATE contacts SET phone = NULL WHERE lower(email) = lower($1)",
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE lower(email) = lower($1))",
        ] {
            sqlx::query(sql).bind(a).execute(tx.conn()).await?;
        }
        sqlx::query(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $2), password_hash = NULL WHERE lower(email) = lower($1)",
        )
        .bind(a)
        .bind(&now)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "UPDATE subscribers SET status = 'left', left_at = COALESCE(left_at, $2), email_key = $3 WHERE lower(email) = lower($1)",
        )
        .bind(a)
        .bind(&now)
        .bind(&address)
        .execute(tx.conn())
        .await?;
    }
    if let Some(n) = &person.name {
        sqlx::query(
            "UPDATE reports SET reporter_phone = NULL WHERE lower(reporter_name) = lower($1)",
        )
        .bind(n)
        .execute(tx.conn())
        .await?;
    }
    for place in PLACES {
        let (needle, with) = match place.holds {
            Holds::Address => (&person.address, &address),
            Holds::Name => (&person.name, &pseudonym),
            Holds::Text | Holds::Bytes => continue,
        };
        if let Some(needle) = needle {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {t} SET {c} = $1 WHERE lower({c}) = lower($2)",
                t = place.table,
                c = place.column
            )))
            .bind(with)
            .bind(needle)
            .execute(tx.conn())
            .await?;
        }
    }
    let mut reindex: Vec<i64> = Vec::new();
    for (place, changes) in &plan.changes {
        for change in changes {
            let sql = match place.holds {
                Holds::Bytes if place.table == "reports" => {
                    "UPDATE reports SET raw = $1, raw_sha256 = $2, raw_size = $3 WHERE id = $4"
                        .to_string()
                }
                Holds::Bytes if place.table == "report_attachments" => {
                    "UPDATE report_attachments SET data = $1, sha256 = $2, size = $3 WHERE id = $4"
                        .to_string()
                }
                _ => format!(
                    "UPDATE {} SET {} = $1 WHERE id = $2",
                    place.table, place.column
                ),
            };
            let q = sqlx::query(AssertSqlSafe(sql));
            let q = match place.holds {
                Holds::Bytes => {
                    let q = q.bind(change.value.clone());
                    if matches!(place.table, "reports" | "report_attachments") {
                        use sha2::Digest;
                        q.bind(hex::encode(sha2::Sha256::digest(&change.value)))
                            .bind(change.value.len() as i64)
                    } else {
                        q
                    }
                }
                _ => q.bind(String::from_utf8_lossy(&change.value).into_owned()),
            };
            q.bind(change.id).execute(tx.conn()).await?;
            if place.table == "reports" && place.holds == Holds::Text {
                reindex.push(change.id);
            }
        }
    }
    // The full-text index still holds the old words: the search backfill
    // indexes these reports again.
    reindex.sort_unstable();
    reindex.dedup();
    tx.execute_for_ids(
        "UPDATE reports SET searchable = 0 WHERE id IN ({ids})",
        &[],
        &reindex,
    )
    .await?;
    let mut found = plan.found;
    found.pseudonym = pseudonym.clone();
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "privacy.erase",
            object_type: "person",
            object_id: pseudonym,
            changes: json!({
                "places": found.places,
                "rows": found.rows(),
                "by_address": person.address.is_some(),
                "by_name": person.name.is_some(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(found)
}

async fn plan(store: &Store, person: &Person, pseudonym: &str) -> Result<Plan> {
    let dialect = store.dialect();
    let address = format!("{pseudonym}@erased.invalid");
    let mut found = Found {
        pseudonym: pseudonym.to_string(),
        ..Found::default()
    };
    let mut changes = Vec::new();
    for place in PLACES {
        let key = format!("{}.{}", place.table, place.column);
        let n = match place.holds {
            Holds::Address | Holds::Name => {
                let needle = match place.holds {
                    Holds::Address => &person.address,
                    _ => &person.name,
                };
                let Some(needle) = needle else { continue };
                let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM {t} WHERE lower({c}) = lower($1)",
                    t = place.table,
                    c = place.column
                )))
                .bind(needle)
                .fetch_one(store.pool())
                .await?;
                n.max(0) as u64
            }
            Holds::Text | Holds::Bytes => {
                // Each row as it is and as it becomes.
                let mut rows: BTreeMap<i64, (Vec<u8>, Vec<u8>)> = BTreeMap::new();
                let wanted = [
                    person
                        .address
                        .as_deref()
                        .map(|a| (a, address.as_str(), true)),
                    person.name.as_deref().map(|n| (n, pseudonym, false)),
                ];
                for (needle, with, is_address) in wanted.into_iter().flatten() {
                    for (id, value) in candidates(store, dialect, place, needle).await? {
                        let row = rows.entry(id).or_insert_with(|| (value.clone(), value));
                        if let Some(replaced) = replace_standalone(
                            &row.1,
                            needle.as_bytes(),
                            with.as_bytes(),
                            is_address,
                        ) {
                            row.1 = replaced;
                        }
                    }
                }
                let list: Vec<Change> = rows
                    .into_iter()
                    .filter(|(_, (was, now))| was != now)
                    .map(|(id, (_, value))| Change { id, value })
                    .collect();
                let n = list.len() as u64;
                if n > 0 {
                    changes.push((*place, list));
                }
                n
            }
        };
        if n > 0 {
            found.places.insert(key, n);
        }
    }
    let mut kept = 0i64;
    for needle in [&person.address, &person.name].into_iter().flatten() {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE lower(changes) LIKE '%' || lower($1) || '%' OR lower(actor) = lower($1)",
        )
        .bind(needle)
        .fetch_one(store.pool())
        .await?;
        kept += n;
    }
    if kept > 0 {
        found
            .kept
            .insert("audit_log.changes".into(), kept.max(0) as u64);
    }
    Ok(Plan { found, changes })
}

/// Rows of a text or bytes place in which `needle` may appear (the database's
/// search ignores case and edges; [`replace_standalone`] decides).
async fn candidates(
    store: &Store,
    dialect: Dialect,
    place: &Place,
    needle: &str,
) -> Result<Vec<(i64, Vec<u8>)>> {
    let (t, c) = (place.table, place.column);
    let sql = match (place.holds, dialect) {
        (Holds::Bytes, Dialect::Sqlite) => format!(
            "SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL AND instr(lower(CAST({c} AS TEXT)), lower($1)) > 0"
        ),
        // Escaped, bytes past ASCII read as \ooo: an ASCII needle is found
        // whatever case the bytes have; any other is looked for as it is.
        (Holds::Bytes, Dialect::Postgres) if needle.is_ascii() && !needle.contains('\\') => {
            format!(
                "SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL AND strpos(lower(encode({c}, 'escape')), lower($1)) > 0"
            )
        }
        (Holds::Bytes, Dialect::Postgres) => format!(
            "SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL AND position(convert_to($1, 'UTF8') in {c}) > 0"
        ),
        (_, Dialect::Sqlite) => format!(
            "SELECT id, CAST({c} AS BLOB) FROM {t} WHERE {c} IS NOT NULL AND instr(lower({c}), lower($1)) > 0"
        ),
        (_, Dialect::Postgres) => format!(
            "SELECT id, convert_to({c}, 'UTF8') FROM {t} WHERE {c} IS NOT NULL AND strpos(lower({c}), lower($1)) > 0"
        ),
    };
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(needle)
        .fetch_all(store.pool())
        .await?)
}

/// Characters that continue an address on its left (its local part).
fn address_left(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-=".contains(&b)
}

/// Characters that continue an address on its right (its domain).
fn address_right(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `haystack` with every standalone occurrence of `needle` (ASCII letters in
/// any case) replaced by `with`; None when there is none. An address stands
/// alone when no address character touches it (a full stop after it ends a
/// sentence unless a letter follows); a name when no letter or digit does.
pub fn replace_standalone(
    haystack: &[u8],
    needle: &[u8],
    with: &[u8],
    is_address: bool,
) -> Option<Vec<u8>> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    let mut last = 0;
    let mut any = false;
    while i + needle.len() <= haystack.len() {
        if haystack[i..i + needle.len()].eq_ignore_ascii_case(needle) {
            let before = i.checked_sub(1).map(|p| haystack[p]);
            let after = haystack.get(i + needle.len()).copied();
            let after2 = haystack.get(i + needle.len() + 1).copied();
            let alone = if is_address {
                let sentence_end =
                    after == Some(b'.') && !after2.is_some_and(|c| c.is_ascii_alphanumeric());
                let touched = before.is_some_and(address_left)
                    || after.is_some_and(address_right)
                    || (after == Some(b'.') && !sentence_end);
                !touched
            } else {
                let edge_word = |b: u8| b.is_ascii_alphanumeric();
                (!needle[0].is_ascii_alphanumeric() || !before.is_some_and(edge_word))
                    && (!needle[needle.len() - 1].is_ascii_alphanumeric()
                        || !after.is_some_and(edge_word))
            };
            if alone {
                out.extend_from_slice(&haystack[last..i]);
                out.extend_from_slice(with);
                i += needle.len();
                last = i;
                any = true;
                continue;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    out.extend_from_slice(&haystack[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(h: &str, n: &str, addr: bool) -> Option<String> {
        replace_standalone(h.as_bytes(), n.as_bytes(), b"X", addr)
            .map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn an_address_is_replaced_in_any_case_but_not_inside_a_longer_one() {
        assert_eq!(
            r(
                "From: Bob <BOB@Example.org>, cc jimbob@example.org",
                "bob@example.org",
                true
            ),
            Some("From: Bob <X>, cc jimbob@example.org".into())
        );
        assert_eq!(
            r("write to bob@example.org.", "bob@example.org", true),
            Some("write to X.".into())
        );
        assert_eq!(r("bob@example.org.uk", "bob@example.org", true), None);
        assert_eq!(r("bob@example.organic", "bob@example.org", true), None);
    }

    #[test]
    fn a_name_is_replaced_as_a_word_and_in_japanese_anywhere() {
        assert_eq!(
            r("Regards, Taro Yamada", "taro yamada", false),
            Some("Regards, X".into())
        );
        assert_eq!(r("Taro Yamadas", "Taro Yamada", false), None);
        assert_eq!(
            r("報告者：山田太郎です", "山田太郎", false),
            Some("報告者：Xです".into())
        );
    }

    #[test]
    fn a_request_without_an_address_or_name_is_refused() {
        assert!(Person::parse(None, None).is_err());
        assert!(Person::parse(Some("not an address"), None).is_err());
        assert!(Person::parse(None, Some("a")).is_err());
        let p = Person::parse(Some(" a@example.org "), Some("山田")).unwrap();
        assert_eq!(p.address.as_deref(), Some("a@example.org"));
    }

    #[test]
    fn replacing_never_panics_on_any_bytes() {
        let hay: Vec<u8> = (0..=255u8).chain(b"x@y.z".iter().copied()).collect();
        assert!(replace_standalone(&hay, b"x@y.z", b"Q", true).is_some());
        assert_eq!(replace_standalone(b"", b"x", b"y", false), None);
        assert_eq!(replace_standalone(b"abc", b"", b"y", false), None);
    }
}
