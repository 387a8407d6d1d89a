//! Readers for the enrichment sources people actually have: ip-location-db CSV
//! (`start,end,asn,org` and `start,end,CC`), the pyasn/RouteViews `ipasn` text, RIR
//! delegated-extended statistics, the team's own contact directory (CSV), RPSL database
//! dumps (inetnum/inet6num/aut-num with `abuse-c`, `org` and `mnt-irt`) and a CSV of
//! national CSIRTs. A bad line is counted and named; the rest of the file still loads.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::table::{Entry, prefix_range};
use crate::{EnrichError, Format, Kind};

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// An abuse contact as a directory or RPSL dump gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Contact {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pgp_key: Option<String>,
    /// Where it came from: "directory" or "rpsl".
    pub source: String,
}

/// A national CSIRT, the recipient when no abuse contact is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Csirt {
    pub country: String,
    pub name: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pgp_key: Option<String>,
}

/// Entries of one family, for one kind, with values of type V.
#[derive(Debug, Default)]
pub struct Entries<V> {
    pub v4: Vec<Entry<u32, V>>,
    pub v6: Vec<Entry<u128, V>>,
}

impl<V> Entries<V> {
    fn push(&mut self, start: IpAddr, end: IpAddr, value: V) -> Result<(), String> {
        match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => self.v4.push(Entry {
                start: u32::from(s),
                end: u32::from(e),
                value,
            }),
            (IpAddr::V6(s), IpAddr::V6(e)) => self.v6.push(Entry {
                start: u128::from(s),
                end: u128::from(e),
                value,
            }),
            _ => return Err("start and end are of different address families".into()),
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one or more files of a kind yield.
#[derive(Debug, Default)]
pub struct Loaded {
    /// ASN ranges; the value indexes `as_names`.
    pub asn: Entries<(u32, u32)>,
    pub as_names: Vec<String>,
    pub country: Entries<[u8; 2]>,
    /// Contact ranges; the value indexes `contact_sets`.
    pub contacts: Entries<u32>,
    pub contacts_by_asn: HashMap<u32, u32>,
    pub contact_sets: Vec<Vec<Contact>>,
    pub csirts: HashMap<String, Csirt>,
    pub rows: usize,
    pub problems: Vec<Problem>,
    pub bad_rows: usize,
}

/// Problems listed per load; the rest are only counted.
const MAX_PROBLEMS: usize = 100;

impl Loaded {
    fn problem(&mut self, file: &str, line: usize, message: impl Into<String>) {
        self.bad_rows += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                file: file.to_string(),
                line,
                message: message.into(),
            });
        }
    }

    /// Reads one file of `kind` in `format` into these tables.
    pub fn read(
        &mut self,
        kind: Kind,
        format: Format,
        file: &str,
        data: &[u8],
    ) -> Result<(), EnrichError> {
        match (kind, format) {
            (Kind::Asn, Format::IpLocationDb) => self.read_ip_location_asn(file, data),
            (Kind::Asn, Format::Ipasn) => self.read_ipasn(file, data),
            (Kind::Country, Format::IpLocationDb) => self.read_ip_location_country(file, data),
            (Kind::Country, Format::RirDelegated) => self.read_delegated(file, data),
            (Kind::Contacts, Format::Csv) => self.read_directory(file, data),
            (Kind::Contacts, Format::Rpsl) => self.read_rpsl(file, data),
            (Kind::Csirts, Format::Csv) => self.read_csirts(file, data),
            (kind, format) => {
                return Err(EnrichError::Invalid(format!(
                    "--kind {} cannot be read from --format {}",
                    kind.as_str(),
                    format.as_str()
                )));
            }
        }
        Ok(())
    }

    fn as_name(&mut self, names: &mut HashMap<String, u32>, name: &str) -> u32 {
        if let Some(i) = names.get(name) {
            return *i;
        }
        let i = self.as_names.len() as u32;
        // Names end up in incidents and mail: text every store takes.
        self.as_names
            .push(renkei_formats::lossy_text(name.as_bytes()));
        names.insert(name.to_string(), i);
        i
    }

    fn read_ip_location_asn(&mut self, file: &str, data: &[u8]) {
        let mut names: HashMap<String, u32> = self
            .as_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        for (line, record) in csv_records(data) {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.problem(file, line, e);
                    continue;
                }
            };
            if record.len() < 3 {
                self.problem(file, line, "expected start,end,asn,org");
                continue;
            }
            let parsed = (|| -> Result<(IpAddr, IpAddr, u32), String> {
                Ok((
                    parse_ip(&record[0])?,
                    parse_ip(&record[1])?,
                    parse_asn(&record[2])?,
                ))
            })();
            let (start, end, asn) = match parsed {
                Ok(v) => v,
                Err(e) => {
                    self.problem(file, line, e);
                    continue;
                }
            };
            let name = self.as_name(&mut names, record.get(3).unwrap_or("").trim());
            match self.asn.push(start, end, (asn, name)) {
                Ok(()) => self.rows += 1,
                Err(e) => self.problem(file, line, e),
            }
        }
    }

    fn read_ipasn(&mut self, file: &str, data: &[u8]) {
        let names_empty = self.as_name(&mut HashMap::new(), "");
        for (line, text) in lines(data) {
            let text = text.trim();
            if text.is_empty() || text.starts_with(';') || text.starts_with('#') {
                continue;
            }
            let mut parts = text.split_whitespace();
            let (Some(prefix), Some(asn)) = (parts.next(), parts.next()) else {
                self.problem(file, line, "expected PREFIX ASN");
                continue;
            };
            // An AS set ({1,2}) or a multi-origin prefix (1_2) is attributed to the first.
            let asn = asn
                .trim_start_matches('{')
                .split([',', '_', '}'])
                .next()
                .unwrap_or("");
            let parsed = parse_prefix(prefix).and_then(|r| Ok((r, parse_asn(asn)?)));
            match parsed {
                Ok(((s, e), asn)) => match self.asn.push(s, e, (asn, names_empty)) {
                    Ok(()) => self.rows += 1,
                    Err(e) => self.problem(file, line, e),
                },
                Err(e) => self.problem(file, line, e),
            }
        }
    }

    fn read_ip_location_country(&mut self, file: &str, data: &[u8]) {
        for (line, record) in csv_records(data) {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.problem(file, line, e);
                    continue;
                }
            };
            if record.len() < 3 {
                self.problem(file, line, "expected start,end,country");
                continue;
            }
            let parsed = (|| -> Result<(IpAddr, IpAddr, [u8; 2]), String> {
                Ok((
                    parse_ip(&record[0])?,
                    parse_ip(&record[1])?,
                    parse_country(&record[2])?,
                ))
            })();
            match parsed.and_then(|(s, e, cc)| self.country.push(s, e, cc)) {
                Ok(()) => self.rows += 1,
                Err(e) => self.problem(file, line, e),
            }
        }
    }

    fn read_delegated(&mut self, file: &str, data: &[u8]) {
        for (line, text) in lines(data) {
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = text.split('|').collect();
            // The version line starts with its number; summary lines have `*` for a
            // country and say `summary`.
            if f[0].starts_with(|c: char| c.is_ascii_digit())
                || f.get(5) == Some(&"summary")
                || f.get(1) == Some(&"*")
            {
                continue;
            }
            if f.len() < 7 {
                self.problem(
                    file,
                    line,
                    "expected registry|cc|type|start|value|date|status",
                );
                continue;
            }
            let (cc, kind, start, value, status) = (f[1], f[2], f[3], f[4], f[6]);
            if kind == "asn" || !matches!(status, "allocated" | "assigned") || cc.is_empty() {
                continue;
            }
            let parsed = (|| -> Result<(IpAddr, IpAddr, [u8; 2]), String> {
                let cc = parse_country(cc)?;
                let value: u128 = value
                    .parse()
                    .map_err(|_| format!("value {value:?} is not a number"))?;
                match kind {
                    "ipv4" => {
                        let s: std::net::Ipv4Addr =
                            start.parse().map_err(|_| format!("bad IPv4 {start:?}"))?;
                        let s = u32::from(s) as u128;
                        let e = s + value.max(1) - 1;
                        if e > u32::MAX as u128 {
                            return Err("range runs past 255.255.255.255".into());
                        }
                        Ok((
                            IpAddr::V4((s as u32).into()),
                            IpAddr::V4((e as u32).into()),
                            cc,
                        ))
                    }
                    "ipv6" => {
                        let (s, e) = parse_prefix(&format!("{start}/{value}"))?;
                        Ok((s, e, cc))
                    }
                    other => Err(format!("unknown type {other:?}")),
                }
            })();
            match parsed.and_then(|(s, e, cc)| self.country.push(s, e, cc)) {
                Ok(()) => self.rows += 1,
                Err(e) => self.problem(file, line, e),
            }
        }
    }

    fn read_directory(&mut self, file: &str, data: &[u8]) {
        let mut rows = csv_records(data);
        let Some((_, Ok(header))) = rows.next() else {
            self.problem(
                file,
                1,
                "expected a header: network,email[,lang,pgp_key,name]",
            );
            return;
        };
        let col = |name: &str| column(&header, name);
        let (Some(network), Some(email)) = (col("network"), col("email")) else {
            self.problem(file, 1, "the header needs the columns network and email");
            return;
        };
        let (lang, key, name) = (col("lang"), col("pgp_key"), col("name"));
        // One set per network, in file order; a network listed twice gets both contacts.
        let mut by_network: HashMap<String, u32> = HashMap::new();
        for (line, record) in rows {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.problem(file, line, e);
                    continue;
                }
            };
            let get = |i: Option<usize>| cell(&record, i);
            let Some(net) = get(Some(network)) else {
                self.problem(file, line, "network is empty");
                continue;
            };
            let Some(mail) = get(Some(email)).filter(|m| valid_email(m)) else {
                self.problem(file, line, "email is missing or not an address");
                continue;
            };
            let contact = Contact {
                email: mail,
                name: get(name),
                lang: get(lang).map(|l| l.to_ascii_lowercase()),
                pgp_key: get(key),
                source: "directory".into(),
            };
            let target =
                if let Some(asn) = net.strip_prefix("AS").or_else(|| net.strip_prefix("as")) {
                    match parse_asn(asn) {
                        Ok(asn) => Target::Asn(asn),
                        Err(e) => {
                            self.problem(file, line, e);
                            continue;
                        }
                    }
                } else {
                    match parse_prefix(&net) {
                        Ok(range) => Target::Range(range),
                        Err(e) => {
                            self.problem(file, line, e);
                            continue;
                        }
                    }
                };
            let set = match by_network.get(&net) {
                Some(set) => {
                    self.contact_sets[*set as usize].push(contact);
                    self.rows += 1;
                    continue;
                }
                None => {
                    let set = self.contact_sets.len() as u32;
                    self.contact_sets.push(vec![contact]);
                    by_network.insert(net.clone(), set);
                    set
                }
            };
            self.attach(file, line, target, set);
        }
    }

    fn attach(&mut self, file: &str, line: usize, target: Target, set: u32) {
        match target {
            Target::Asn(asn) => {
                self.contacts_by_asn.entry(asn).or_insert(set);
                self.rows += 1;
            }
            Target::Range((s, e)) => match self.contacts.push(s, e, set) {
                Ok(()) => self.rows += 1,
                Err(e) => self.problem(file, line, e),
            },
        }
    }

    fn read_rpsl(&mut self, file: &str, data: &[u8]) {
        let objects = rpsl_objects(data);
        // Handles first: roles, persons, organisations and IRTs by their key.
        let mut mailbox: HashMap<String, String> = HashMap::new();
        let mut org_abuse: HashMap<String, String> = HashMap::new();
        for o in &objects {
            let class = o.class();
            let key = o.first(class).unwrap_or("").to_ascii_uppercase();
            match class {
                "role" | "person" => {
                    if let (Some(handle), Some(mail)) =
                        (o.first("nic-hdl"), o.first("abuse-mailbox"))
                    {
                        mailbox.insert(handle.to_ascii_uppercase(), mail.to_string());
                    }
                }
                "irt" => {
                    if let Some(mail) = o.first("abuse-mailbox").or_else(|| o.first("e-mail")) {
                        mailbox.insert(key, mail.to_string());
                    }
                }
                "organisation" => {
                    if let Some(handle) = o.first("abuse-c") {
                        org_abuse.insert(key, handle.to_ascii_uppercase());
                    }
                }
                _ => {}
            }
        }
        for o in &objects {
            let class = o.class();
            if !matches!(class, "inetnum" | "inet6num" | "aut-num") {
                continue;
            }
            let line = o.line;
            let value = o.first(class).unwrap_or("");
            let mail = o
                .first("abuse-mailbox")
                .map(str::to_string)
                .or_else(|| {
                    o.first("abuse-c")
                        .and_then(|h| mailbox.get(&h.to_ascii_uppercase()).cloned())
                })
                .or_else(|| {
                    o.first("org")
                        .and_then(|org| org_abuse.get(&org.to_ascii_uppercase()))
                        .and_then(|h| mailbox.get(h).cloned())
                })
                .or_else(|| {
                    o.first("mnt-irt")
                        .and_then(|irt| mailbox.get(&irt.to_ascii_uppercase()).cloned())
                });
            let Some(mail) = mail.filter(|m| valid_email(m)) else {
                // Objects without an abuse contact are normal in a dump: not a problem.
                continue;
            };
            let target = match class {
                "aut-num" => {
                    let v = value.trim();
                    match parse_asn(
                        v.strip_prefix("AS")
                            .or_else(|| v.strip_prefix("as"))
                            .unwrap_or(v),
                    ) {
                        Ok(asn) => Target::Asn(asn),
                        Err(e) => {
                            self.problem(file, line, e);
                            continue;
                        }
                    }
                }
                "inetnum" => match value.split_once('-') {
                    Some((s, e)) => match (parse_ip(s), parse_ip(e)) {
                        (Ok(s), Ok(e)) => Target::Range((s, e)),
                        _ => {
                            self.problem(file, line, format!("bad inetnum {value:?}"));
                            continue;
                        }
                    },
                    None => match parse_prefix(value) {
                        Ok(r) => Target::Range(r),
                        Err(e) => {
                            self.problem(file, line, e);
                            continue;
                        }
                    },
                },
                _ => match parse_prefix(value) {
                    Ok(r) => Target::Range(r),
                    Err(e) => {
                        self.problem(file, line, e);
                        continue;
                    }
                },
            };
            let country = o.first("country").map(|c| c.trim().to_ascii_uppercase());
            let set = self.contact_sets.len() as u32;
            self.contact_sets.push(vec![Contact {
                email: mail,
                name: o
                    .first("netname")
                    .or_else(|| o.first("as-name"))
                    .map(str::to_string),
                lang: country
                    .as_deref()
                    .map(crate::lang_for_country)
                    .map(str::to_string),
                pgp_key: None,
                source: "rpsl".into(),
            }]);
            self.attach(file, line, target, set);
        }
    }

    fn read_csirts(&mut self, file: &str, data: &[u8]) {
        let mut rows = csv_records(data);
        let Some((_, Ok(header))) = rows.next() else {
            self.problem(
                file,
                1,
                "expected a header: country,name,email[,lang,pgp_key]",
            );
            return;
        };
        let col = |name: &str| column(&header, name);
        let (Some(country), Some(email)) = (col("country"), col("email")) else {
            self.problem(file, 1, "the header needs the columns country and email");
            return;
        };
        let (name, lang, key) = (col("name"), col("lang"), col("pgp_key"));
        for (line, record) in rows {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.problem(file, line, e);
                    continue;
                }
            };
            let get = |i: Option<usize>| cell(&record, i);
            let cc = match get(Some(country)).as_deref().map(parse_country) {
                Some(Ok(cc)) => String::from_utf8_lossy(&cc).into_owned(),
                Some(Err(e)) => {
                    self.problem(file, line, e);
                    continue;
                }
                None => {
                    self.problem(file, line, "country is empty");
                    continue;
                }
            };
            let Some(mail) = get(Some(email)).filter(|m| valid_email(m)) else {
                self.problem(file, line, "email is missing or not an address");
                continue;
            };
            self.csirts.insert(
                cc.clone(),
                Csirt {
                    name: get(name).unwrap_or_else(|| format!("CSIRT ({cc})")),
                    lang: get(lang)
                        .map(|l| l.to_ascii_lowercase())
                        .or_else(|| Some(crate::lang_for_country(&cc).to_string())),
                    country: cc,
                    email: mail,
                    pgp_key: get(key),
                },
            );
            self.rows += 1;
        }
    }
}

