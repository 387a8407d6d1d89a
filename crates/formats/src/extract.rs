//! Indicator extraction from free text, mail bodies and pasted logs.
//!
//! One pass over the text: each line is first offered to the log-line recognizers
//! (sshd, web access logs, iptables/nftables/ufw, Windows firewall), which know which
//! address is the source and which port was targeted; then the line is cut into
//! tokens, defanged forms are restored (`192.0.2[.]1`, `hxxp://`, `[at]`), and each
//! token is classified as an address, URL, e-mail address or domain. Words just
//! before an address ("from", "src", "送信元", "攻撃元", "宛先" …) give it a role.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The address the activity came from.
    Source,
    /// The address that was attacked or probed.
    Target,
    /// Named without saying which.
    Mentioned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    SshdFailure,
    WebAccess,
    FirewallLog,
    WindowsFirewall,
}

/// One recognized log line: who came, to which port, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    pub kind: LogKind,
    pub source: IpAddr,
    pub target: Option<IpAddr>,
    pub port: Option<u16>,
    pub proto: Option<Proto>,
    /// Only when the line carries a date with a year and a zone (syslog's
    /// "Jan 15 07:22:18" has neither, so it is left out rather than guessed).
    pub time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IpIndicator {
    pub ip: IpAddr,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortIndicator {
    pub port: u16,
    pub proto: Option<Proto>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Indicators {
    /// Each address once, with the strongest role seen (source > target > mentioned).
    pub ips: Vec<IpIndicator>,
    pub domains: Vec<String>,
    pub urls: Vec<String>,
    pub emails: Vec<String>,
    pub ports: Vec<PortIndicator>,
    pub times: Vec<DateTime<FixedOffset>>,
    pub events: Vec<LogEvent>,
}

impl Indicators {
    pub fn sources(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ips
            .iter()
            .filter(|i| i.role == Role::Source)
            .map(|i| i.ip)
    }

    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
            && self.domains.is_empty()
            && self.urls.is_empty()
            && self.emails.is_empty()
    }
}

#[derive(Default)]
struct Collector {
    ips: Vec<IpIndicator>,
    domains: BTreeSet<String>,
    urls: BTreeSet<String>,
    emails: BTreeSet<String>,
    ports: BTreeSet<PortIndicator>,
    times: Vec<DateTime<FixedOffset>>,
    events: Vec<LogEvent>,
}

impl Collector {
    fn ip(&mut self, ip: IpAddr, role: Role) {
        match self.ips.iter_mut().find(|i| i.ip == ip) {
            Some(existing) => existing.role = existing.role.min(role),
            None => self.ips.push(IpIndicator { ip, role }),
        }
    }

    fn finish(self) -> Indicators {
        let mut times = self.times;
        times.sort();
        times.dedup();
        Indicators {
            ips: self.ips,
            domains: self.domains.into_iter().collect(),
            urls: self.urls.into_iter().collect(),
            emails: self.emails.into_iter().collect(),
            ports: self.ports.into_iter().collect(),
            times,
            events: self.events,
        }
    }
}

/// Extracts every indicator from `text`.
pub fn extract(text: &str) -> Indicators {
    let mut c = Collector::default();
    for line in text.lines() {
        // Long lines are cut: nothing useful hides past 8 KiB of one line, and the
        // cost of a pathological input stays linear.
        let line = truncate(line, 8192);
        if let Some(event) = recognize_log_line(line) {
            c.ip(event.source, Role::Source);
            if let Some(t) = event.target {
                c.ip(t, Role::Target);
            }
            if let Some(port) = event.port {
                c.ports.insert(PortIndicator {
                    port,
                    proto: event.proto,
                });
            }
            if let Some(t) = event.time {
                c.times.push(t.fixed_offset());
            }
            // sshd and packet-filter lines are fully read by their structure; the
            // rest of such a line (host, user name, flags) holds no indicator. Web
            // and Windows lines go on to the generic pass for URLs and names.
            let structured = matches!(event.kind, LogKind::SshdFailure | LogKind::FirewallLog);
            c.events.push(event);
            if structured {
                continue;
            }
        }
        scan_tokens(line, &mut c);
        scan_times(line, &mut c);
    }
    c.finish()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const SOURCE_WORDS: &[&str] = &[
    "from",
    "src",
    "source",
    "attacker",
    "origin",
    "送信元",
    "攻撃元",
    "発信元",
    "接続元",
    "アクセス元",
];
const TARGET_WORDS: &[&str] = &[
    "dst",
    "destination",
    "target",
    "victim",
    "宛先",
    "攻撃先",
    "対象",
    "被害",
    "接続先",
    "to",
    // The reporter's own machines, named as such.
    "our server",
    "our web server",
    "our mail server",
    "our host",
    "honeypot",
    "sensor",
    "弊社サーバ",
    "弊社のサーバ",
    "当社サーバ",
];

fn role_from_context(before: &str) -> Role {
    // The last 24 characters before the address, with the filler between keyword and
    // address ("IP", "address", punctuation) taken off the end; what is left must end
    // with a keyword, compared without case. An English keyword must be a whole word,
    // so "tokyo" or "photo" do not count as "to".
    let cut = before
        .char_indices()
        .rev()
        .nth(23)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut rest = &before[cut..];
    loop {
        rest = rest.trim_end_matches(|c: char| !c.is_alphanumeric());
        match FILLER.iter().find(|f| ends_with_ignore_case(rest, f)) {
            Some(f) => rest = &rest[..rest.len() - f.len()],
            None => break,
        }
    }
    let ends_with_word = |w: &&str| {
        ends_with_ignore_case(rest, w)
            && (!w.is_ascii()
                || rest[..rest.len() - w.len()]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_ascii_alphanumeric()))
    };
    if SOURCE_WORDS.iter().any(ends_with_word) {
        Role::Source
    } else if TARGET_WORDS.iter().any(ends_with_word) {
        Role::Target
    } else {
        Role::Mentioned
    }
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

const FILLER: &[&str] = &["ip", "address", "addr", "host", "アドレス", "ホスト"];

/// Bytes that end a token: ASCII white space and punctuation that never occurs inside
/// an indicator, and every byte of a non-ASCII character (multi-byte UTF-8 bytes are
/// all >= 0x80, so tokens always start and end on character boundaries).
const fn delimiters() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = true;
        i += 1;
    }
    let ascii = b" \t\n\r\x0b\x0c<>\"',;|`";
    let mut j = 0;
    while j < ascii.len() {
        t[ascii[j] as usize] = true;
        j += 1;
    }
    t
}

