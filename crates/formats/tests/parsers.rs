//! The intake parsers on real documents: every X-ARF sample, IODEF 1.0 and 2.0, and
//! Japanese mail in its usual encodings, labelled right and wrong.

use std::net::IpAddr;
use std::path::Path;

use encoding_rs::{EUC_JP, ISO_2022_JP, SHIFT_JIS};
use renkei_formats::extract::Proto;
use renkei_formats::{Format, FormatError, iodef, mime, xarf};

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn xarf_samples() -> Vec<(String, Vec<u8>)> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xarf")];
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/samples/xarf");
    if shared.exists() {
        dirs.push(shared);
    }
    let mut out = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn every_xarf_sample_validates_and_names_its_source() {
    let samples = xarf_samples();
    assert!(samples.len() >= 5);
    for (name, bytes) in samples {
        let r = xarf::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.format, Format::Xarf);
        assert!(
            r.sources.iter().any(|s| s.ip.is_some() || s.name.is_some()),
            "{name}"
        );
        assert!(r.hint.as_deref().is_some_and(|h| h.contains('/')), "{name}");
        assert!(r.reporter.email.is_some(), "{name}");
        assert!(r.external_id.is_some(), "{name}");
    }
}

#[test]
fn the_xarf_port_scan_sample_gives_source_target_ports_and_evidence_text() {
    let r = xarf::parse(include_bytes!("data/xarf/connection-port-scan.json")).unwrap();
    assert_eq!(r.sources[0].ip, ip("198.51.100.150"));
    assert_eq!(r.sources[0].proto, Some(Proto::Tcp));
    assert_eq!(r.targets[0].ip, ip("203.0.113.50"));
    assert!(r.targets[0].ports.contains(&22) && r.targets[0].ports.contains(&443));
    assert_eq!(r.hint.as_deref(), Some("connection/port_scan"));
    assert!(
        r.text.contains("Port scan detected"),
        "the base64 evidence is read: {}",
        r.text
    );
}

#[test]
fn an_invalid_xarf_document_is_refused_with_every_problem_named() {
    let mut v: serde_json::Value =
        serde_json::from_slice(include_bytes!("data/xarf/connection-port-scan.json")).unwrap();
    v.as_object_mut().unwrap().remove("reporter");
    v["xarf_version"] = "3.0".into();
    v["report_id"] = "not-a-uuid".into();
    let err = xarf::parse(v.to_string().as_bytes()).unwrap_err();
    let FormatError::Invalid { problems, .. } = &err else {
        panic!("{err}")
    };
    let all = problems.join("\n");
    assert!(all.contains("reporter: required field missing"), "{all}");
    assert!(all.contains("xarf_version"), "{all}");
    assert!(all.contains("report_id"), "{all}");
    let mut v: serde_json::Value =
        serde_json::from_slice(include_bytes!("data/xarf/connection-port-scan.json")).unwrap();
    v["type"] = "teleportation".into();
    assert!(
        xarf::parse(v.to_string().as_bytes())
            .unwrap_err()
            .to_string()
            .contains("connection/teleportation")
    );
    let mut v: serde_json::Value =
        serde_json::from_slice(include_bytes!("data/xarf/connection-login-attack.json")).unwrap();
    v.as_object_mut().unwrap().remove("protocol");
    assert!(
        xarf::parse(v.to_string().as_bytes())
            .unwrap_err()
            .to_string()
            .contains("protocol: required field missing")
    );
    assert!(matches!(
        xarf::parse(b"[1,2]"),
        Err(FormatError::Malformed { .. })
    ));
    assert!(matches!(
        xarf::parse(b"{"),
        Err(FormatError::Malformed { .. })
    ));
}

#[test]
fn iodef_1_reconnaissance_gives_the_scanner_and_its_ports() {
    let r = iodef::parse(include_bytes!("data/iodef/rfc5070-recon.xml")).unwrap();
    assert_eq!(r.format, Format::Iodef1);
    assert_eq!(r.external_id.as_deref(), Some("csirt.example.com#59334"));
    assert_eq!(r.sources.len(), 1);
    assert_eq!(r.sources[0].ip, ip("192.0.2.200"));
    assert_eq!(r.sources[0].ports, vec![60, 90]);
    assert_eq!(r.sources[0].proto, Some(Proto::Tcp));
    assert_eq!(r.targets[0].ip, ip("192.0.2.16"));
    assert_eq!(r.hint.as_deref(), Some("iodef/recon"));
    assert_eq!(
        r.reporter.email.as_deref(),
        Some("contact@csirt.example.com")
    );
    assert!(r.text.contains("DPT=60"), "record data is kept as text");
}

