//! Enrichment: what is known about an address. Longest-prefix-match tables for IPv4
//! and IPv6 give the AS number and name, the country and the abuse contact; a list of
//! national CSIRTs gives the recipient when no abuse contact is known or the host is
//! abroad. Tables are loaded from public formats ([`load`]), stored in the database as
//! loaded ([`sources`]) so that every node serves the same data, and held in memory as
//! flat interval arrays ([`table`]).
//!
//! # Layout
//! - `load`: readers for the formats people have (ip-location-db, pyasn, RIR
//!   delegation statistics, RPSL dumps, contact and CSIRT lists).
//! - `sources`: the loaded files in the database, and the tables built from them.
//! - `table`: longest-prefix match over flat, sorted intervals.
//! - here: [`Tables`] and [`Enrichment`] (what a lookup gives), and the [`Enricher`]
//!   that keeps every node's tables current.

pub mod load;
pub mod sources;
pub mod table;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use renkei_core::Classify;
use serde::Serialize;

pub use load::{Contact, Csirt, Problem};
use load::{Entries, Loaded};
use table::{Table, block_containing};

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The user's input is wrong: shown as is.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Core(#[from] renkei_core::CoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored table data is damaged: {0}")]
    Damaged(String),
}

pub type Result<T, E = EnrichError> = std::result::Result<T, E>;