static DELIMITER: [bool; 256] = delimiters();

/// Restores the usual defanged spellings so the token parses.
fn refang(token: &str) -> std::borrow::Cow<'_, str> {
    let b = token.as_bytes();
    // Only a bracket around a dot, colon, at sign or the words dot/at is a defang;
    // "sshd[4001]:" is not.
    let bracketed = b.windows(2).any(|w| {
        matches!(w[0], b'[' | b'(' | b'{')
            && matches!(w[1], b'.' | b':' | b'@' | b'd' | b'D' | b'a' | b'A' | b'/')
    });
    let hxxp = b.windows(4).any(|w| w.eq_ignore_ascii_case(b"hxxp"))
        || b.windows(3).any(|w| w.eq_ignore_ascii_case(b"fxp"));
    if !(bracketed || hxxp) {
        return std::borrow::Cow::Borrowed(token);
    }
    let mut t = token.to_string();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[@]", "@"),
        ("[at]", "@"),
        ("(at)", "@"),
    ] {
        if t.contains(from) {
            t = t.replace(from, to);
        }
    }
    let lower = t.to_ascii_lowercase();
    for (from, to) in [
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("fxp://", "ftp://"),
    ] {
        if lower.starts_with(from) {
            t = format!("{to}{}", &t[from.len()..]);
        }
    }
    std::borrow::Cow::Owned(t)
}

fn trim_punctuation(t: &str) -> &str {
    t.trim_matches(|c: char| {
        matches!(
            c,
            '(' | ')' | '[' | ']' | '{' | '}' | '.' | ':' | '!' | '?' | '*'
        )
    })
}