#[test]
fn iodef_2_gives_every_source_host_and_the_nested_email() {
    let r = iodef::parse(include_bytes!("data/iodef/rfc7970-scan.xml")).unwrap();
    assert_eq!(r.format, Format::Iodef2);
    let sources: Vec<_> = r.sources.iter().map(|s| s.ip).collect();
    assert_eq!(sources, vec![ip("192.0.2.53"), ip("2001:db8::53")]);
    assert_eq!(r.targets[0].name.as_deref(), Some("www.example.org"));
    assert_eq!(
        r.reporter.email.as_deref(),
        Some("contact@csirt.example.com")
    );
    assert_eq!(
        r.occurred_at.unwrap().to_rfc3339(),
        "2015-07-01T12:58:00+00:00"
    );
}

#[test]
fn iodef_indicators_become_sources_and_evidence() {
    let r = iodef::parse(include_bytes!("data/iodef/rfc7970-indicators.xml")).unwrap();
    let ips: Vec<_> = r.sources.iter().filter_map(|h| h.ip).collect();
    assert_eq!(
        ips,
        vec![ip("192.0.2.99").unwrap(), ip("198.51.100.99").unwrap()]
    );
    assert!(r.text.contains("indicator c2.bot.example"), "{}", r.text);
    assert!(r.text.contains("C2 server of the botnet"));
    assert_eq!(r.hint.as_deref(), Some("iodef/takeover-system"));
}