enum Target {
    Asn(u32),
    Range((IpAddr, IpAddr)),
}

/// A header column by name, in any case.
fn column(header: &csv::StringRecord, name: &str) -> Option<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

/// A non-empty cell, trimmed.
fn cell(record: &csv::StringRecord, i: Option<usize>) -> Option<String> {
    i.and_then(|i| record.get(i))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn valid_email(m: &str) -> bool {
    let m = m.trim();
    m.len() <= 254
        && m.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
        && !m.contains(char::is_whitespace)
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{:?} is not an IP address", s.trim()))
}

fn parse_asn(s: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{:?} is not an AS number", s.trim()))
}

fn parse_country(s: &str) -> Result<[u8; 2], String> {
    let b = s.trim().as_bytes();
    if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
        Ok([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
    } else {
        Err(format!("{:?} is not a two-letter country code", s.trim()))
    }
}

/// `192.0.2.0/24` or `2001:db8::/32` as an inclusive range.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, IpAddr), String> {
    let s = s.trim();
    let (addr, len) = s.split_once('/').unwrap_or((s, ""));
    let ip = parse_ip(addr)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = if len.is_empty() {
        max
    } else {
        len.parse()
            .map_err(|_| format!("{s:?}: bad prefix length"))?
    };
    match ip {
        IpAddr::V4(v4) => prefix_range(u32::from(v4), len)
            .map(|(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into()))),
        IpAddr::V6(v6) => prefix_range(u128::from(v6), len)
            .map(|(a, b)| (IpAddr::V6(a.into()), IpAddr::V6(b.into()))),
    }
    .ok_or_else(|| format!("{s:?}: prefix length over {max}"))
}