fn scan_tokens(line: &str, c: &mut Collector) {
    let bytes = line.as_bytes();
    let mut start: Option<usize> = None;
    // Set after a "port" word, so the number that follows is taken as a port.
    let mut port_word_end: Option<usize> = None;
    for i in 0..=bytes.len() {
        let boundary = i == bytes.len() || DELIMITER[bytes[i] as usize];
        match (boundary, start) {
            (true, Some(s)) => {
                let word = &line[s..i];
                if let Some(after) = port_word_end.take()
                    && line[after..s]
                        .chars()
                        .all(|ch| matches!(ch, ' ' | '\t' | ':' | '：' | '#' | '.'))
                    && let Ok(port) = word.trim_end_matches(['.', ',', ')']).parse::<u16>()
                {
                    c.ports.insert(PortIndicator { port, proto: None });
                }
                if is_port_word(word) {
                    port_word_end = Some(i);
                }
                token(line, s, i, c);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
        // "ポート 445", "ポート番号：3389" (non-ASCII, so never part of a token).
        if i < bytes.len() && bytes[i] == 0xE3 && line[i..].starts_with("ポート") {
            let mut end = i + "ポート".len();
            if line[end..].starts_with("番号") {
                end += "番号".len();
            }
            port_word_end = Some(end);
        }
    }
    if line.contains('/') {
        scan_slash_ports(line, c);
    }
}

/// Where "://" starts, found by the colon (cheaper than a substring search).
fn scheme_end(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    let colon = memchr::memchr(b':', b)?;
    (b.get(colon + 1..colon + 3) == Some(b"//")).then_some(colon)
}

fn is_port_word(w: &str) -> bool {
    let w = w.trim_end_matches([':', '#']);
    w.eq_ignore_ascii_case("port")
        || w.eq_ignore_ascii_case("ports")
        || w.eq_ignore_ascii_case("no.")
        || w.eq_ignore_ascii_case("no")
        || w.eq_ignore_ascii_case("number")
}

fn token(line: &str, start: usize, end: usize, c: &mut Collector) {
    let raw = &line[start..end];
    if raw.len() < 4 || raw.len() > 2048 {
        return;
    }
    // Every indicator has a dot (addresses, names, URLs, mail), a colon (IPv6) or an
    // at sign; most words have none, and are dropped here for free.
    if !raw.bytes().any(|b| matches!(b, b'.' | b':' | b'@' | b'=')) {
        return;
    }
    let refanged = refang(raw);
    let mut t = trim_punctuation(&refanged);
    // "[2001:db8::1]:443" keeps its brackets; the trim above took them.
    let light = refanged.trim_end_matches(['.', ',', '!', '?', ')']);
    if light.starts_with('[') && light.contains("]:") {
        t = light;
    }
    if t.is_empty() {
        return;
    }
    // Key=value fields (SRC=…, client=…): the value is the indicator; DPT=23 and
    // dpt:23 name the port.
    if let Some((key, value)) = t.split_once(['=', ':'])
        && key.eq_ignore_ascii_case("dpt")
    {
        if let Ok(port) = value.parse::<u16>() {
            c.ports.insert(PortIndicator { port, proto: None });
        }
        return;
    }
    if scheme_end(t).is_none()
        && let Some((_, value)) = t.rsplit_once('=')
    {
        if value.len() >= 4 {
            return token_value(line, start, value, c);
        }
        return;
    }
    token_value(line, start, t, c);
}

fn token_value(line: &str, start: usize, t: &str, c: &mut Collector) {
    if let Some(scheme_end) = scheme_end(t) {
        let scheme = t[..scheme_end].to_ascii_lowercase();
        let scheme = scheme.as_str();
        if matches!(scheme, "http" | "https" | "ftp") {
            let rest = &t[scheme_end + 3..];
            let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
            if let Some((host, port)) = split_host_port(host_port) {
                let role = role_from_context(&line[..start]);
                match host.parse::<IpAddr>() {
                    Ok(ip) => c.ip(ip, role),
                    Err(_) if is_domain(host) => {
                        c.domains.insert(host.to_ascii_lowercase());
                    }
                    Err(_) => return,
                }
                if let Some(p) = port {
                    c.ports.insert(PortIndicator {
                        port: p,
                        proto: Some(Proto::Tcp),
                    });
                }
                c.urls.insert(t.to_string());
            }
        }
        return;
    }
    if let Some((local, domain)) = t.split_once('@') {
        if !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._%+-".contains(ch))
            && is_domain(domain)
        {
            c.emails.insert(t.to_ascii_lowercase());
        }
        return;
    }
    if let Some((host, port)) = split_host_port(t)
        && let Ok(ip) = host.parse::<IpAddr>()
    {
        let known_source = c.ips.iter().any(|i| i.ip == ip && i.role == Role::Source);
        let role = if known_source {
            Role::Source
        } else {
            role_from_context(&line[..start])
        };
        c.ip(ip, role);
        if let Some(p) = port {
            c.ports.insert(PortIndicator {
                port: p,
                proto: None,
            });
        }
        return;
    }
    // CIDR notation names a network, not a host: keep the address as mentioned.
    if let Some((addr, len)) = t.split_once('/')
        && len.parse::<u8>().is_ok()
        && let Ok(ip) = addr.parse::<IpAddr>()
    {
        c.ip(ip, Role::Mentioned);
        return;
    }
    if is_domain(t) {
        c.domains.insert(t.to_ascii_lowercase());
    }
}

/// `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]:443`, `2001:db8::1`.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match s.matches(':').count() {
        0 => Some((s, None)),
        1 => {
            let (h, p) = s.split_once(':')?;
            let port = p.parse().ok()?;
            Some((h, Some(port)))
        }
        _ => Some((s, None)),
    }
}

