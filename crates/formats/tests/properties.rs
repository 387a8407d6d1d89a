//! No parser panics, whatever it is given; extraction finds what was planted.

use proptest::prelude::*;
use renkei_formats::{extract, iodef, mime, xarf, xml};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn extraction_never_panics_on_any_text(s in "\\PC{0,400}") {
        let _ = extract::extract(&s);
    }

    #[test]
    fn extraction_never_panics_on_log_shaped_noise(s in "(SRC=|DPT=|sshd\\[1\\]: Failed password from |\\[|\\]|[0-9.:a-f]{1,12}| |\n|hxxp://|\\[\\.\\]|=|@|/tcp|ポート){0,60}") {
        let _ = extract::extract(&s);
    }

    #[test]
    fn a_planted_ipv4_address_is_always_found(a in 1u8..=223, b: u8, c: u8, d in 1u8..=254, before in "[a-z ]{0,20}", after in "[a-z ]{0,20}", defang in any::<bool>()) {
        let addr = format!("{a}.{b}.{c}.{d}");
        let written = if defang { format!("{a}.{b}.{c}[.]{d}") } else { addr.clone() };
        let text = format!("{before} {written} {after}");
        let found = extract::extract(&text);
        prop_assert!(found.ips.iter().any(|i| i.ip.to_string() == addr), "{} in {:?}", addr, found.ips);
    }

    #[test]
    fn a_planted_source_in_an_sshd_line_is_the_source(a in 1u8..=223, d in 1u8..=254, port in 1024u16..65535) {
        let line = format!("Jan  1 00:00:00 h sshd[9]: Failed password for root from {a}.0.2.{d} port {port} ssh2");
        let found = extract::extract(&line);
        prop_assert_eq!(found.sources().map(|i| i.to_string()).collect::<Vec<_>>(), vec![format!("{a}.0.2.{d}")]);
    }

    #[test]
    fn xml_iodef_and_xarf_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = xml::parse("XML", &bytes);
        let _ = iodef::parse(&bytes);
        let _ = xarf::parse(&bytes);
        let _ = mime::parse(&bytes, 256);
    }

    #[test]
    fn xml_parsing_never_panics_on_tag_soup(s in "(<[a-zA-Z:]{1,8}( [a-z]{1,4}=\"[^\"<]{0,6}\")?/?>|</[a-zA-Z:]{1,8}>|&[a-z#0-9]{0,5};|<!DOCTYPE x>|<!\\[CDATA\\[|\\]\\]>|[a-z ]{0,8}){0,40}") {
        let _ = xml::parse("XML", s.as_bytes());
        let _ = iodef::parse(s.as_bytes());
    }

    #[test]
    fn mail_parsing_never_panics_on_header_shaped_input(s in "([A-Za-z-]{1,12}: [^\r\n]{0,30}\r\n){0,8}(\r\n)?\\PC{0,200}") {
        let _ = mime::parse(s.as_bytes(), 64);
    }

    #[test]
    fn iodef_port_lists_stay_bounded(s in "[0-9,\\- ]{0,80}") {
        prop_assert!(iodef::ports(&s).len() <= 4096 + 1024);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any choice of base metrics, in any order, parses; the score stays within
    /// 0–10 with the severity its band gives; the canonical vector reads back the same.
    #[test]
    fn every_cvss_base_vector_scores_within_its_band(
        picks in proptest::collection::vec(0usize..4, 8),
        order in Just((0..8).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        use renkei_formats::cvss::{Cvss31, Severity};
        const M: [(&str, &[&str]); 8] = [
            ("AV", &["N", "A", "L", "P"]), ("AC", &["L", "H"]), ("PR", &["N", "L", "H"]), ("UI", &["N", "R"]),
            ("S", &["U", "C"]), ("C", &["H", "L", "N"]), ("I", &["H", "L", "N"]), ("A", &["H", "L", "N"]),
        ];
        let parts: Vec<String> = order.iter().map(|&i| format!("{}:{}", M[i].0, M[i].1[picks[i] % M[i].1.len()])).collect();
        let c = Cvss31::parse(&format!("CVSS:3.1/{}", parts.join("/"))).unwrap();
        prop_assert!((0.0..=10.0).contains(&c.score));
        prop_assert_eq!(c.severity, Severity::from_score(c.score));
        prop_assert_eq!((c.score * 10.0).round() / 10.0, c.score);
        let again = Cvss31::parse(&c.vector).unwrap();
        prop_assert_eq!(again.score, c.score);
    }

    /// The mandatory tests take any JSON shaped like an advisory — ids that loop,
    /// versions of any form, scores with any vector — without panicking, and name
    /// a test and a JSON pointer for every failure.
    #[test]
    fn the_csaf_mandatory_tests_never_panic_on_advisory_shaped_json(
        ids in proptest::collection::vec("P[0-3]", 0..6),
        numbers in proptest::collection::vec("(0|1|2|10|0\\.9\\.5|1\\.0\\.0(-rc)?(\\+b1)?|x|)", 0..4),
        version in "(0|1|2|1\\.0\\.0-alpha|2\\.0\\.0\\+ab|)",
        status in "(draft|final|interim|other)",
        vector in "(CVSS:3\\.[01]/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[HLN]/I:[HLN]/A:[HLN]|AV:[LAN]/AC:[HML]/Au:[MSN]/C:[NPC]/I:[NPC]/A:[NPC]|[A-Z:/0-9.]{0,20})",
        score in 0.0f64..10.5,
        category in "(csaf_vex|csaf_security_advisory|csaf_informational_advisory|csaf_security_incident_response|vex|[a-z_]{0,12})",
        purl in "(pkg:[a-z]{0,4}/[a-z@%/]{0,8}|[a-z:/]{0,8})",
    ) {
        use serde_json::json;
        let rels: Vec<_> = ids.windows(2).map(|w| json!({"category": "installed_on",
            "full_product_name": {"name": "x", "product_id": w[0]}, "product_reference": w[1], "relates_to_product_reference": w[0]})).collect();
        let doc = json!({
            "document": {"category": category, "lang": "ja", "source_lang": "ja",
                "tracking": {"status": status, "version": version,
                    "revision_history": numbers.iter().enumerate().map(|(i, n)| json!({"date": format!("2026-0{}-01T00:00:00Z", i + 1), "number": n})).collect::<Vec<_>>()}},
            "product_tree": {
                "full_product_names": ids.iter().map(|i| json!({"product_id": i, "name": i, "product_identification_helper": {"purl": purl}})).collect::<Vec<_>>(),
                "product_groups": [{"group_id": "G1", "product_ids": ids}],
                "relationships": rels,
                "branches": [{"category": "product_version", "name": vector, "product": {"product_id": "P9", "name": "v"}}]},
            "vulnerabilities": [{"cve": "CVE-2026-0001", "product_status": {"known_affected": ids, "fixed": ids},
                "scores": [{"products": ids, "cvss_v3": {"version": "3.1", "vectorString": vector, "baseScore": score, "baseSeverity": "HIGH"},
                    "cvss_v2": {"version": "2.0", "vectorString": vector, "baseScore": score}}],
                "flags": [{"label": "component_not_present", "group_ids": ["G1", "G2"]}, {"label": "x", "product_ids": ids}],
                "remediations": [{"category": "vendor_fix"}]}],
        });
        for f in renkei_formats::csaf_mandatory::check(&doc) {
            prop_assert!(f.test.starts_with("6.1.") && f.path.starts_with('/'), "{f}");
        }
        let _ = renkei_formats::purl::problem(&purl);
        let _ = renkei_formats::cvss::v3_base_score(&vector);
        let _ = renkei_formats::cvss::v2_base_score(&vector);
    }

    #[test]
    fn advisories_and_records_of_any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = renkei_formats::csaf::read(&bytes);
        let _ = renkei_formats::cve5::read(&bytes);
        let _ = renkei_formats::cvss::Cvss31::parse(&String::from_utf8_lossy(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Messages written into an mbox file (quoted as mboxrd writers quote) come
    /// back out the same, however many `From ` lines their bodies hold.
    #[test]
    fn an_mbox_file_gives_back_the_messages_written_into_it(
        bodies in proptest::collection::vec(proptest::collection::vec("(>{0,2}From [a-z ]{0,10}|[a-z0-9 ]{0,20}|)", 0..6), 1..5)
    ) {
        let messages: Vec<String> = bodies
            .iter()
            .enumerate()
            .map(|(i, lines)| format!("From: m{i}@example.jp\nSubject: {i}\n\n{}", lines.iter().map(|l| format!("{l}\n")).collect::<String>()))
            .collect();
        let mut file = String::new();
        for m in &messages {
            file.push_str("From sender@example.jp Fri Mar  8 12:00:00 2024\n");
            for line in m.lines() {
                let quotes = line.chars().take_while(|c| *c == '>').count();
                if line[quotes..].starts_with("From ") {
                    file.push('>');
                }
                file.push_str(line);
                file.push('\n');
            }
            file.push('\n');
        }
        let read: Vec<String> = renkei_formats::mbox::split(file.as_bytes())
            .into_iter()
            .map(|m| String::from_utf8(m).unwrap())
            .collect();
        prop_assert_eq!(read, messages);
    }

    #[test]
    fn machine_report_readers_never_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        let _ = renkei_formats::arf::parse(&bytes);
        let _ = renkei_formats::xarf_legacy::parse_yaml(&bytes, None);
        let _ = renkei_formats::acns::parse(&bytes);
        let _ = renkei_formats::mbox::split(&bytes);
        let _ = renkei_formats::mbox::strip_from_line(&bytes);
        let limits = renkei_formats::archive::Limits { max_bytes: 1 << 16, max_ratio: 50, max_files: 5 };
        let _ = renkei_formats::archive::unpack("x.zip", &bytes, &limits);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = renkei_formats::archive::unpack("x.gz", &gz, &limits);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        let _ = renkei_formats::archive::unpack("x.zip", &zip, &limits);
        let name = String::from_utf8_lossy(&bytes);
        let _ = renkei_formats::shadowserver::type_from_name(&name);
    }

    /// Mail shaped like the reports machines send, with the parts shuffled and
    /// broken: reading never panics, and a declared source is always a source.
    #[test]
    fn machine_mail_of_any_shape_is_read_without_panic(
        parts in proptest::collection::vec(prop_oneof![
            Just("Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nSource-IP: 192.0.2.9\r\n".to_string()),
            Just("Content-Type: message/feedback-report\r\n\r\nSource-IP: x\r\n".to_string()),
            Just("Content-Type: text/plain\r\n\r\nReported-From: a@b.example\r\nReport-Type: login-attack\r\nSource: 192.0.2.9\r\nSource-Type: ipv4\r\n".to_string()),
            Just("Content-Type: application/json\r\n\r\n{\"Version\":\"3\",\"ReporterInfo\":{},\"Report\":{}}\r\n".to_string()),
            Just("Content-Type: text/plain\r\n\r\n<?xml version=\"1.0\"?><Infringement><Source><IP_Address>192.0.2.9</IP_Address></Source></Infringement>\r\n".to_string()),
            "Content-Type: [a-z]{1,8}/[a-z-]{1,12}\r\n\r\n\\PC{0,80}\r\n",
        ], 0..5),
        x_arf in any::<bool>(),
    ) {
        let mut mail = String::from("From: r@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\n");
        if x_arf {
            mail.push_str("X-ARF: YES\r\n");
        }
        mail.push_str("Content-Type: multipart/report; boundary=\"zz\"\r\n\r\n");
        for p in &parts {
            mail.push_str("--zz\r\n");
            mail.push_str(p);
        }
        mail.push_str("--zz--\r\n");
        let parsed = mime::parse(mail.as_bytes(), 1 << 20).unwrap();
        if !parsed.read_as.is_empty() {
            prop_assert!(parsed.sources.iter().all(|h| h.ip.is_some() || h.name.is_some()));
        }
    }
}
