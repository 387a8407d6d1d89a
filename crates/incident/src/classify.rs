//! Classification: the coordination center's categories, proposed with reasons.
//!
//! Evidence is weighed from three places: the document's own type (an X-ARF type,
//! an IODEF impact), recognized log lines (sshd failures, packet-filter drops, web
//! probes), and keywords in Japanese and English. The strongest category wins; the
//! reasons say what counted, so the coordinator can confirm or change it knowingly.
//! Each category maps onto a type of the Reference Security Incident Taxonomy.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use renkei_formats::extract::{Indicators, LogKind};
use serde::{Deserialize, Serialize};

use crate::IncidentError;

/// The categories of the quarterly report (JPCERT/CC's), plus inquiries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Probes, scans and other suspicious access (プローブ、スキャン、その他不審なアクセス).
    Scan,
    /// Mail with forged sender headers (送信ヘッダを詐称した電子メールの配送).
    Forged,
    /// Intrusion (侵入).
    Intrusion,
    /// Phishing sites (フィッシングサイト).
    Phishing,
    /// Anything else: DoS, malware, … (その他).
    Other,
    /// A question, not an incident.
    Inquiry,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Scan,
        Category::Forged,
        Category::Intrusion,
        Category::Phishing,
        Category::Other,
        Category::Inquiry,
    ];

    pub fn parse(s: &str) -> Result<Category, IncidentError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scan" => Ok(Category::Scan),
            "forged" => Ok(Category::Forged),
            "intrusion" => Ok(Category::Intrusion),
            "phishing" => Ok(Category::Phishing),
            "other" => Ok(Category::Other),
            "inquiry" => Ok(Category::Inquiry),
            other => Err(IncidentError::invalid(
                "category",
                format!(
                    "unknown category {other:?}; use scan, forged, intrusion, phishing, other or inquiry"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Scan => "scan",
            Category::Forged => "forged",
            Category::Intrusion => "intrusion",
            Category::Phishing => "phishing",
            Category::Other => "other",
            Category::Inquiry => "inquiry",
        }
    }
}

/// Why a category was proposed: what counted, as a message key (`reason.{key}` in
/// the web catalogs, said in the reader's language) and the facts it cites. Stored
/// with the report as `{"reason": "ssh_failures", "count": "3"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub reason: String,
    #[serde(flatten)]
    pub facts: BTreeMap<String, String>,
}

impl Reason {
    /// Every reason the classifier gives.
    pub const KEYS: [&'static str; 8] = [
        "document_type",
        "document_type_undecided",
        "words",
        "ssh_failures",
        "filter_lines",
        "web_lines",
        "question",
        "no_evidence",
    ];
    /// What a document's own type may say it is (`reason_what.{id}`).
    pub const WHAT: [&'static str; 14] = [
        "scan",
        "login_attack",
        "attack_attempt",
        "ddos",
        "malware",
        "compromise",
        "phishing",
        "spam",
        "reconnaissance",
        "denial_of_service",
        "social_engineering",
        "file_modification",
        "copyright",
        "forged",
    ];