const FILE_EXTENSIONS: &[&str] = &[
    "html", "htm", "php", "asp", "aspx", "jsp", "txt", "log", "exe", "dll", "zip", "rar", "gz",
    "tgz", "js", "css", "png", "jpg", "jpeg", "gif", "svg", "pdf", "doc", "docx", "xls", "xlsx",
    "ppt", "pptx", "json", "xml", "conf", "sh", "py", "pl", "rb", "bak", "tmp", "ini", "cgi",
    "eml", "msg", "csv", "bin", "iso", "img", "jar", "md",
];

fn is_domain(s: &str) -> bool {
    if s.len() > 253 || s.len() < 4 {
        return false;
    }
    let Some((head, tld)) = s.rsplit_once('.') else {
        return false;
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == b'-' || ch == b'_')
    };
    (2..=24).contains(&tld.len())
        && tld.bytes().all(|ch| ch.is_ascii_alphabetic())
        && head.split('.').all(valid_label)
        && !FILE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(tld))
        // Version numbers and the like ("v1.2") are not domains.
        && head.bytes().any(|ch| ch.is_ascii_alphabetic())
}

/// The few patterns still matched by regex; the hot paths (tokens, ports, ISO
/// times) are scanned by hand.
struct Patterns {
    /// "22/tcp", "udp/53"
    slash_port: Regex,
    /// RFC 2822: Mon, 15 Jan 2024 07:22:18 +0900
    rfc2822: Regex,
    /// Apache/nginx: 198.51.100.7 - - [15/Jan/2024:07:22:18 +0900] "GET / HTTP/1.1"
    access_log: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        slash_port: Regex::new(r"(?i)\b(\d{1,5})/(tcp|udp)\b|\b(tcp|udp)/(\d{1,5})\b").unwrap(),
        rfc2822: Regex::new(r"\b(\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})").unwrap(),
        access_log: Regex::new(r#"^(\S+) \S+ \S+ \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "[A-Z]+ "#).unwrap(),
    })
}

fn scan_slash_ports(line: &str, c: &mut Collector) {
    for cap in patterns().slash_port.captures_iter(line) {
        let (num, proto) = match (cap.get(1), cap.get(2), cap.get(3), cap.get(4)) {
            (Some(n), Some(p), _, _) => (n.as_str(), p.as_str()),
            (_, _, Some(p), Some(n)) => (n.as_str(), p.as_str()),
            _ => continue,
        };
        if let Ok(port) = num.parse::<u16>() {
            let proto = if proto.eq_ignore_ascii_case("udp") {
                Proto::Udp
            } else {
                Proto::Tcp
            };
            c.ports.insert(PortIndicator {
                port,
                proto: Some(proto),
            });
        }
    }
}

