//! Pure parsers and writers for what a coordination center receives and sends:
//! e-mail (MIME, mbox), IODEF 1.0 and 2.0, ARF, X-ARF of every version, ACNS,
//! Shadowserver's reports, and indicator extraction from free text and logs; the Reference Security Incident Taxonomy; CVSS v3.1, CSAF 2.0,
//! CVE JSON 5, Atom and JVNRSS for vulnerability coordination.
//!
//! Nothing here touches a database or the network. Every parser takes bytes and
//! returns a value or a [`FormatError`] saying what is wrong; none panics on any input
//! (property tests and fuzz targets check it).
//!
//! # Layout
//! - Incident intake: `mime` (mail), `mbox` (mail as stored and piped), `iodef`
//!   (on the safe `xml` tree), `xarf` (v4, with its `schema` subset) and
//!   `xarf_legacy` (0.1, 0.2 and the JSON versions 1–3), `arf` (RFC 5965 feedback
//!   reports), `acns` (copyright notices), `machine` (finding those inside a mail),
//!   `archive` (zipped and gzipped attachments, bounded), `dsn` (bounces), `feed`
//!   (bulk CSV feeds) and `shadowserver` (its report types), `fwlog` (firewall
//!   logs), `extract` (indicators in free text), `report` (what every intake
//!   format becomes), `taxonomy` (RSIT), `csv_safe`.
//! - Vulnerability coordination: `cvss`, `cwe`, `csaf` (with `csaf_mandatory`,
//!   the standard's section 6.1 tests), `cve5`, `purl`, `syndication` (Atom, RSS,
//!   JVNRSS).
//! - Observation: `packet` (pcap and pcapng), `services` (ports with their IANA
//!   service names, embedded at build time).
//! - Across pillars: `keys` (addresses and host names as keys that sort as they
//!   nest, for index range searches).
//! - `error`: the crate's one error type.

pub mod acns;
pub mod archive;
pub mod arf;
pub mod csaf;
pub mod csaf_mandatory;
pub mod csv_safe;
pub mod cve5;
pub mod cvss;
pub mod cwe;
pub mod dsn;
pub mod error;
pub mod extract;
pub mod feed;
pub mod fwlog;
pub mod iodef;
pub mod keys;
mod machine;
pub mod mbox;
pub mod mime;
pub mod packet;
pub mod purl;
pub mod report;
mod schema;
pub mod services;
pub mod shadowserver;
pub mod syndication;
pub mod taxonomy;
pub mod xarf;
pub mod xarf_legacy;
mod xarf_schemas;
pub mod xml;

pub use error::FormatError;

/// Bytes from outside read as text that every store takes: invalid UTF-8 and NUL
/// (which PostgreSQL's text cannot hold) both become U+FFFD.
pub fn lossy_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.into_owned()
    }
}
pub use report::{Format, ParsedReport};
