//! Searching incidents with indexes at any scale: the query language of the queue's
//! search box and the API's `q` (`ip:203.0.113.0/24 asn:64500 category:scan "ssh"`),
//! and the keys that let each part use an index on both dialects.
//!
//! - Addresses are kept as [`ip_key`]s: 32 hex digits of the IPv6 form (IPv4 mapped
//!   into `::ffff:0:0/96`), so that an exact address, a CIDR and a range are one
//!   index range, on SQLite and on PostgreSQL alike.
//! - Host names are kept as [`host_key`]s, their labels reversed
//!   (`com.example.www`), so that a domain and all its subdomains are one range.
//! - Free text goes through the database's own full-text index (SQLite FTS5,
//!   PostgreSQL `tsvector` with GIN) over [`search_text`]: words lower-cased, and
//!   Japanese (and any CJK) runs cut into overlapping two-character pieces, so that
//!   a two-character word such as 攻撃 is found as well as a long one, with nothing
//!   outside the database to keep in step across nodes.
//!
//! A bare token is read for what it plainly is: an address or CIDR searches
//! addresses, `AS64500` an AS, an e-mail address the reporter; anything else is text.

use renkei_core::Store;
use renkei_core::store::Dialect;
use renkei_core::tlp::Tlp;

use crate::classify::Category;
use crate::incidents::State;
use crate::{IncidentError, Result};

pub use renkei_formats::keys::{host_key, ip_key, ip_range};

/// A parsed search: each part narrows the result (AND); the values of one key
/// widen it (OR).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Inclusive ranges of [`ip_key`]s.
    pub ips: Vec<(String, String)>,
    pub asns: Vec<i64>,
    /// Two-letter country codes, upper case.
    pub countries: Vec<String>,
    /// [`host_key`]s of domains, each with its subdomains.
    pub domains: Vec<String>,
    /// Reporters' addresses, lower case.
    pub emails: Vec<String>,
    pub categories: Vec<Category>,
    pub states: Vec<State>,
    pub tlps: Vec<Tlp>,
    /// Words and phrases, each as its [`search_text`] tokens (all must match, in
    /// order).
    pub text: Vec<Vec<String>>,
}

impl Query {
    pub fn is_empty(&self) -> bool {
        *self == Query::default()
    }
}

/// The keys the query language knows, for its error messages and its help.
pub const KEYS: [&str; 9] = [
    "ip", "asn", "country", "domain", "email", "category", "state", "tlp", "text",
];

fn bad(token: &str, why: &str) -> IncidentError {
    IncidentError::invalid("q", format!("{token:?}: {why}"))
}

/// Reads a search. A token is `key:value` or a word, a quoted phrase is one token;
/// an unknown key, an address or CIDR that is not one, or a word too short to
/// search is refused with the token named.
pub fn parse(q: &str) -> Result<Query> {
    let mut out = Query::default();
    for (token, quoted) in tokens(q)? {
        let named = token
            .split_once(':')
            .filter(|(k, _)| !quoted && KEYS.contains(&k.to_ascii_lowercase().as_str()));
        let (key, value) = if quoted {
            ("text".to_string(), token.clone())
        } else if let Some((k, v)) = named {
            (k.to_ascii_lowercase(), v.to_string())
        } else if ip_range(&token).is_some() {
            // An IPv6 address holds colons but names no key.
            ("ip".to_string(), token.clone())
        } else if let Some((k, _)) = token.split_once(':')
            && !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphabetic())
            && !matches!(k.to_ascii_lowercase().as_str(), "http" | "https")
        {
            return Err(bad(
                &token,
                &format!("unknown key; use one of {}", KEYS.join(", ")),
            ));
        } else {
            (bare_key(&token).to_string(), token.clone())
        };
        if value.is_empty() {
            return Err(bad(&token, "a value after the colon"));
        }
        match key.as_str() {
            "ip" => out.ips.push(ip_range(&value).ok_or_else(|| {
                bad(
                    &token,
                    "not an address, a CIDR (203.0.113.0/24) or a range (a-b)",
                )
            })?),
            "asn" => out.asns.push(
                value
                    .trim_start_matches(['A', 'a', 'S', 's'])
                    .parse::<u32>()
                    .map(i64::from)
                    .map_err(|_| bad(&token, "an AS number such as 64500 or AS64500"))?,
            ),
            "country" => {
                if value.len() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(bad(&token, "a two-letter country code such as JP"));
                }
                out.countries.push(value.to_ascii_uppercase());
            }
            "domain" => out
                .domains
                .push(host_key(&value).ok_or_else(|| bad(&token, "a domain such as example.jp"))?),
            "email" => {
                if !value.contains('@') || value.chars().any(char::is_whitespace) {
                    return Err(bad(&token, "an e-mail address"));
                }
                out.emails.push(value.to_lowercase());
            }
            "category" => out
                .categories
                .push(Category::parse(&value).map_err(|_| bad(&token, "not a category"))?),
            "state" => out
                .states
                .push(State::parse(&value).map_err(|_| bad(&token, "not a state"))?),
            "tlp" => out.tlps.push(
                Tlp::parse(&value)
                    .or_else(|_| Tlp::parse(&format!("TLP:{value}")))
                    .map_err(|_| bad(&token, "a TLP such as TLP:AMBER"))?,
            ),
            _ => {
                let words = search_text(&value);
                let pieces: Vec<String> = words.split(' ').map(str::to_string).collect();
                // A lone character (a stray `%`, `a`) would match nearly everything.
                if words.is_empty() || (pieces.len() == 1 && pieces[0].chars().count() < 2) {
                    return Err(bad(
                        &token,
                        "a word of at least two letters (or two Japanese characters) to search for",
                    ));
                }
                out.text.push(pieces);
            }
        }
    }
    Ok(out)
}