fn lines(data: &[u8]) -> impl Iterator<Item = (usize, std::borrow::Cow<'_, str>)> {
    data.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, String::from_utf8_lossy(l)))
}

fn csv_records(data: &[u8]) -> impl Iterator<Item = (usize, Result<csv::StringRecord, String>)> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(data);
    reader.into_records().map(|r| match r {
        Ok(rec) => (
            rec.position().map(|p| p.line() as usize).unwrap_or(0),
            Ok(rec),
        ),
        Err(e) => (
            e.position().map(|p| p.line() as usize).unwrap_or(0),
            Err(format!("unreadable CSV: {e}")),
        ),
    })
}

/// An RPSL object: its attributes in order, continuation lines folded in.
struct Object {
    line: usize,
    attrs: Vec<(String, String)>,
}

impl Object {
    fn class(&self) -> &str {
        self.attrs.first().map(|(k, _)| k.as_str()).unwrap_or("")
    }

    fn first(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

fn rpsl_objects(data: &[u8]) -> Vec<Object> {
    let mut out = Vec::new();
    let mut current: Option<Object> = None;
    for (line, text) in lines(data) {
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            if let Some(o) = current.take() {
                out.push(o);
            }
            continue;
        }
        if text.starts_with('%') || text.starts_with('#') {
            continue;
        }
        if text.starts_with([' ', '\t', '+']) {
            if let Some((_, v)) = current.as_mut().and_then(|o| o.attrs.last_mut()) {
                let more = text.trim_start_matches('+').trim();
                if !more.is_empty() {
                    v.push(' ');
                    v.push_str(more);
                }
            }
            continue;
        }
        let Some((key, value)) = text.split_once(':') else {
            continue;
        };
        // Trailing comments (`# ...`) are not part of the value.
        let value =
            renkei_formats::lossy_text(value.split('#').next().unwrap_or("").trim().as_bytes());
        current
            .get_or_insert_with(|| Object {
                line,
                attrs: Vec::new(),
            })
            .attrs
            .push((key.trim().to_ascii_lowercase(), value));
    }
    if let Some(o) = current {
        out.push(o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn no_input_makes_a_loader_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            for (kind, format) in crate::SUPPORTED {
                let mut l = Loaded::default();
                let _ = l.read(kind, format, "p", &data);
            }
        }

        #[test]
        fn planted_prefixes_in_an_ipasn_file_are_found(a in 1u8..224, b: u8, len in 8u32..=24, asn in 1u32..4_000_000) {
            let net = std::net::Ipv4Addr::new(a, b, 0, 0);
            let text = format!("; comment\n{net}/{len}\t{asn}\nnot a line\n");
            let (t, problems) = crate::Tables::build([(Kind::Asn, Format::Ipasn, "p", text.as_bytes())]).unwrap();
            proptest::prop_assert_eq!(problems.len(), 1);
            proptest::prop_assert_eq!(t.asn(IpAddr::V4(std::net::Ipv4Addr::new(a, b, 0, 1))), Some(asn));
        }
    }

    #[test]
    fn rpsl_continuation_lines_and_an_irt_give_the_abuse_mailbox() {
        let dump = b"inet6num: 2001:db8::/32\nnetname: X\n  continued\nmnt-irt: IRT-X\n\nirt: IRT-X\nabuse-mailbox: irt@x.example\n";
        let mut l = Loaded::default();
        l.read(Kind::Contacts, Format::Rpsl, "d", dump).unwrap();
        assert_eq!(l.contact_sets[0][0].email, "irt@x.example");
        assert_eq!(l.contact_sets[0][0].name.as_deref(), Some("X continued"));
    }
}
