//! Shadowserver's daily reports: which of its report types a CSV file is, and how
//! its columns map onto a feed event.
//!
//! The type comes from the file name Shadowserver gives every report
//! (`2024-05-01-scan_telnet-example_org-asn.csv`), else from a name the caller
//! knows (an attachment's), else it is left unknown. The columns follow one
//! vocabulary across all types (`ip` or `src_ip`, `timestamp`, `port` or
//! `src_port`/`dst_port`, `protocol`, and `tag`, `infection` or `family` naming
//! what was seen), so one mapping built from the header reads every type; the
//! columns it does not map are kept on each event as extra fields. A type not in
//! the table is read with the same mapping and flagged, never dropped.
//!
//! The table of types is embedded; `renkei feed types --refresh FILE` replaces it
//! with the type names of Shadowserver's published schema (a JSON object keyed by
//! report type), kept in the database.

use crate::feed::Mapping;

/// Every report type Shadowserver describes in its published schema, by the name
/// its files carry, as its published list of report types has them.
pub const TYPES: &[&str] = &[
    "blocklist",
    "compromised_account",
    "compromised_iot",
    "compromised_iot6",
    "compromised_website",
    "compromised_website6",
    "device_id",
    "device_id6",
    "event4_ddos_participant",
    "event4_honeypot_adb_scan",
    "event4_honeypot_brute_force",
    "event4_honeypot_darknet",
    "event4_honeypot_ddos",
    "event4_honeypot_ddos_amp",
    "event4_honeypot_ddos_target",
    "event4_honeypot_http_scan",
    "event4_honeypot_ics_scan",
    "event4_honeypot_ikev2_scan",
    "event4_honeypot_rdp_scan",
    "event4_honeypot_rocketmq_scan",
    "event4_honeypot_smb_scan",
    "event4_honeypot_snmp_scan",
    "event4_initial_access_broker",
    "event4_ip_spoofer",
    "event4_microsoft_sinkhole",
    "event4_microsoft_sinkhole_http",
    "event4_sinkhole",
    "event4_sinkhole_dns",
    "event4_sinkhole_http",
    "event4_sinkhole_http_referer",
    "event6_initial_access_broker",
    "event6_sinkhole",
    "event6_sinkhole_http",
    "event6_sinkhole_http_referer",
    "malware_url",
    "population6_bgp",
    "population6_http_proxy",
    "population6_isakmp",
    "population6_msmq",
    "population_bgp",
    "population_http_proxy",
    "population_isakmp",
    "population_msmq",
    "population_ntrip",
    "ransomware_victim",
    "sandbox_conn",
    "sandbox_url",
    "scan6_activemq",
    "scan6_badsecrets",
    "scan6_bgp",
    "scan6_cwmp",
    "scan6_dns",
    "scan6_elasticsearch",
    "scan6_exchange",
    "scan6_ftp",
    "scan6_http",
    "scan6_http_proxy",
    "scan6_http_vulnerable",
    "scan6_imap",
    "scan6_imap_vulnerable",
    "scan6_ip_tunnel",
    "scan6_ipp",
    "scan6_isakmp",
    "scan6_ldap_tcp",
    "scan6_mikrotik_service",
    "scan6_mongodb",
    "scan6_mqtt",
    "scan6_mqtt_anon",
    "scan6_msrpc",
    "scan6_mysql",
    "scan6_ntp",
    "scan6_ntpmonitor",
    "scan6_pop3",
    "scan6_pop3_vulnerable",
    "scan6_postgres",
    "scan6_rdp",
    "scan6_rsync",
    "scan6_slp",
    "scan6_smb",
    "scan6_smtp",
    "scan6_smtp_vulnerable",
    "scan6_snmp",
    "scan6_ssh",
    "scan6_ssl",
    "scan6_ssl_freak",
    "scan6_ssl_poodle",
    "scan6_stun",
    "scan6_telnet",
    "scan6_vnc",
    "scan_activemq",
    "scan_adb",
    "scan_afp",
    "scan_amqp",
    "scan_ard",
    "scan_badsecrets",
    "scan_bgp",
    "scan_chargen",
    "scan_cisco_smart_install",
    "scan_coap",
    "scan_couchdb",
    "scan_cwmp",
    "scan_db2",
    "scan_ddos_middlebox",
    "scan_dns",
    "scan_docker",
    "scan_dvr_dhcpdiscover",
    "scan_elasticsearch",
    "scan_epmd",
    "scan_exchange",
    "scan_ftp",
    "scan_gtp",
    "scan_hadoop",
    "scan_http",
    "scan_http_proxy",
    "scan_http_vulnerable",
    "scan_ics",
    "scan_imap",
    "scan_imap_vulnerable",
    "scan_ip_tunnel",
    "scan_ipmi",
    "scan_ipp",
    "scan_isakmp",
    "scan_kubernetes",
    "scan_ldap_tcp",
    "scan_ldap_udp",
    "scan_loop_dos",
    "scan_mdns",
    "scan_memcached",
    "scan_mikrotik_service",
    "scan_mongodb",
    "scan_mqtt",
    "scan_mqtt_anon",
    "scan_msrpc",
    "scan_mssql",
    "scan_mysql",
    "scan_nat_pmp",
    "scan_netbios",
    "scan_netis_router",
    "scan_ntp",
    "scan_ntpmonitor",
    "scan_pop3",
    "scan_pop3_vulnerable",
    "scan_portmapper",
    "scan_post_exploitation_framework",
    "scan_postgres",
    "scan_qotd",
    "scan_quic",
    "scan_radmin",
    "scan_rdp",
    "scan_rdpeudp",
    "scan_redis",
    "scan_rsync",
    "scan_sip",
    "scan_slp",
    "scan_smb",
    "scan_smtp",
    "scan_smtp_vulnerable",
    "scan_snmp",
    "scan_socks",
    "scan_ssdp",
    "scan_ssh",
    "scan_ssl",
    "scan_ssl_freak",
    "scan_ssl_poodle",
    "scan_stun",
    "scan_synfulknock",
    "scan_telnet",
    "scan_tftp",
    "scan_ubiquiti",
    "scan_vnc",
    "scan_ws_discovery",
    "scan_xdmcp",
    "spam_url",
    "targeted_host",
    "targeted_host6",
];

