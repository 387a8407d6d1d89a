//! Keys that make indicators sort as they nest, so that one index range finds an
//! address, a CIDR, a range of addresses, or a domain with all its subdomains, on
//! SQLite and PostgreSQL alike. Incidents, feed sightings and sensor sources are
//! all keyed with them, so one address finds its rows in every pillar.
//!
//! # Layout
//! - [`ip_key`]: 32 hex digits of the address's IPv6 form (IPv4 mapped into
//!   `::ffff:0:0/96`).
//! - [`ip_range`]: the inclusive keys an address, a CIDR or an `a-b` range spans.
//! - [`host_key`]: a host name with its labels reversed (`jp.example.www`).

use std::net::IpAddr;

/// An address as a key that sorts as the address: 32 hex digits of its IPv6 form.
pub fn ip_key(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    format!("{:032x}", u128::from(v6))
}

/// The keys an address, a CIDR (`203.0.113.0/24`) or a range (`a-b`) spans.
pub fn ip_range(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a.is_ipv4() != b.is_ipv4() {
            return None;
        }
        let (lo, hi) = (ip_key(a), ip_key(b));
        return (lo <= hi).then_some((lo, hi));
    }
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let v6 = match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    let bits = match (ip, len) {
        (_, None) => 128,
        (IpAddr::V4(_), Some(l)) if l <= 32 => 96 + l,
        (IpAddr::V6(_), Some(l)) if l <= 128 => l,
        _ => return None,
    };
    let host = if bits == 128 { 0 } else { u128::MAX >> bits };
    let lo = v6 & !host;
    Some((format!("{lo:032x}"), format!("{:032x}", lo | host)))
}

/// A host name as a key whose domains are prefixes: labels reversed, lower case
/// (`www.example.jp` → `jp.example.www`).
pub fn host_key(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_lowercase();
    if host.is_empty()
        || host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-' || c == '_')
        || host.split('.').any(str::is_empty)
    {
        return None;
    }
    Some(host.split('.').rev().collect::<Vec<_>>().join("."))
}