/// What a table tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Asn,
    Country,
    Contacts,
    Csirts,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Asn, Kind::Country, Kind::Contacts, Kind::Csirts];

    pub fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "asn" => Kind::Asn,
            "country" => Kind::Country,
            "contacts" => Kind::Contacts,
            "csirts" => Kind::Csirts,
            _ => {
                return Err(EnrichError::Invalid(format!(
                    "unknown kind {s:?}: use asn, country, contacts or csirts"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Asn => "asn",
            Kind::Country => "country",
            Kind::Contacts => "contacts",
            Kind::Csirts => "csirts",
        }
    }
}

/// The file format a table is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    IpLocationDb,
    Ipasn,
    RirDelegated,
    Csv,
    Rpsl,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        Ok(match s {
            "ip-location-db" => Format::IpLocationDb,
            "ipasn" => Format::Ipasn,
            "rir-delegated" => Format::RirDelegated,
            "csv" => Format::Csv,
            "rpsl" => Format::Rpsl,
            _ => {
                return Err(EnrichError::Invalid(format!(
                    "unknown format {s:?}: use ip-location-db, ipasn, rir-delegated, csv or rpsl"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::IpLocationDb => "ip-location-db",
            Format::Ipasn => "ipasn",
            Format::RirDelegated => "rir-delegated",
            Format::Csv => "csv",
            Format::Rpsl => "rpsl",
        }
    }
}

/// Every kind of table with each format it can be read from.
pub const SUPPORTED: [(Kind, Format); 7] = [
    (Kind::Asn, Format::IpLocationDb),
    (Kind::Asn, Format::Ipasn),
    (Kind::Country, Format::IpLocationDb),
    (Kind::Country, Format::RirDelegated),
    (Kind::Contacts, Format::Csv),
    (Kind::Contacts, Format::Rpsl),
    (Kind::Csirts, Format::Csv),
];

/// The language to write to a contact in when the directory does not say.
pub fn lang_for_country(country: &str) -> &'static str {
    if country.eq_ignore_ascii_case("JP") {
        "ja"
    } else {
        "en"
    }
}

/// A pair of tables, one per family.
#[derive(Debug, Default)]
struct Dual<V: Copy + PartialEq> {
    v4: Table<u32, V>,
    v6: Table<u128, V>,
}

impl<V: Copy + PartialEq> Dual<V> {
    fn build(e: Entries<V>) -> Self {
        Dual {
            v4: Table::build(e.v4),
            v6: Table::build(e.v6),
        }
    }

    #[inline]
    fn find(&self, ip: IpAddr) -> Option<(IpAddr, IpAddr, V)> {
        match ip {
            IpAddr::V4(a) => self
                .v4
                .find(u32::from(a))
                .map(|(s, e, v)| (IpAddr::V4(s.into()), IpAddr::V4(e.into()), v)),
            IpAddr::V6(a) => {
                // IPv4-mapped addresses are looked up as IPv4.
                if let Some(v4) = a.to_ipv4_mapped() {
                    return self.find(IpAddr::V4(v4));
                }
                self.v6
                    .find(u128::from(a))
                    .map(|(s, e, v)| (IpAddr::V6(s.into()), IpAddr::V6(e.into()), v))
            }
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    fn overlay<W: Copy + PartialEq>(&self, other: &Dual<W>) -> Dual<(Option<V>, Option<W>)> {
        Dual {
            v4: table::overlay(&self.v4, &other.v4),
            v6: table::overlay(&self.v6, &other.v6),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

/// Abuse contacts from one source: by prefix, else by the address's AS.
#[derive(Debug, Default)]
struct Directory {
    ranges: Dual<u32>,
    by_asn: HashMap<u32, u32>,
    sets: Vec<Vec<Contact>>,
}

impl Directory {
    fn build(l: Loaded) -> Directory {
        Directory {
            ranges: Dual::build(l.contacts),
            by_asn: l.contacts_by_asn,
            sets: l.contact_sets,
        }
    }

    fn find(&self, ip: IpAddr, asn: Option<u32>) -> Option<&[Contact]> {
        let set = self
            .ranges
            .find(ip)
            .map(|(_, _, s)| s)
            .or_else(|| asn.and_then(|a| self.by_asn.get(&a).copied()))?;
        self.sets.get(set as usize).map(Vec::as_slice)
    }
}

/// An AS (number, name index) and a country, as one table holds them.
type Routed = (Option<(u32, u32)>, Option<[u8; 2]>);

/// Every table, as loaded; replaced whole when a kind is reloaded.
#[derive(Debug, Default)]
pub struct Tables {
    asn: Dual<(u32, u32)>,
    as_names: Vec<String>,
    country: Dual<[u8; 2]>,
    /// AS and country in one table: the hot path probes once for both.
    routed: Dual<Routed>,
    /// The team's own directory first, then what the RPSL dumps say.
    directories: Vec<Directory>,
    /// By country code, as bytes: looked up for every address.
    csirts: HashMap<[u8; 2], Csirt>,
    /// Rows per kind, for the status page.
    pub counts: HashMap<&'static str, usize>,
    /// Who an address is, by its lower-case address: for mail written to it by hand
    /// (its name, language and key).
    people: HashMap<String, Person>,
}

/// What the directories say about an address someone writes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
    pub lang: Option<String>,
    #[serde(skip)]
    pub pgp_key: Option<String>,
}

/// What the tables say about one address, borrowed: no allocation, for bulk work.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    pub asn: Option<u32>,
    pub as_name: Option<&'a str>,
    pub country: Option<[u8; 2]>,
    pub abuse: &'a [Contact],
    pub csirt: Option<&'a Csirt>,
}

/// What is known about one address, as stored with an incident and printed by
/// `renkei enrich lookup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Enrichment {
    pub ip: String,
    pub prefix: Option<String>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub country: Option<String>,
    pub abuse: Vec<Contact>,
    pub csirt: Option<Csirt>,
}

// Stored with each incident; what no longer parses reads as nothing known.
renkei_core::json_column!(Enrichment);

impl Enrichment {
    /// Nothing known: what an unknown or unparsable address gets.
    pub fn empty(ip: &str) -> Enrichment {
        Enrichment {
            ip: ip.to_string(),
            prefix: None,
            asn: None,
            as_name: None,
            country: None,
            abuse: Vec::new(),
            csirt: None,
        }
    }
}

impl Tables {
    /// Builds the tables from loaded sources: `(kind, format, file name, bytes)`. The
    /// sources are read one at a time, so an iterator that produces each file's bytes
    /// on demand keeps only one file in memory.
    pub fn build<N: AsRef<str>, D: AsRef<[u8]>>(
        sources: impl IntoIterator<Item = (Kind, Format, N, D)>,
    ) -> Result<(Tables, Vec<Problem>)> {
        let mut per: HashMap<(Kind, Format), Loaded> = HashMap::new();
        for (kind, format, name, data) in sources {
            per.entry((kind, format)).or_default().read(
                kind,
                format,
                name.as_ref(),
                data.as_ref(),
            )?;
        }
        let mut tables = Tables::default();
        let mut problems = Vec::new();
        let mut asn_loaded = Loaded::default();
        let mut country_loaded = Loaded::default();
        let mut keys: Vec<(Kind, Format)> = per.keys().copied().collect();
        // Directory (csv) before RPSL: the team's own knowledge wins.
        keys.sort_by_key(|(k, f)| (*k, *f != Format::Csv, *f));
        for key in keys {
            let Some(mut l) = per.remove(&key) else {
                continue;
            };
            problems.append(&mut l.problems);
            *tables.counts.entry(key.0.as_str()).or_default() += l.rows;
            match key.0 {
                Kind::Asn => merge_asn(&mut asn_loaded, l),
                Kind::Country => {
                    country_loaded.country.v4.append(&mut l.country.v4);
                    country_loaded.country.v6.append(&mut l.country.v6);
                }
                Kind::Contacts => tables.directories.push(Directory::build(l)),
                Kind::Csirts => tables
                    .csirts
                    .extend(l.csirts.into_iter().filter_map(|(cc, c)| {
                        let b = cc.as_bytes();
                        (b.len() == 2).then(|| ([b[0], b[1]], c))
                    })),
            }
        }
        // The team's directory first: the first entry for an address wins.
        let people: Vec<Person> = tables
            .directories
            .iter()
            .flat_map(|d| d.sets.iter().flatten())
            .map(|c| Person {
                email: c.email.clone(),
                name: c.name.clone(),
                lang: c.lang.clone(),
                pgp_key: c.pgp_key.clone(),
            })
            .chain(tables.csirts.values().map(|c| Person {
                email: c.email.clone(),
                name: Some(c.name.clone()),
                lang: c.lang.clone(),
                pgp_key: c.pgp_key.clone(),
            }))
            .collect();
        for p in people {
            tables
                .people
                .entry(p.email.trim().to_ascii_lowercase())
                .or_insert(p);
        }
        tables.as_names = std::mem::take(&mut asn_loaded.as_names);
        tables.asn = Dual::build(asn_loaded.asn);
        tables.country = Dual::build(country_loaded.country);
        tables.routed = tables.asn.overlay(&tables.country);
        Ok((tables, problems))
    }

    /// The borrowed answer for one address.
    #[inline]
    pub fn hit(&self, ip: IpAddr) -> Hit<'_> {
        let (asn, country_code) = self
            .routed
            .find(ip)
            .map(|(_, _, v)| v)
            .unwrap_or((None, None));
        let asn_number = asn.map(|(a, _)| a);
        let abuse = self
            .directories
            .iter()
            .find_map(|d| d.find(ip, asn_number))
            .unwrap_or(&[]);
        // Skipped when no CSIRT is loaded: hashing costs more than the table lookups.
        let csirt = if self.csirts.is_empty() {
            None
        } else {
            country_code.and_then(|c| self.csirts.get(&c))
        };
        Hit {
            asn: asn_number,
            as_name: asn
                .and_then(|(_, n)| self.as_names.get(n as usize))
                .map(String::as_str)
                .filter(|n| !n.is_empty()),
            country: country_code,
            abuse,
            csirt,
        }
    }

    /// The AS number alone: the figure compared with pyasn.
    #[inline]
    pub fn asn(&self, ip: IpAddr) -> Option<u32> {
        self.asn.find(ip).map(|(_, _, (a, _))| a)
    }

    /// The owned answer for one address.
    pub fn lookup(&self, ip: IpAddr) -> Enrichment {
        let hit = self.hit(ip);
        // The prefix shown is the routing entry's (else the country entry's), not the
        // overlay's piece of it.
        let range = self
            .asn
            .find(ip)
            .map(|(s, e, _)| (s, e))
            .or_else(|| self.country.find(ip).map(|(s, e, _)| (s, e)));
        Enrichment {
            ip: ip.to_string(),
            prefix: range.map(|(s, e)| prefix_of(s, e, ip)),
            asn: hit.asn,
            as_name: hit.as_name.map(str::to_string),
            country: hit
                .country
                .map(|c| String::from_utf8_lossy(&c).into_owned()),
            abuse: hit.abuse.to_vec(),
            csirt: hit.csirt.cloned(),
        }
    }

    /// Looks up text that may not be an address: unknown input gets empty enrichment.
    pub fn lookup_str(&self, ip: &str) -> Enrichment {
        match ip.trim().parse::<IpAddr>() {
            Ok(addr) => self.lookup(addr),
            Err(_) => Enrichment::empty(ip.trim()),
        }
    }

    /// What the directories say about an address (any case).
    pub fn person(&self, email: &str) -> Option<&Person> {
        self.people.get(&email.trim().to_ascii_lowercase())
    }

    /// Every national CSIRT on file, by country code.
    pub fn csirts(&self) -> Vec<&Csirt> {
        let mut all: Vec<&Csirt> = self.csirts.values().collect();
        all.sort_by(|a, b| a.country.cmp(&b.country));
        all
    }

    /// The CSIRT of a country, if one is on file.
    pub fn csirt(&self, country: &str) -> Option<&Csirt> {
        let b = country.trim().to_ascii_uppercase().into_bytes();
        if b.len() != 2 {
            return None;
        }
        self.csirts.get(&[b[0], b[1]])
    }

    /// Entries held after flattening, per table.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("asn", self.asn.len()),
            ("country", self.country.len()),
            (
                "contacts",
                self.directories
                    .iter()
                    .map(|d| d.ranges.len() + d.by_asn.len())
                    .sum(),
            ),
            ("csirts", self.csirts.len()),
        ]
    }

    /// Approximate heap use of the tables, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.asn.heap_bytes()
            + self.country.heap_bytes()
            + self.routed.heap_bytes()
            + self
                .as_names
                .iter()
                .map(|n| n.capacity() + 24)
                .sum::<usize>()
            + self
                .directories
                .iter()
                .map(|d| d.ranges.heap_bytes() + d.sets.len() * 64 + d.by_asn.len() * 16)
                .sum::<usize>()
    }
}

fn merge_asn(into: &mut Loaded, mut from: Loaded) {
    let offset = into.as_names.len() as u32;
    into.as_names.append(&mut from.as_names);
    into.asn.v4.extend(from.asn.v4.into_iter().map(|mut e| {
        e.value.1 += offset;
        e
    }));
    into.asn.v6.extend(from.asn.v6.into_iter().map(|mut e| {
        e.value.1 += offset;
        e
    }));
}

fn prefix_of(start: IpAddr, end: IpAddr, ip: IpAddr) -> String {
    match (start, end, ip) {
        (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)) => {
            let (net, len) = block_containing(u32::from(s), u32::from(e), u32::from(a));
            format!("{}/{len}", std::net::Ipv4Addr::from(net))
        }
        (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(a)) => {
            let (net, len) = block_containing(u128::from(s), u128::from(e), u128::from(a));
            format!("{}/{len}", std::net::Ipv6Addr::from(net))
        }
        // An IPv4-mapped IPv6 address matched in the IPv4 table.
        (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(a) => prefix_of(IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)),
            None => format!("{s}-{e}"),
        },
        _ => format!("{start}-{end}"),
    }
}