/// What a Shadowserver report type is about, in the feed's words.
pub fn category_of(report_type: &str) -> &'static str {
    let t = report_type;
    if t.starts_with("compromised_") || t.contains("initial_access_broker") {
        "compromised"
    } else if t.contains("sinkhole") || t == "sandbox_conn" {
        "infected"
    } else if t.contains("ddos") && t.starts_with("event") {
        "ddos"
    } else if t.starts_with("event4_honeypot") {
        "scan"
    } else if t == "event4_ip_spoofer" {
        "spoofer"
    } else if t == "blocklist" {
        "blocklist"
    } else if t.ends_with("_url") {
        "malicious-url"
    } else if t.starts_with("scan") || t.starts_with("population") || t.starts_with("device_id") {
        "vulnerable"
    } else {
        "other"
    }
}

/// The report type a file name names (`YYYY-MM-DD-<type>-…`), known or not.
pub fn type_from_name(file_name: &str) -> Option<String> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let base = base
        .strip_suffix(".zip")
        .or_else(|| base.strip_suffix(".gz"))
        .unwrap_or(base);
    let base = base.strip_suffix(".csv").unwrap_or(base);
    let rest = match base.as_bytes() {
        [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, b'-', ..]
            if [y1, y2, y3, y4, m1, m2, d1, d2]
                .iter()
                .all(|b| b.is_ascii_digit()) =>
        {
            &base[11..]
        }
        _ => return None,
    };
    let t = rest.split('-').next()?.to_ascii_lowercase();
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(t)
}

/// Whether a header row is in Shadowserver's vocabulary: a `timestamp` column and
/// an address column, with at least one of the columns every type carries.
pub fn looks_like(header: &[String]) -> bool {
    let has = |n: &str| header.iter().any(|h| h == n);
    has("timestamp")
        && (has("ip") || has("src_ip"))
        && ["asn", "geo", "severity", "tag", "naics"]
            .iter()
            .any(|c| has(c))
}

/// The column mapping for a file of `report_type` with this header.
pub fn mapping(report_type: &str, header: &[String]) -> Mapping {
    let has = |n: &str| header.iter().any(|h| h == n);
    let pick = |names: &[&str]| names.iter().find(|n| has(n)).map(|n| n.to_string());
    let category = category_of(report_type);
    // A sinkhole or spoofer event is about its source; a scan report about the
    // host found (its `ip`), its port the service's.
    let ip = pick(&["src_ip", "ip", "source_ip", "http_host"]).unwrap_or_else(|| "ip".into());
    let port = if ip == "src_ip" && category == "scan" {
        pick(&["dst_port", "src_port", "port"])
    } else if ip == "src_ip" {
        pick(&["src_port", "port"])
    } else {
        pick(&["port", "src_port"])
    };
    Mapping {
        ip,
        time: pick(&["timestamp"]),
        port,
        protocol: pick(&["protocol", "transport"]),
        category: category.to_string(),
        type_column: pick(&["infection", "family", "tag", "type"]),
        event_type: Some(report_type.to_string()),
        details: true,
    }
}