fn parse_zone(z: &str) -> Option<FixedOffset> {
    match z {
        "Z" | "UTC" | "GMT" => FixedOffset::east_opt(0),
        "JST" => FixedOffset::east_opt(9 * 3600),
        _ => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z.chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let h: i32 = digits[..2].parse().ok()?;
            let m: i32 = digits[2..].parse().ok()?;
            FixedOffset::east_opt(sign * (h * 3600 + m * 60))
        }
    }
}

fn scan_times(line: &str, c: &mut Collector) {
    let b = line.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    // 2024-01-15[T ]…
    // 2024-01-15[T ]… : parse by hand where the dashes are.
    let mut iso_at = false;
    for i in memchr::memchr_iter(b'-', b) {
        if i >= 4
            && d(i - 4)
            && d(i - 3)
            && d(i - 2)
            && d(i - 1)
            && d(i + 1)
            && d(i + 2)
            && b.get(i + 3) == Some(&b'-')
            && d(i + 4)
            && d(i + 5)
            && matches!(b.get(i + 6), Some(b'T' | b' '))
        {
            iso_at = true;
            if (i == 4 || !b[i - 5].is_ascii_alphanumeric())
                && let Some(t) = iso_time_at(&line[i - 4..])
            {
                c.times.push(t);
            }
        }
    }
    // "Jan 2024 " as in "15 Jan 2024 07:22:18 +0900"
    let rfc2822_at = memchr::memchr_iter(b' ', b).any(|i| {
        i >= 3
            && b[i - 3].is_ascii_uppercase()
            && b[i - 2].is_ascii_lowercase()
            && b[i - 1].is_ascii_lowercase()
            && d(i + 1)
            && d(i + 2)
            && d(i + 3)
            && d(i + 4)
            && b.get(i + 5) == Some(&b' ')
    });
    let _ = iso_at;
    let rfc2822 = &patterns().rfc2822;
    if rfc2822_at {
        for cap in rfc2822.captures_iter(line) {
            if let Ok(t) = DateTime::parse_from_str(&cap[1], "%d %b %Y %H:%M:%S %z") {
                c.times.push(t);
            }
        }
    }
}

/// "2024-01-15T07:22:18Z", "2024-01-15 07:22:18.5 +0900", "2024-01-15 07:22 JST" at
/// the start of `s`; None without a zone, which is never guessed.
fn iso_time_at(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let (hour, minute) = (num(11, 2)?, num(14, 2)?);
    if b.get(13) != Some(&b':') {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    let mut nanos = 0;
    if b.get(at) == Some(&b':') {
        second = num(at + 1, 2)?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
                .min(9);
            let frac = s.get(at + 1..at + 1 + digits)?;
            nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - digits as u32);
            at += 1 + b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
        }
    }
    if b.get(at) == Some(&b' ') {
        at += 1;
    }
    let rest = s.get(at..)?;
    let zone_len = if rest.starts_with('Z') {
        1
    } else if rest.starts_with("JST") || rest.starts_with("UTC") || rest.starts_with("GMT") {
        3
    } else if rest.starts_with(['+', '-']) {
        if rest.get(3..4) == Some(":") { 6 } else { 5 }
    } else {
        return None;
    };
    let zone = rest.get(..zone_len)?;
    if rest[zone_len..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let offset = parse_zone(zone)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    offset
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = memchr::memmem::find(line.as_bytes(), key.as_bytes())? + key.len();
    line[at..].split_whitespace().next()
}

struct Finders {
    src: memchr::memmem::Finder<'static>,
    sshd: memchr::memmem::Finder<'static>,
    quote: memchr::memmem::Finder<'static>,
}

fn finders() -> &'static Finders {
    static F: OnceLock<Finders> = OnceLock::new();
    F.get_or_init(|| Finders {
        src: memchr::memmem::Finder::new("SRC="),
        sshd: memchr::memmem::Finder::new("sshd"),
        quote: memchr::memmem::Finder::new("] \""),
    })
}