#[test]
fn iodef_documents_missing_required_elements_are_refused_by_name() {
    let doc = String::from_utf8(include_bytes!("data/iodef/rfc5070-recon.xml").to_vec()).unwrap();
    let broken = doc.replace("<ReportTime>2006-08-02T05:54:02-05:00</ReportTime>", "");
    let err = iodef::parse(broken.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("Incident 1: ReportTime is required"), "{err}");
    let v2 = String::from_utf8(include_bytes!("data/iodef/rfc7970-scan.xml").to_vec()).unwrap();
    let broken = v2.replace(
        "<GenerationTime>2015-07-01T08:00:00-05:00</GenerationTime>",
        "<GenerationTime>yesterday</GenerationTime>",
    );
    assert!(
        iodef::parse(broken.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("GenerationTime \"yesterday\"")
    );
    let with_dtd = doc.replace(
        "<IODEF-Document",
        "<!DOCTYPE IODEF-Document [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<IODEF-Document",
    );
    assert!(matches!(
        iodef::parse(with_dtd.as_bytes()),
        Err(FormatError::Refused { .. })
    ));
    assert!(
        iodef::parse(b"<Report/>")
            .unwrap_err()
            .to_string()
            .contains("not <IODEF-Document>")
    );
}

fn mail(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut m = headers.replace('\n', "\r\n").into_bytes();
    m.extend_from_slice(b"\r\n");
    m.extend_from_slice(body);
    m
}

const JA_TEXT: &str = "不正アクセスの報告です。\r\n攻撃元IP: 203.0.113.77 から ポート 22 への総当たり攻撃がありました。\r\n";

#[test]
fn japanese_mail_in_iso_2022_jp_is_read() {
    let (body, _, _) = ISO_2022_JP.encode(JA_TEXT);
    let m = mail(
        "From: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <reporter@example.jp>\nTo: info@csirt.example\nSubject: =?ISO-2022-JP?B?GyRCSVNANSU iJS8lOyU5GyhC?=\nMessage-ID: <a1@example.jp>\nDate: Mon, 15 Jan 2024 07:22:18 +0900\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n",
        &body,
    );
    let r = mime::parse(&m, 1 << 20).unwrap();
    assert!(r.text.contains("攻撃元IP: 203.0.113.77"), "{}", r.text);
    assert_eq!(r.reporter.email.as_deref(), Some("reporter@example.jp"));
    assert_eq!(r.message_id.as_deref(), Some("a1@example.jp"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        r.occurred_at.unwrap().to_rfc3339(),
        "2024-01-14T22:22:18+00:00"
    );
}

#[test]
fn japanese_mail_in_shift_jis_is_read() {
    let (body, _, _) = SHIFT_JIS.encode(JA_TEXT);
    let m = mail(
        "From: r@example.jp\nSubject: report\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: 8bit\n",
        &body,
    );
    let r = mime::parse(&m, 1 << 20).unwrap();
    assert!(r.text.contains("総当たり攻撃"), "{}", r.text);
    assert!(r.warnings.is_empty());
}

#[test]
fn mislabeled_japanese_charsets_are_detected_and_noted() {
    let cases: [(&'static encoding_rs::Encoding, &str, &str); 3] = [
        (SHIFT_JIS, "iso-8859-1", "8bit"),
        (EUC_JP, "us-ascii", "8bit"),
        (ISO_2022_JP, "utf-8", "7bit"),
    ];
    for (enc, label, cte) in cases {
        let (body, _, _) = enc.encode(JA_TEXT);
        let m = mail(
            &format!(
                "From: r@example.jp\nSubject: x\nContent-Type: text/plain; charset={label}\nContent-Transfer-Encoding: {cte}\n"
            ),
            &body,
        );
        let r = mime::parse(&m, 1 << 20).unwrap();
        assert!(
            r.text.contains("総当たり攻撃"),
            "{} labeled {label}: {}",
            enc.name(),
            r.text
        );
        assert!(
            r.warnings.iter().any(|w| w.contains(label)),
            "{:?}",
            r.warnings
        );
    }
    // Base64 transfer encoding over a mislabeled Shift_JIS body.
    use base64::Engine as _;
    let (body, _, _) = SHIFT_JIS.encode(JA_TEXT);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
    let m = mail(
        "From: r@example.jp\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n",
        b64.as_bytes(),
    );
    assert!(
        mime::parse(&m, 1 << 20)
            .unwrap()
            .text
            .contains("総当たり攻撃")
    );
}

#[test]
fn attachments_are_kept_and_large_ones_truncated_and_flagged() {
    let log =
        "Jan 15 07:22:18 host sshd[1]: Failed password for root from 198.51.100.9 port 4444 ssh2\n"
            .repeat(200);
    let m = format!(
        "From: a@example.org\r\nSubject: logs\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: text/plain; name=\"auth.log\"\r\nContent-Disposition: attachment; filename=\"auth.log\"\r\n\r\n{log}\r\n--b1--\r\n"
    );
    let r = mime::parse(m.as_bytes(), 1000).unwrap();
    let a = &r.attachments[0];
    assert_eq!(a.filename.as_deref(), Some("auth.log"));
    assert!(a.truncated && a.data.len() == 1000 && a.size > 1000);
    assert!(r.warnings.iter().any(|w| w.contains("auth.log")));
    assert!(
        r.text.contains("198.51.100.9"),
        "text attachments are read for indicators"
    );
}

#[test]
fn html_only_mail_is_turned_into_text() {
    let m = mail("From: a@example.org\nSubject: phish\nContent-Type: text/html; charset=utf-8\n", b"<html><body><p>Fake bank at <a href=\"http://bank.example.test/login\">http://bank.example.test/login</a></p></body></html>");
    let r = mime::parse(&m, 1 << 20).unwrap();
    assert!(
        r.text.contains("http://bank.example.test/login"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("<p>"));
}

#[test]
fn things_that_are_not_mail_are_refused() {
    for bad in [
        &b""[..],
        b"\x00\x01\x02",
        b"just some words without headers",
        b"<html>",
    ] {
        assert!(
            mime::parse(bad, 1024).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn undeclared_utf8_is_read_without_a_warning_and_undeclared_shift_jis_is_repaired() {
    let m = mail("From: r@example.jp\nSubject: x\n", JA_TEXT.as_bytes());
    let r = mime::parse(&m, 1 << 20).unwrap();
    assert!(
        r.text.contains("総当たり攻撃") && r.warnings.is_empty(),
        "{:?}",
        r.warnings
    );
    let (sjis, _, _) = SHIFT_JIS.encode(JA_TEXT);
    let r = mime::parse(&mail("From: r@example.jp\nSubject: x\n", &sjis), 1 << 20).unwrap();
    assert!(r.text.contains("総当たり攻撃"), "{}", r.text);
    assert_eq!(r.warnings.len(), 1);
}

#[test]
fn the_address_a_mail_was_delivered_to_is_read_from_the_mta_s_field() {
    // Postfix writes Delivered-To (and X-Original-To) on top; the topmost is the
    // final delivery's.
    let m = mail(
        "Delivered-To: secretariat@partner.example\nDelivered-To: relay@isp.example\nX-Original-To: incident@csirt.example\nFrom: a@example.jp\nSubject: scan\n",
        b"scan from 192.0.2.1\r\n",
    );
    let r = mime::parse(&m, 1 << 20).unwrap();
    assert_eq!(
        r.delivered_to.as_deref(),
        Some("secretariat@partner.example")
    );
    let m = mail(
        "X-Original-To: <Incident@CSIRT.example>\nFrom: a@example.jp\nSubject: scan\n",
        b"x\r\n",
    );
    assert_eq!(
        mime::parse(&m, 1 << 20).unwrap().delivered_to.as_deref(),
        Some("incident@csirt.example")
    );
    for junk in ["not an address", "a b@c.example", ""] {
        let m = mail(
            &format!("Delivered-To: {junk}\nFrom: a@example.jp\nSubject: s\n"),
            b"x\r\n",
        );
        assert_eq!(
            mime::parse(&m, 1 << 20).unwrap().delivered_to,
            None,
            "{junk:?}"
        );
    }
}

#[test]
fn a_message_that_trips_mail_parser_s_debug_assertion_is_read_or_refused_never_a_panic() {
    // Found by `cargo fuzz run -s none machine_mail`: a spam complaint whose
    // nested message/rfc822 parts reach a `debug_assert!` in mail-parser 0.11.9.
    let raw = include_bytes!("data/mime/fuzz-invalid-part-id.eml");
    let read = std::panic::catch_unwind(|| mime::parse(raw, 1 << 20));
    let read = read.expect("reading a malformed message never panics");
    if let Err(e) = read {
        assert!(e.to_string().contains("RFC 5322"), "{e}");
    }
    assert!(std::panic::catch_unwind(|| renkei_formats::dsn::parse(raw)).is_ok());
}