    fn new(reason: &str, facts: &[(&str, String)]) -> Reason {
        Reason {
            reason: reason.to_string(),
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub category: Category,
    /// RSIT class and type, e.g. ("information-gathering", "scanner").
    pub rsit: (String, String),
    pub reasons: Vec<Reason>,
    pub scanned_ports: Vec<u16>,
    /// One source probing many ports: counted apart in the port statistics.
    pub comprehensive_scan: bool,
}

/// Sources probing at least this many distinct ports make a comprehensive scan.
pub const COMPREHENSIVE_PORTS: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Signal {
    Scan,
    BruteForce,
    Forged,
    Intrusion,
    Defacement,
    Phishing,
    Dos,
    Malware,
    Spam,
    Copyright,
    Question,
}

const KEYWORDS: &[(&str, Signal)] = &[
    ("scan", Signal::Scan),
    ("スキャン", Signal::Scan),
    ("probe", Signal::Scan),
    ("probing", Signal::Scan),
    ("探索", Signal::Scan),
    ("不審なアクセス", Signal::Scan),
    ("port sweep", Signal::Scan),
    ("brute force", Signal::BruteForce),
    ("brute-force", Signal::BruteForce),
    ("bruteforce", Signal::BruteForce),
    ("総当たり", Signal::BruteForce),
    ("総当り", Signal::BruteForce),
    ("辞書攻撃", Signal::BruteForce),
    ("password guessing", Signal::BruteForce),
    ("login attempts", Signal::BruteForce),
    ("forged", Signal::Forged),
    ("spoofed", Signal::Forged),
    ("詐称", Signal::Forged),
    ("なりすましメール", Signal::Forged),
    ("backscatter", Signal::Forged),
    ("compromised", Signal::Intrusion),
    ("intrusion", Signal::Intrusion),
    ("侵入", Signal::Intrusion),
    ("不正侵入", Signal::Intrusion),
    ("webshell", Signal::Intrusion),
    ("web shell", Signal::Intrusion),
    ("rootkit", Signal::Intrusion),
    ("backdoor", Signal::Intrusion),
    ("バックドア", Signal::Intrusion),
    ("defaced", Signal::Defacement),
    ("defacement", Signal::Defacement),
    ("改ざん", Signal::Defacement),
    ("改竄", Signal::Defacement),
    ("phishing", Signal::Phishing),
    ("phish", Signal::Phishing),
    ("フィッシング", Signal::Phishing),
    ("偽サイト", Signal::Phishing),
    ("偽のログイン", Signal::Phishing),
    ("credential harvesting", Signal::Phishing),
    ("ddos", Signal::Dos),
    ("denial of service", Signal::Dos),
    ("dos attack", Signal::Dos),
    ("サービス運用妨害", Signal::Dos),
    ("サービス妨害", Signal::Dos),
    ("flood", Signal::Dos),
    ("malware", Signal::Malware),
    ("マルウエア", Signal::Malware),
    ("マルウェア", Signal::Malware),
    ("ransomware", Signal::Malware),
    ("ランサムウェア", Signal::Malware),
    ("virus", Signal::Malware),
    ("ウイルス", Signal::Malware),
    ("trojan", Signal::Malware),
    ("botnet", Signal::Malware),
    ("ボット", Signal::Malware),
    ("c2 server", Signal::Malware),
    ("spam", Signal::Spam),
    ("スパム", Signal::Spam),
    ("迷惑メール", Signal::Spam),
    ("教えて", Signal::Question),
    ("教えていただけ", Signal::Question),
    ("質問", Signal::Question),
    ("問い合わせ", Signal::Question),
    ("お問合せ", Signal::Question),
    ("でしょうか", Signal::Question),
    ("how do i", Signal::Question),
    ("how can i", Signal::Question),
    ("could you tell", Signal::Question),
    ("is it possible", Signal::Question),
    ("question", Signal::Question),
];

fn matcher() -> &'static AhoCorasick {
    static M: OnceLock<AhoCorasick> = OnceLock::new();
    M.get_or_init(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(KEYWORDS.iter().map(|(k, _)| *k))
            .expect("keyword automaton builds")
    })
}

/// The category a document's own type names, if it names one clearly.
fn from_hint(hint: &str) -> Option<(Signal, &'static str)> {
    let (family, kind) = hint.split_once('/')?;
    Some(match (family, kind) {
        ("connection", "port_scan" | "reconnaissance" | "vulnerability_scan" | "scraping") => {
            (Signal::Scan, "scan")
        }
        ("connection", "login_attack") => (Signal::BruteForce, "login_attack"),
        ("connection", "sql_injection") => (Signal::Scan, "attack_attempt"),
        ("connection", "ddos") => (Signal::Dos, "ddos"),
        ("connection", "infected_host") | ("infrastructure", "botnet") | ("content", "malware") => {
            (Signal::Malware, "malware")
        }
        ("infrastructure", "compromised_server") | ("content", "remote_compromise") => {
            (Signal::Intrusion, "compromise")
        }
        ("content", "phishing") | ("content", "brand_infringement") | ("content", "fraud") => {
            (Signal::Phishing, "phishing")
        }
        ("messaging", "spam" | "bulk_messaging") => (Signal::Spam, "spam"),
        ("iodef", "recon") => (Signal::Scan, "reconnaissance"),
        ("iodef", "dos") => (Signal::Dos, "denial_of_service"),
        ("iodef", "admin" | "user" | "ext-compromise")
        | ("iodef", "takeover-account" | "takeover-service" | "takeover-system") => {
            (Signal::Intrusion, "compromise")
        }
        ("iodef", "social-engineering") => (Signal::Phishing, "social_engineering"),
        ("iodef", "file") => (Signal::Defacement, "file_modification"),
        // ARF feedback types (RFC 5965 §7.3).
        ("arf", "abuse") => (Signal::Spam, "spam"),
        ("arf", "fraud") => (Signal::Phishing, "phishing"),
        ("arf", "virus") => (Signal::Malware, "malware"),
        ("arf", "auth-failure" | "dmarc") => (Signal::Forged, "forged"),
        // Legacy X-ARF types, normalized (`login-attack` is `loginattack`).
        ("xarf", "loginattack" | "bruteforce") => (Signal::BruteForce, "login_attack"),
        ("xarf", "portscan" | "scan" | "probe") => (Signal::Scan, "scan"),
        ("xarf", "ddos" | "dos") => (Signal::Dos, "ddos"),
        ("xarf", "spam" | "rpz") => (Signal::Spam, "spam"),
        ("xarf", "phishing" | "fraud") => (Signal::Phishing, "phishing"),
        ("xarf", "malware" | "botnet" | "infectedhost") => (Signal::Malware, "malware"),
        ("xarf", "copyright" | "trademark") | ("acns", _) => (Signal::Copyright, "copyright"),
        ("xarf", "compromised" | "hacked") => (Signal::Intrusion, "compromise"),
        _ => return None,
    })
}