/// What a token with no key is: an address, a CIDR or a range; an AS; an e-mail
/// address; else text.
fn bare_key(token: &str) -> &'static str {
    if ip_range(token).is_some() {
        "ip"
    } else if token.len() > 2
        && token.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("as"))
        && token[2..].chars().all(|c| c.is_ascii_digit())
    {
        "asn"
    } else if token.contains('@') && !token.starts_with('@') && !token.ends_with('@') {
        "email"
    } else {
        "text"
    }
}

/// The tokens of a query: words split on white space, `"…"` kept together (also
/// after a key: `text:"port scan"`).
fn tokens(q: &str) -> Result<Vec<(String, bool)>> {
    if q.chars().count() > 500 {
        return Err(IncidentError::invalid(
            "q",
            "a search is at most 500 characters",
        ));
    }
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut token = String::new();
        let mut quoted = false;
        if c == '"' {
            chars.next();
            quoted = true;
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                token.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '"' {
                    // key:"a phrase"
                    for c in chars.by_ref() {
                        if c == '"' {
                            break;
                        }
                        token.push(c);
                    }
                    continue;
                }
                token.push(c);
            }
        }
        if !token.trim().is_empty() {
            out.push((token.trim().to_string(), quoted));
        }
    }
    if out.len() > 20 {
        return Err(IncidentError::invalid("q", "at most 20 terms in a search"));
    }
    Ok(out)
}

fn cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // hiragana, katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified
        | 0xF900..=0xFAFF // compatibility ideographs
        | 0xFF66..=0xFF9F // half-width katakana
        | 0xAC00..=0xD7AF // hangul
    )
}

/// Text as the full-text index keeps it: words lower-cased, and CJK runs cut into
/// overlapping pairs (不正アクセス → 不正 正ア アク クセ セス), space-separated.
pub fn search_text(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_run = |run: &mut Vec<char>, out: &mut Vec<String>| {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            _ => out.extend(run.windows(2).map(|w| w.iter().collect::<String>())),
        }
        run.clear();
    };
    for c in text.chars().flat_map(char::to_lowercase) {
        if cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            run.push(c);
        } else if c.is_alphanumeric() {
            flush_run(&mut run, &mut out);
            word.push(c);
        } else {
            flush_run(&mut run, &mut out);
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    flush_run(&mut run, &mut out);
    if !word.is_empty() {
        out.push(word);
    }
    out.join(" ")
}

/// The one word an address is indexed as besides its digits: `ip` and its
/// [`ip_key`]. `203 0 113 5` as a phrase reads four of the commonest words there
/// are; this reads one rare one, whichever way the report wrote the address.
pub fn ip_token(ip: std::net::IpAddr) -> String {
    format!("ip{}", ip_key(ip))
}

/// A report's text as the index keeps it: [`search_text`], then an [`ip_token`]
/// for each address the report names.
pub fn index_text(text: &str, ips: impl IntoIterator<Item = std::net::IpAddr>) -> String {
    let mut out = search_text(text);
    for ip in ips {
        out.push(' ');
        out.push_str(&ip_token(ip));
    }
    out
}