fn recognize_log_line(line: &str) -> Option<LogEvent> {
    if line.len() < 20 {
        return None;
    }
    let f = finders();
    let b = line.as_bytes();
    // iptables / nftables / ufw: "... SRC=198.51.100.7 DST=192.0.2.10 ... PROTO=TCP SPT=4444 DPT=23 ..."
    if f.src.find(b).is_some()
        && (memchr::memmem::find(b, b"DPT=").is_some()
            || memchr::memmem::find(b, b"PROTO=ICMP").is_some())
    {
        let source = field(line, "SRC=")?.parse().ok()?;
        let target = field(line, "DST=").and_then(|d| d.parse().ok());
        let proto = field(line, "PROTO=").and_then(|p| match p.to_ascii_uppercase().as_str() {
            "TCP" => Some(Proto::Tcp),
            "UDP" => Some(Proto::Udp),
            "ICMP" => Some(Proto::Icmp),
            _ => None,
        });
        let port = field(line, "DPT=").and_then(|p| p.parse().ok());
        return Some(LogEvent {
            kind: LogKind::FirewallLog,
            source,
            target,
            port,
            proto,
            time: leading_iso_time(line),
        });
    }
    // sshd: "sshd[1234]: Failed password for invalid user admin from 198.51.100.7 port 51234 ssh2"
    if f.sshd.find(b).is_some() {
        let failure = [
            "Failed password",
            "Invalid user",
            "authentication failure",
            "Failed publickey",
            "Did not receive identification",
            "Connection closed by authenticating user",
            "maximum authentication attempts",
        ]
        .iter()
        .any(|k| memchr::memmem::find(b, k.as_bytes()).is_some());
        if failure {
            let source = line
                .split_whitespace()
                .skip_while(|w| *w != "from" && !w.starts_with("rhost="))
                .find_map(|w| w.trim_start_matches("rhost=").parse::<IpAddr>().ok())
                .or_else(|| field(line, "rhost=").and_then(|v| v.parse().ok()))?;
            return Some(LogEvent {
                kind: LogKind::SshdFailure,
                source,
                target: None,
                port: Some(22),
                proto: Some(Proto::Tcp),
                time: leading_iso_time(line),
            });
        }
    }
    // Windows firewall (pfirewall.log): date time action protocol src-ip dst-ip src-port dst-port …
    if b.len() > 30 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 8 && matches!(f[2], "DROP" | "ALLOW" | "INFO-EVENTS-LOST") {
            let source = f[4].parse().ok()?;
            let proto = match f[3] {
                "TCP" => Some(Proto::Tcp),
                "UDP" => Some(Proto::Udp),
                "ICMP" => Some(Proto::Icmp),
                _ => None,
            };
            // pfirewall.log writes local time without a zone; keep the time out.
            return Some(LogEvent {
                kind: LogKind::WindowsFirewall,
                source,
                target: f[5].parse().ok(),
                port: f[7].parse().ok(),
                proto,
                time: None,
            });
        }
    }
    // Apache / nginx access logs.
    if f.quote.find(b).is_some() {
        let access = &patterns().access_log;
        if let Some(cap) = access.captures(line) {
            let source = cap[1].parse().ok()?;
            let time = DateTime::parse_from_str(&cap[2], "%d/%b/%Y:%H:%M:%S %z")
                .ok()
                .map(|t| t.with_timezone(&Utc));
            return Some(LogEvent {
                kind: LogKind::WebAccess,
                source,
                target: None,
                port: None,
                proto: Some(Proto::Tcp),
                time,
            });
        }
    }
    None
}