/// The tables in use, shared by every part of a node and swapped whole on reload.
#[derive(Clone, Default)]
pub struct Enricher {
    tables: Arc<RwLock<Arc<Tables>>>,
    /// What the database held when the tables were built: (last source id, count).
    generation: Arc<RwLock<(i64, i64)>>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("sizes", &self.tables().sizes())
            .finish()
    }
}

impl Enricher {
    /// An enricher over fixed tables (tools and benchmarks).
    pub fn from_tables(tables: Tables) -> Enricher {
        Enricher {
            tables: Arc::new(RwLock::new(Arc::new(tables))),
            generation: Default::default(),
        }
    }

    pub fn tables(&self) -> Arc<Tables> {
        self.tables
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn replace(&self, tables: Tables, generation: (i64, i64)) {
        match self.tables.write() {
            Ok(mut t) => *t = Arc::new(tables),
            Err(p) => *p.into_inner() = Arc::new(tables),
        }
        match self.generation.write() {
            Ok(mut g) => *g = generation,
            Err(p) => *p.into_inner() = generation,
        }
    }

    fn generation(&self) -> (i64, i64) {
        self.generation.read().map(|g| *g).unwrap_or((-1, -1))
    }

    pub fn lookup(&self, ip: &str) -> Enrichment {
        self.tables().lookup_str(ip)
    }
}

impl Classify for EnrichError {
    fn kind(&self) -> renkei_core::Kind {
        match self {
            EnrichError::Invalid(_) => renkei_core::Kind::Invalid,
            EnrichError::Core(_) | EnrichError::Database(_) | EnrichError::Damaged(_) => {
                renkei_core::Kind::Internal
            }
        }
    }
}