/// What the file is: its type, whether that type is in the table, and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub report_type: String,
    pub known: bool,
    pub mapping: Mapping,
}

/// Detects a Shadowserver file from its name and header. `types` is the table in
/// use (the embedded [`TYPES`] or a refreshed one).
pub fn detect(file_name: &str, header: &[String], types: &[String]) -> Option<Detected> {
    let named = type_from_name(file_name);
    if named.is_none() && !looks_like(header) {
        return None;
    }
    let report_type = named.unwrap_or_else(|| "unknown".into());
    let known = types.contains(&report_type);
    Some(Detected {
        mapping: mapping(&report_type, header),
        known,
        report_type,
    })
}

/// The type names of a schema file in Shadowserver's published layout: a JSON
/// object whose keys are report types (keys starting with `_` are its metadata).
pub fn types_of_schema(json: &[u8]) -> Result<Vec<String>, crate::FormatError> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
        crate::FormatError::malformed("Shadowserver schema", format!("not JSON: {e}"))
    })?;
    let obj = value.as_object().ok_or_else(|| {
        crate::FormatError::malformed(
            "Shadowserver schema",
            "not a JSON object keyed by report type",
        )
    })?;
    let types: Vec<String> = obj
        .iter()
        .filter(|(k, v)| !k.starts_with('_') && v.is_object())
        .map(|(k, _)| k.clone())
        .collect();
    if types.is_empty() {
        return Err(crate::FormatError::malformed(
            "Shadowserver schema",
            "it names no report type",
        ));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn the_type_comes_from_shadowserver_s_file_names() {
        assert_eq!(
            type_from_name("2024-05-01-scan_telnet-example_org-asn.csv").as_deref(),
            Some("scan_telnet")
        );
        assert_eq!(
            type_from_name("/tmp/2023-12-31-event4_sinkhole_http-jp-geo.csv.gz").as_deref(),
            Some("event4_sinkhole_http")
        );
        assert_eq!(type_from_name("report.csv"), None);
    }

    #[test]
    fn every_type_in_the_table_gets_a_mapping_with_an_address() {
        let scan =
            header("timestamp,ip,protocol,port,hostname,tag,asn,geo,region,city,naics,severity");
        let event =
            header("timestamp,src_ip,src_port,dst_ip,dst_port,protocol,infection,asn,geo,severity");
        for t in TYPES {
            for h in [&scan, &event] {
                let m = mapping(t, h);
                assert!(h.contains(&m.ip), "{t}: {}", m.ip);
                assert_ne!(category_of(t), "", "{t}");
            }
        }
        assert_eq!(category_of("event4_sinkhole_http"), "infected");
        assert_eq!(category_of("scan_rdp"), "vulnerable");
        assert_eq!(category_of("event4_honeypot_brute_force"), "scan");
        assert_eq!(
            mapping("event4_sinkhole", &event).type_column.as_deref(),
            Some("infection")
        );
        assert_eq!(
            mapping("event4_honeypot_darknet", &event).port.as_deref(),
            Some("dst_port")
        );
    }

    #[test]
    fn an_unknown_type_is_detected_and_flagged_not_dropped() {
        let types: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
        let h = header("timestamp,ip,port,asn,geo,severity,tag");
        let d = detect("2030-01-01-scan_newthing-x-y.csv", &h, &types).unwrap();
        assert_eq!((d.report_type.as_str(), d.known), ("scan_newthing", false));
        let d = detect("attachment.csv", &h, &types).unwrap();
        assert_eq!(d.report_type, "unknown");
        assert!(detect("attachment.csv", &header("a,b,c"), &types).is_none());
        assert!(
            detect("2024-01-01-scan_ssh-x.csv", &h, &types)
                .unwrap()
                .known
        );
    }

    #[test]
    fn a_schema_file_gives_its_type_names() {
        let t = types_of_schema(
            br#"{"_meta":{"date_created":"x"},"scan_ssh":{"feed_name":"a"},"blocklist":{}}"#,
        )
        .unwrap();
        assert_eq!(t, vec!["blocklist", "scan_ssh"]);
        assert!(types_of_schema(b"[]").is_err());
        assert!(types_of_schema(br#"{"_meta":{}}"#).is_err());
    }
}