/// A zoned ISO timestamp at the start of a line (journald, rsyslog's high-precision
/// format).
fn leading_iso_time(line: &str) -> Option<DateTime<Utc>> {
    let first = line.split_whitespace().next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// UTC from any zoned time.
pub fn utc(t: &DateTime<FixedOffset>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&t.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defanged_addresses_and_urls_are_restored() {
        let found = extract(
            "C2 at 198.51.100[.]23 and hxxp://evil[.]example/path?q=1, mail bad[at]evil.example",
        );
        assert!(found.ips.iter().any(|i| i.ip == ip("198.51.100.23")));
        assert_eq!(found.urls, vec!["http://evil.example/path?q=1"]);
        assert!(found.domains.contains(&"evil.example".to_string()));
        assert_eq!(found.emails, vec!["bad@evil.example"]);
    }

    #[test]
    fn words_before_an_address_give_it_its_role() {
        let found = extract("送信元IP: 203.0.113.9\n宛先：192.0.2.10\nseen 198.51.100.1 too");
        let role = |s: &str| found.ips.iter().find(|i| i.ip == ip(s)).unwrap().role;
        assert_eq!(role("203.0.113.9"), Role::Source);
        assert_eq!(role("192.0.2.10"), Role::Target);
        assert_eq!(role("198.51.100.1"), Role::Mentioned);
        let found = extract("Connections from 203.0.113.9 to 192.0.2.10 in tokyo 198.51.100.2");
        let role = |s: &str| found.ips.iter().find(|i| i.ip == ip(s)).unwrap().role;
        assert_eq!(role("203.0.113.9"), Role::Source);
        assert_eq!(role("192.0.2.10"), Role::Target);
    }

    #[test]
    fn sshd_failures_name_the_source_and_port_22() {
        let text = "Jan 15 07:22:18 host sshd[4242]: Failed password for invalid user admin from 198.51.100.7 port 51234 ssh2";
        let found = extract(text);
        assert_eq!(found.events.len(), 1);
        let e = &found.events[0];
        assert_eq!(
            (e.kind, e.source, e.port),
            (LogKind::SshdFailure, ip("198.51.100.7"), Some(22))
        );
        assert_eq!(
            found.sources().collect::<Vec<_>>(),
            vec![ip("198.51.100.7")]
        );
    }

    #[test]
    fn firewall_lines_give_source_target_protocol_and_port() {
        let iptables = "2024-01-15T07:22:18+09:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=40 PROTO=TCP SPT=4444 DPT=23 WINDOW=1024 SYN";
        let e = &extract(iptables).events[0];
        assert_eq!(e.kind, LogKind::FirewallLog);
        assert_eq!(
            (e.source, e.target, e.port, e.proto),
            (
                ip("203.0.113.5"),
                Some(ip("192.0.2.1")),
                Some(23),
                Some(Proto::Tcp)
            )
        );
        assert_eq!(e.time.unwrap().to_rfc3339(), "2024-01-14T22:22:18+00:00");
        let windows = "2024-01-15 10:22:33 DROP TCP 198.51.100.1 192.0.2.10 51234 3389 60 S 12345 0 65535 - - - RECEIVE";
        let e = &extract(windows).events[0];
        assert_eq!((e.kind, e.port), (LogKind::WindowsFirewall, Some(3389)));
    }

    #[test]
    fn web_access_lines_name_the_client_and_time() {
        let line = r#"198.51.100.44 - - [15/Jan/2024:07:22:18 +0900] "GET /wp-login.php HTTP/1.1" 404 162 "-" "Mozilla/5.0""#;
        let e = &extract(line).events[0];
        assert_eq!(
            (e.kind, e.source),
            (LogKind::WebAccess, ip("198.51.100.44"))
        );
        assert_eq!(e.time.unwrap().to_rfc3339(), "2024-01-14T22:22:18+00:00");
    }

    #[test]
    fn ports_come_from_phrases_slash_forms_and_host_port() {
        let found =
            extract("scans on port 445 and ポート 3389, also 53/udp, tcp/8080 and 192.0.2.7:2323");
        let ports: Vec<u16> = found.ports.iter().map(|p| p.port).collect();
        for p in [445, 3389, 53, 8080, 2323] {
            assert!(ports.contains(&p), "{p} in {ports:?}");
        }
    }

    #[test]
    fn zoned_timestamps_are_kept_and_unzoned_ones_are_not_guessed() {
        let found = extract(
            "at 2024-01-15 07:22:18 JST, then 2024-01-15T00:00:00Z; Date: Mon, 15 Jan 2024 07:22:18 +0900; not 2024-01-15 07:22",
        );
        assert_eq!(found.times.len(), 2, "{:?}", found.times);
        assert!(
            found
                .times
                .iter()
                .all(|t| utc(t).to_rfc3339().starts_with("2024-01-1"))
        );
    }

    #[test]
    fn file_names_and_version_numbers_are_not_domains() {
        let found = extract("see index.html and report.pdf, version 1.2.3, host www.example.co.jp");
        assert_eq!(found.domains, vec!["www.example.co.jp"]);
    }

    #[test]
    fn ipv6_addresses_in_all_their_forms_are_found() {
        let found = extract("from 2001:db8::1 and [2001:db8::2]:443 and 2001:db8:0:0:0:0:0:3");
        assert_eq!(found.ips.len(), 3, "{:?}", found.ips);
    }
}