/// The addresses a report row's `indicators` (JSON, `ips` as `{"ip": …}`) name;
/// none when it does not read.
fn named_ips(indicators: Option<&str>) -> Vec<std::net::IpAddr> {
    #[derive(serde::Deserialize)]
    struct Named {
        ip: std::net::IpAddr,
    }
    #[derive(serde::Deserialize)]
    struct Kept {
        #[serde(default)]
        ips: Vec<Named>,
    }
    indicators
        .and_then(|i| serde_json::from_str::<Kept>(i).ok())
        .map(|k| k.ips.into_iter().map(|n| n.ip).collect())
        .unwrap_or_default()
}

/// The full-text condition for the terms, as the dialect's index reads it: FTS5's
/// MATCH (each term a quoted phrase) or a `tsquery` (each term's pieces joined
/// by `<->`).
pub fn text_match(dialect: Dialect, terms: &[Vec<String>]) -> String {
    match dialect {
        Dialect::Sqlite => terms
            .iter()
            .map(|t| format!("\"{}\"", t.join(" ").replace('"', "")))
            .collect::<Vec<_>>()
            .join(" AND "),
        Dialect::Postgres => terms
            .iter()
            .map(|t| {
                let phrase = t
                    .iter()
                    .map(|p| format!("'{}'", p.replace('\\', "").replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(" <-> ");
                format!("({phrase})")
            })
            .collect::<Vec<_>>()
            .join(" & "),
    }
}

/// Indexes what came in before search did: reports' text and incidents' address
/// and host keys, `limit` of each at a time. Returns how many rows it indexed.
pub async fn backfill(store: &Store, limit: i64) -> Result<usize> {
    let mut done = 0;
    /// A report's number, subject, body and indicators.
    type Unindexed = (i64, Option<String>, Option<String>, Option<String>);
    let reports: Vec<Unindexed> = sqlx::query_as(
        "SELECT id, subject, body, indicators FROM reports WHERE searchable = 0 AND status <> 'received' ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    if !reports.is_empty() {
        let rows: Vec<serde_json::Value> = reports
            .iter()
            .map(|(id, subject, body, indicators)| {
                let text = index_text(
                    &format!(
                        "{}\n{}",
                        subject.as_deref().unwrap_or(""),
                        body.as_deref().unwrap_or("")
                    ),
                    named_ips(indicators.as_deref()),
                );
                serde_json::json!({"id": id, "search": text})
            })
            .collect();
        let ids: Vec<i64> = reports.iter().map(|r| r.0).collect();
        let mut tx = store.begin().await?;
        index_reports(&mut tx, rows).await?;
        tx.execute_for_ids(
            "UPDATE reports SET searchable = 1 WHERE id IN ({ids})",
            &[],
            &ids,
        )
        .await?;
        tx.commit().await?;
        done += reports.len();
    }
    let incidents: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, source_ip, source_host FROM incidents WHERE keyed = 0 ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    if !incidents.is_empty() {
        let mut tx = store.begin().await?;
        for (id, ip, host) in &incidents {
            sqlx::query("UPDATE incidents SET ip_key = $1, host_key = $2, keyed = 1 WHERE id = $3")
                .bind(ip.as_deref().and_then(|i| i.parse().ok()).map(ip_key))
                .bind(host.as_deref().and_then(host_key))
                .bind(*id)
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await?;
        done += incidents.len();
    }
    Ok(done)
}

/// The statement that puts reports' text in the full-text index, replacing what
/// was there: `rows` is a row source with the columns `id` and `search`.
pub(crate) fn index_sql(dialect: Dialect, rows: &str) -> String {
    match dialect {
        Dialect::Sqlite => {
            format!("INSERT OR REPLACE INTO report_search (rowid, body) SELECT j.id, j.search FROM {rows}")
        }
        Dialect::Postgres => format!(
            "INSERT INTO report_search (report_id, body) SELECT j.id, to_tsvector('simple', j.search) FROM {rows}
             ON CONFLICT (report_id) DO UPDATE SET body = excluded.body"
        ),
    }
}

/// Puts reports' text in the full-text index in one statement: `rows` are
/// `{"id", "search"}` objects (a restored store's 200,000 reports are indexed at
/// once, where a statement per report took most of a restore).
async fn index_reports(
    tx: &mut renkei_core::store::Tx,
    rows: Vec<serde_json::Value>,
) -> Result<()> {
    let sql = index_sql(
        tx.dialect(),
        &renkei_core::store::json_rows(
            tx.dialect(),
            1,
            &[
                ("id", renkei_core::store::JsonCol::Int),
                ("search", renkei_core::store::JsonCol::Text),
            ],
        ),
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_a_cidr_and_a_range_are_one_key_range() {
        let one = ip_range("203.0.113.5").unwrap();
        assert_eq!(one.0, one.1);
        assert_eq!(one.0, ip_key("203.0.113.5".parse().unwrap()));
        let net = ip_range("203.0.113.0/24").unwrap();
        assert!(net.0 <= one.0 && one.0 <= net.1);
        assert!(ip_key("203.0.114.1".parse().unwrap()) > net.1);
        let v6 = ip_range("2001:db8::/32").unwrap();
        assert!(v6.0 <= ip_key("2001:db8::1".parse().unwrap()));
        assert!(ip_key("2001:db9::".parse().unwrap()) > v6.1);
        let span = ip_range("192.0.2.10-192.0.2.20").unwrap();
        assert!(span.0 < ip_key("192.0.2.15".parse().unwrap()));
        assert!(ip_range("203.0.113.0/33").is_none());
        assert!(ip_range("192.0.2.20-192.0.2.10").is_none());
        assert!(ip_range("999.1.1.1").is_none());
    }

    #[test]
    fn a_domain_is_the_prefix_of_its_subdomains() {
        assert_eq!(host_key("WWW.Example.JP.").unwrap(), "jp.example.www");
        assert!(host_key("a..b").is_none());
        assert!(host_key("bad host").is_none());
    }

    #[test]
    fn japanese_is_cut_in_pairs_and_english_in_words() {
        assert_eq!(
            search_text("不正アクセスの報告 SSH brute-force"),
            "不正 正ア アク クセ セス スの の報 報告 ssh brute force"
        );
        assert_eq!(search_text("攻撃"), "攻撃");
    }

    #[test]
    fn the_query_language_reads_keys_bare_tokens_and_phrases() {
        let q = parse("ip:203.0.113.0/24 asn:64500 category:scan \"ssh 総当たり\" country:jp 2001:db8::1 AS64511 soc@example.jp").unwrap();
        assert_eq!(q.ips.len(), 2);
        assert_eq!(q.asns, vec![64500, 64511]);
        assert_eq!(q.countries, vec!["JP".to_string()]);
        assert_eq!(q.categories, vec![Category::Scan]);
        assert_eq!(q.emails, vec!["soc@example.jp".to_string()]);
        assert_eq!(
            q.text,
            vec![vec![
                "ssh".to_string(),
                "総当".into(),
                "当た".into(),
                "たり".into()
            ]]
        );
        let q = parse("攻撃 domain:example.jp").unwrap();
        assert_eq!(q.text, vec![vec!["攻撃".to_string()]]);
        assert_eq!(q.domains, vec!["jp.example".to_string()]);
    }

    #[test]
    fn a_bad_token_is_named_and_a_search_for_everything_is_refused() {
        for (q, token) in [
            ("ip:203.0.113.0/33", "ip:203.0.113.0/33"),
            ("ip:not-an-address", "ip:not-an-address"),
            ("colour:red", "colour:red"),
            ("%", "%"),
            ("asn:x", "asn:x"),
            ("country:japan", "country:japan"),
        ] {
            let e = parse(q).unwrap_err().to_string();
            assert!(e.contains(&format!("{token:?}")), "{q}: {e}");
        }
        assert!(parse(&"a ".repeat(300)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_query_makes_the_parser_panic(q in "\\PC{0,80}") {
            let _ = parse(&q);
        }

        #[test]
        fn no_text_makes_the_cutter_panic(t in "\\PC{0,200}") {
            let cut = search_text(&t);
            proptest::prop_assert!(!cut.contains("  "));
        }
    }

    #[test]
    fn an_address_is_one_word_in_the_index_however_it_is_written() {
        let a = index_text(
            "seen",
            named_ips(Some(r#"{"ips":[{"ip":"2001:db8::1","role":"source"}]}"#)),
        );
        let b: std::net::IpAddr = "2001:0db8:0:0::1".parse().unwrap();
        assert!(a.ends_with(&ip_token(b)), "{a}");
        assert_eq!(index_text("seen", named_ips(Some("not json"))), "seen");
    }

    #[test]
    fn the_text_match_is_quoted_for_each_dialect() {
        let terms = vec![
            vec!["ssh".to_string()],
            vec!["不正".to_string(), "正ア".to_string()],
        ];
        assert_eq!(
            text_match(Dialect::Sqlite, &terms),
            "\"ssh\" AND \"不正 正ア\""
        );
        assert_eq!(
            text_match(Dialect::Postgres, &terms),
            "('ssh') & ('不正' <-> '正ア')"
        );
    }
}