/// Proposes a category for a report.
///
/// `declared_ports` are ports the document itself names as targeted (X-ARF
/// `ports_scanned`, IODEF target services).
pub fn classify(
    text: &str,
    hint: Option<&str>,
    found: &Indicators,
    declared_ports: &[u16],
) -> Classification {
    let mut weight: BTreeMap<Signal, u32> = BTreeMap::new();
    let mut reasons = Vec::new();
    let mut add = |s: Signal, w: u32| *weight.entry(s).or_default() += w;

    if let Some(h) = hint {
        match from_hint(h) {
            Some((signal, what)) => {
                add(signal, 10);
                reasons.push(Reason::new(
                    "document_type",
                    &[("what", what.to_string()), ("type", h.to_string())],
                ));
            }
            None => reasons.push(Reason::new(
                "document_type_undecided",
                &[("type", h.to_string())],
            )),
        }
    }

    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    for m in matcher().find_iter(text) {
        let (word, signal) = KEYWORDS[m.pattern().as_usize()];
        if seen.insert(word) {
            add(signal, 2);
        }
    }
    if !seen.is_empty() {
        let shown: Vec<String> = seen.iter().take(6).map(|w| format!("\"{w}\"")).collect();
        reasons.push(Reason::new("words", &[("words", shown.join(", "))]));
    }

    let count = |k: LogKind| found.events.iter().filter(|e| e.kind == k).count();
    let (sshd, firewall, web, windows) = (
        count(LogKind::SshdFailure),
        count(LogKind::FirewallLog),
        count(LogKind::WebAccess),
        count(LogKind::WindowsFirewall),
    );
    if sshd > 0 {
        add(Signal::BruteForce, 3 + sshd.min(10) as u32);
        reasons.push(Reason::new("ssh_failures", &[("count", sshd.to_string())]));
    }
    if firewall + windows > 0 {
        add(Signal::Scan, 3 + (firewall + windows).min(10) as u32);
        reasons.push(Reason::new(
            "filter_lines",
            &[("count", (firewall + windows).to_string())],
        ));
    }
    if web > 0 {
        add(Signal::Scan, 1 + web.min(5) as u32);
        reasons.push(Reason::new("web_lines", &[("count", web.to_string())]));
    }

    // Ports: what the logs and the document say was targeted.
    let mut per_source: BTreeMap<IpAddr, BTreeSet<u16>> = BTreeMap::new();
    for e in &found.events {
        if let Some(p) = e.port {
            per_source.entry(e.source).or_default().insert(p);
        }
    }
    let mut ports: BTreeSet<u16> = per_source.values().flatten().copied().collect();
    ports.extend(declared_ports.iter().copied());
    let comprehensive = per_source.values().any(|p| p.len() >= COMPREHENSIVE_PORTS)
        || declared_ports.iter().collect::<BTreeSet<_>>().len() >= COMPREHENSIVE_PORTS;

    let has_evidence = !found.ips.is_empty()
        || !found.urls.is_empty()
        || !found.events.is_empty()
        || hint.is_some();
    let strongest = weight
        .iter()
        .filter(|(s, _)| **s != Signal::Question)
        .max_by_key(|(s, w)| (**w, std::cmp::Reverse(**s)))
        .map(|(s, _)| *s);
    let asks = weight.contains_key(&Signal::Question) || text.contains('?') || text.contains('？');

    let (category, rsit): (Category, (&str, &str)) = match strongest {
        None if asks || !has_evidence => {
            reasons.push(Reason::new(
                if asks { "question" } else { "no_evidence" },
                &[],
            ));
            (
                if asks {
                    Category::Inquiry
                } else {
                    Category::Other
                },
                if asks {
                    ("other", "other")
                } else {
                    ("other", "undetermined")
                },
            )
        }
        None => (Category::Other, ("other", "undetermined")),
        Some(Signal::Scan) => (Category::Scan, ("information-gathering", "scanner")),
        Some(Signal::BruteForce) => (Category::Scan, ("intrusion-attempts", "brute-force")),
        Some(Signal::Forged) => (Category::Forged, ("fraud", "masquerade")),
        Some(Signal::Intrusion) => (Category::Intrusion, ("intrusions", "system-compromise")),
        Some(Signal::Defacement) => (
            Category::Intrusion,
            ("intrusions", "application-compromise"),
        ),
        Some(Signal::Phishing) => (Category::Phishing, ("fraud", "phishing")),
        Some(Signal::Dos) => (Category::Other, ("availability", "ddos")),
        Some(Signal::Malware) => (Category::Other, ("malicious-code", "infected-system")),
        Some(Signal::Copyright) => (Category::Other, ("fraud", "copyright")),
        Some(Signal::Spam) => {
            // Spam whose sender was forged is the "forged" category.
            if weight.contains_key(&Signal::Forged) {
                (Category::Forged, ("fraud", "masquerade"))
            } else {
                (Category::Other, ("abusive-content", "spam"))
            }
        }
        Some(Signal::Question) => unreachable!("questions are filtered out above"),
    };
    Classification {
        category,
        rsit: (rsit.0.to_string(), rsit.1.to_string()),
        reasons,
        scanned_ports: if category == Category::Scan {
            ports.into_iter().collect()
        } else {
            Vec::new()
        },
        comprehensive_scan: category == Category::Scan && comprehensive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_formats::extract::extract;

    fn classify_text(text: &str) -> Classification {
        classify(text, None, &extract(text), &[])
    }

    #[test]
    fn every_category_maps_onto_a_published_rsit_type() {
        let rsit = renkei_formats::taxonomy::rsit();
        for text in [
            "port scan from 192.0.2.1",
            "Jan 1 00:00:00 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2",
            "forged sender 192.0.2.1",
            "server compromised 192.0.2.1",
            "our site was defaced 192.0.2.1",
            "phishing at http://192.0.2.1/",
            "DDoS from 192.0.2.1",
            "malware at 192.0.2.1",
            "spam from 192.0.2.1",
            "教えてください？",
            "192.0.2.1",
        ] {
            let c = classify_text(text);
            assert!(
                rsit.find(&c.rsit.0, &c.rsit.1).is_some(),
                "{text}: {:?}",
                c.rsit
            );
        }
    }

    #[test]
    fn japanese_and_english_reports_are_classified_with_reasons() {
        let c = classify_text(
            "フィッシングサイトを発見しました。hxxp://bank-login.example[.]com/ に偽のログイン画面があります。",
        );
        assert_eq!(c.category, Category::Phishing);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.reason == "words" && r.facts["words"].contains("フィッシング")),
            "{:?}",
            c.reasons
        );
        let c = classify_text("Our web site www.example.jp was defaced (改ざん) via 203.0.113.5");
        assert_eq!(c.category, Category::Intrusion);
        let c = classify_text(
            "送信元を詐称したメールが大量に届いています。Received: from 198.51.100.3",
        );
        assert_eq!(c.category, Category::Forged);
    }

    #[test]
    fn ssh_failures_are_a_scan_of_port_22_by_brute_force() {
        let log = "Jan 15 07:22:18 h sshd[1]: Failed password for root from 198.51.100.7 port 4444 ssh2\n".repeat(3);
        let c = classify_text(&log);
        assert_eq!(c.category, Category::Scan);
        assert_eq!(
            c.rsit,
            ("intrusion-attempts".to_string(), "brute-force".to_string())
        );
        assert_eq!(c.scanned_ports, vec![22]);
        assert!(!c.comprehensive_scan);
    }

    #[test]
    fn one_source_on_many_ports_is_a_comprehensive_scan() {
        let log: String = (1..=12)
            .map(|p| format!("2024-01-15T00:00:00Z gw kernel: SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP SPT=1 DPT={p}\n"))
            .collect();
        let c = classify_text(&log);
        assert_eq!(c.category, Category::Scan);
        assert!(c.comprehensive_scan);
        assert_eq!(c.scanned_ports.len(), 12);
    }

    #[test]
    fn a_question_without_evidence_is_an_inquiry() {
        assert_eq!(
            classify_text("脆弱性情報の入手方法を教えていただけますか？").category,
            Category::Inquiry
        );
        assert_eq!(
            classify_text("How do I report a vulnerability to you?").category,
            Category::Inquiry
        );
        assert_ne!(
            classify_text("Is this a scan? Failed attempts from 198.51.100.7 port 22").category,
            Category::Inquiry
        );
    }

    #[test]
    fn the_documents_own_type_weighs_most() {
        let c = classify(
            "spam mentioned in passing",
            Some("content/phishing"),
            &Indicators::default(),
            &[],
        );
        assert_eq!(c.category, Category::Phishing);
        let c = classify(
            "",
            Some("connection/port_scan"),
            &Indicators::default(),
            &(1..=11).collect::<Vec<_>>(),
        );
        assert!(c.comprehensive_scan && c.category == Category::Scan);
    }
}
