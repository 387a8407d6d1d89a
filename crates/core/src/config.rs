//! Configuration: a TOML file, then environment variables, then command-line flags,
//! each overriding the one before. Unknown keys are an error wherever they come from,
//! so that a typo never silently falls back to a default.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::CoreError;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/renkei.db";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub security: SecurityConfig,
    pub intake: IntakeConfig,
    pub mail: MailConfig,
    pub enrich: EnrichConfig,
    pub vuln: VulnConfig,
    pub observe: ObserveConfig,
    pub publish: PublishConfig,
    pub bus: BusConfig,
    pub audit: AuditConfig,
    pub sso: SsoConfig,
    pub clocks: ClocksConfig,
    pub retention: RetentionConfig,
}

/// How long each kind of personal data is kept, in days; 0 keeps it for ever. A
/// daily job on one node at a time removes what is older (see
/// `privacy::retention`); statistics, incidents and the audit log stay.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// The bytes of reports as they came in (mails, files, form posts) and their
    /// attachments, once the report has been read; its text and incidents stay.
    pub raw_reports_days: u64,
    /// Reporters' names, addresses and telephone numbers, once every incident
    /// from the report is closed; their domain stays for the statistics.
    pub reporter_contacts_days: u64,
    /// Feed events (the rows of each feed, by address) and which address each
    /// feed named on which day; the daily counts stay.
    pub feed_events_days: u64,
    /// Sensor batches (packets as sensors sent them, once counted) and the
    /// sources each sensor saw; port statistics stay.
    pub sensor_batches_days: u64,
    /// The text and raw copy of mail that left or came in, once delivered or
    /// given up on; the conversation in each thread stays.
    pub mail_bodies_days: u64,
    /// Sign-in sessions, challenges and links, counted from when they ran out.
    pub sessions_days: u64,
    /// Rate-limit records and nodes silent this long.
    pub logs_days: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_reports_days: 0,
            reporter_contacts_days: 0,
            feed_events_days: 0,
            sensor_batches_days: 0,
            mail_bodies_days: 0,
            sessions_days: 30,
            logs_days: 90,
        }
    }
}

/// How long an incident may wait for each thing a coordinator owes it. 0 turns a
/// clock off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClocksConfig {
    /// From the incident's creation to the first mail a coordinator sends about it
    /// (to the reporter, the site or a partner; a notification counts).
    pub first_response_hours: u64,
    /// A question unanswered this long reminds the incident's owner.
    pub reply_wait_hours: u64,
    /// After the reminder, still unanswered this long: the incident goes to
    /// `escalate_to` as well.
    pub escalate_after_hours: u64,
    /// From creation to closing (resolved, closed).
    pub close_days: u64,
    /// Who gets escalations (a second coordinator, the shift lead): addresses,
    /// comma separated; empty: the team's administrators.
    pub escalate_to: Vec<String>,
    /// Other limits for some categories and TLPs, first match wins:
    /// "phishing/*: first=4h close=7d; */red: first=2h reply=24h". Each names
    /// `category/tlp` (`*` for any) and any of first, reply, escalate, close with a
    /// unit (h or d); what a rule leaves out comes from the limits above.
    pub rules: String,
}

impl Default for ClocksConfig {
    fn default() -> Self {
        ClocksConfig {
            first_response_hours: 24,
            reply_wait_hours: 72,
            escalate_after_hours: 48,
            close_days: 30,
            escalate_to: Vec::new(),
            rules: String::new(),
        }
    }
}

/// Sign-in through the organization's OpenID Connect provider (authorization code
/// with PKCE). Off while `issuer_url` is empty.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SsoConfig {
    /// The provider's issuer, e.g. https://login.csirt.example/realms/staff.
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// What the sign-in page's button says.
    pub label: String,
    /// The claim (from the ID token or the UserInfo answer) that says who the person
    /// is in the team: a string or a list of strings, such as groups.
    pub role_claim: String,
    /// Claim values to roles, first match wins: "csirt-admins=admin, csirt=coordinator".
    pub role_map: String,
    /// The role of a person none of whose claim values is mapped; empty: refused.
    pub default_role: String,
    /// The claim naming the organization (vendors, constituents) by its name here.
    pub org_claim: String,
    /// Create an account at first sign-in; false: only existing accounts sign in.
    pub create_accounts: bool,
}

impl Default for SsoConfig {
    fn default() -> Self {
        SsoConfig {
            issuer_url: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            label: "SSO".into(),
            role_claim: "groups".into(),
            role_map: String::new(),
            default_role: String::new(),
            org_claim: "organization".into(),
            create_accounts: true,
        }
    }
}

/// Signed checkpoints of the audit log's head, kept outside the database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A file each checkpoint is appended to (one JSON line, signed with
    /// `mail.signing_key_file`); empty: none are taken while serving.
    pub checkpoint_file: String,
    /// An address each checkpoint is also mailed to (through `mail.relay`).
    pub checkpoint_mail: String,
    /// How often the server takes one, when the log has grown since the last.
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_file: String::new(),
            checkpoint_mail: String::new(),
            checkpoint_interval_secs: 3600,
        }
    }
}

/// The bus between nodes. Off by default: each node then handles what it takes in
/// itself, through the database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// NATS server with JetStream, e.g. nats://127.0.0.1:4222; empty: no bus.
    pub nats_url: String,
    /// Prefix of the streams and subjects (`RENKEI_BATCHES`, `renkei.batches`), so
    /// that several installations can share one NATS.
    pub prefix: String,
    /// How long a node may hold a message before another node gets it again.
    pub ack_wait_secs: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            nats_url: String::new(),
            prefix: "renkei".into(),
            ack_wait_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// The public holidays the weekly report skips: `jp` (built in) or `none`;
    /// days loaded with `renkei publish holidays` are skipped either way.
    pub holidays: String,
    /// The weekday the weekly report comes out: mon … sun.
    pub weekly_day: String,
    /// Connections the mailing-list sender keeps open to `mail.relay`.
    pub list_connections: u32,
    /// How long a list delivery handed to the relay waits for its mark before
    /// another sender (or this one, restarted) sends it again.
    pub list_lease_secs: u64,
    /// How often an idle mailing-list sender looks for new deliveries, in seconds.
    pub list_poll_secs: u64,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            holidays: "jp".into(),
            weekly_day: "wed".into(),
            list_connections: 8,
            list_lease_secs: 60,
            list_poll_secs: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VulnConfig {
    /// The publisher named in CSAF advisories and CVE records, and the team's name
    /// on documents in English.
    pub publisher_name: String,
    /// The team's name on documents in Japanese (the activity report's cover);
    /// empty: `publisher_name`.
    pub publisher_name_ja: String,
    /// The publisher's namespace (a URL of the team's own), as CSAF requires.
    pub publisher_namespace: String,
    /// Note ID prefix for cases reported to the team directly.
    pub series_domestic: String,
    /// Note ID prefix for cases coordinated with overseas coordinators.
    pub series_overseas: String,
    /// Note ID prefix for technical alerts.
    pub series_technical: String,
    /// How many digits follow the prefix.
    pub note_digits: u32,
    /// A vendor that has not acknowledged a case this many days after being notified
    /// is flagged, and its contacts are reminded once.
    pub ack_days: i64,
    /// Still no acknowledgement this many days after the reminder: the coordinators
    /// are told (escalation), once.
    pub escalate_days: i64,
    /// Who hears of escalations; empty: every coordinator and administrator.
    pub escalate_to: Vec<String>,
    /// How long a finder's status link stays valid.
    pub finder_link_days: i64,
    /// A vendor silent on a case for this many days is flagged.
    pub silence_days: i64,
    /// The days from a report to publication the team aims for (the seeds' 45): each
    /// case's timeline counts against it.
    pub publication_target_days: i64,
    /// The CNA's organization UUID for CVE JSON 5 records; empty: not a CNA.
    pub cna_org_id: String,
    pub cna_short_name: String,
}

impl Default for VulnConfig {
    fn default() -> Self {
        VulnConfig {
            publisher_name: "Renkei coordination center".into(),
            publisher_name_ja: String::new(),
            publisher_namespace: "https://renkei.invalid".into(),
            series_domestic: "JVN#".into(),
            series_overseas: "JVNVU#".into(),
            series_technical: "JVNTA#".into(),
            note_digits: 8,
            ack_days: 7,
            escalate_days: 7,
            escalate_to: Vec::new(),
            finder_link_days: 730,
            silence_days: 30,
            publication_target_days: 45,
            cna_org_id: String::new(),
            cna_short_name: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObserveConfig {
    /// The zone observation days are counted in, as an offset such as "+09:00".
    pub utc_offset: String,
    /// A port with no traffic for this many days before is "first seen" (or "back
    /// after silence" when it was seen before that).
    pub first_seen_days: i64,
    /// The trailing window a day is compared with for surges.
    pub baseline_days: i64,
    /// How many baseline deviations above normal a day's distinct sources must be to
    /// count as a surge.
    pub surge_threshold: f64,
    /// A surge also needs at least this many distinct sources…
    pub surge_min_sources: i64,
    /// …seen by at least this many sensors (fewer when fewer report).
    pub surge_min_sensors: i64,
    /// Days back at baseline after which a surge is noted as calmed.
    pub calm_days: i64,
    /// The largest sensor batch accepted, in bytes.
    pub max_batch_bytes: usize,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        ObserveConfig {
            utc_offset: "+00:00".into(),
            first_seen_days: 30,
            baseline_days: 30,
            surge_threshold: 4.0,
            surge_min_sources: 10,
            surge_min_sensors: 2,
            calm_days: 3,
            max_batch_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// The team's own country (ISO 3166 code). Hosts elsewhere are notified through
    /// their national CSIRT when one is on file. Empty: always the abuse contact first.
    pub home_country: String,
    /// How often a node checks the database for tables loaded elsewhere, in seconds.
    pub refresh_secs: u64,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            home_country: String::new(),
            refresh_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The sender of the team's mail, e.g. "Example CSIRT <csirt@example.org>".
    pub from: String,
    /// Where mail is sent: smtp://host:25 (plain), smtp://host:587?tls=required
    /// (STARTTLS), smtps://host:465; with user:password@ for authentication. Empty:
    /// mail is kept queued and nothing is sent.
    pub relay: String,
    /// How often the outbox worker looks for mail to send, in seconds.
    pub poll_secs: u64,
    /// A message a node claimed for sending and did not finish within this many
    /// seconds (the node died) goes back to the queue for any node; with an archive,
    /// three times as long, for its blind copy to come back first.
    pub send_lease_secs: u64,
    /// Confirm web-form and e-mail reports to the reporter with the tracking number.
    pub confirm_reports: bool,
    /// The team's own mailbox, sent a blind copy of every message. When it is the
    /// address of Renkei's intake, a copy arriving proves the relay took the message,
    /// which is what lets a message interrupted mid-send go out exactly once.
    pub archive: String,
    /// The team's OpenPGP secret key (armored file): notifications are signed with it.
    pub signing_key_file: String,
    /// The key's passphrase, if it has one (better set through the environment).
    pub signing_key_passphrase: String,
    /// A mailbox of the team's that receives every mail of a drill (reports,
    /// incidents and alerts marked as an exercise) instead of its recipients.
    /// Empty: such mail is held in the outbox and never sent.
    pub exercise_sink: String,
    /// Subject prefixes that mark a mailed report as an exercise.
    pub exercise_tags: Vec<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: String::new(),
            relay: String::new(),
            poll_secs: 5,
            send_lease_secs: 600,
            confirm_reports: true,
            archive: String::new(),
            signing_key_file: String::new(),
            signing_key_passphrase: String::new(),
            exercise_sink: String::new(),
            exercise_tags: vec!["[訓練]".into(), "[EXERCISE]".into(), "[DRILL]".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Attachments larger than this are kept truncated and flagged.
    pub attachment_limit_bytes: usize,
    /// Incidents about the same address within this many days are linked.
    pub link_window_days: i64,
    /// A mail from an address written to within this many days (a notified site's
    /// contact) joins that conversation even without a ticket tag or a reference.
    pub reply_window_days: i64,
    /// The secret link to a report's status page, sent with the confirmation, works
    /// for this many days (0: no link is sent).
    pub status_link_days: i64,
    /// Public web-form reports accepted per client address per hour.
    pub form_reports_per_hour: u32,
    /// The largest bulk feed file taken by the API (a day of a national feed is tens
    /// of megabytes; the CLI reads files of any size).
    pub max_feed_bytes: usize,
    /// A zipped or gzipped attachment (a mailed Shadowserver report) may unpack to
    /// at most this many bytes, this many times its own size, and this many files;
    /// past any of them it is refused and the report kept for review ("ZIP bomb").
    pub unpack_max_bytes: u64,
    pub unpack_max_ratio: u64,
    pub unpack_max_files: usize,
    pub smtp: SmtpIntakeConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpIntakeConfig {
    /// Address for the built-in SMTP listener, e.g. "0.0.0.0:25"; empty: off.
    pub listen: String,
    /// Recipient addresses accepted as incident intake; mail to others is refused.
    pub addresses: Vec<String>,
    pub max_message_bytes: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            attachment_limit_bytes: 5 * 1024 * 1024,
            link_window_days: 30,
            reply_window_days: 30,
            status_link_days: 90,
            form_reports_per_hour: 20,
            max_feed_bytes: 256 << 20,
            unpack_max_bytes: 256 << 20,
            unpack_max_ratio: 200,
            unpack_max_files: 100,
            smtp: SmtpIntakeConfig::default(),
        }
    }
}

impl Default for SmtpIntakeConfig {
    fn default() -> Self {
        SmtpIntakeConfig {
            listen: String::new(),
            addresses: Vec::new(),
            max_message_bytes: 25 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// The address people reach the server at, used in links the server prints or mails.
    pub public_url: Option<String>,
    pub body_limit_bytes: usize,
    /// Marks cookies `Secure`; turn on whenever the server is reached over HTTPS.
    pub secure_cookies: bool,
    pub shutdown_grace_secs: u64,
    /// Behind a reverse proxy, take the client address from the last hop of
    /// X-Forwarded-For (which that proxy appends). Leave off when clients connect
    /// directly: they could then claim any address.
    pub trust_forwarded_for: bool,
    /// A second address that serves only `/metrics`, to anyone who reaches it (bind
    /// it where only the monitoring can, e.g. 127.0.0.1:9090). Empty: `/metrics`
    /// is served on `listen` to staff and to tokens with the metrics scope only.
    pub metrics_listen: String,
    /// A client must send a request's headers within this many seconds (also the
    /// longest an idle kept-alive connection stays open).
    pub header_timeout_secs: u64,
    /// A client must send a request's body within this many seconds.
    pub body_timeout_secs: u64,
    /// Open connections allowed from one address at once; 0: no limit. Behind a
    /// proxy every connection comes from it: set this above its pool size.
    pub max_connections_per_address: u32,
    /// The zone the team works in, as an offset ("+09:00"): every time a person
    /// reads is shown in it, with the offset.
    pub utc_offset: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard error is not a terminal, readable text when it is.
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `renkei_web=debug,info`.
    pub level: String,
    /// Where to send traces (OpenTelemetry, OTLP over HTTP with JSON), e.g.
    /// `http://127.0.0.1:4318/v1/traces`; empty: none are sent.
    pub otlp_endpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    pub session_ttl_minutes: u64,
    /// Failed logins allowed per client address and per account within the window.
    pub login_max_attempts: u32,
    pub login_window_secs: u64,
    pub setup_link_ttl_hours: u64,
    /// Staff (admins, coordinators) must sign in with a second factor: until they
    /// set one up, their sessions reach only their account page.
    pub require_second_factor_for_staff: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            body_limit_bytes: 2 * 1024 * 1024,
            secure_cookies: false,
            shutdown_grace_secs: 10,
            trust_forwarded_for: false,
            metrics_listen: String::new(),
            header_timeout_secs: 10,
            body_timeout_secs: 60,
            max_connections_per_address: 64,
            utc_offset: "+09:00".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DEFAULT_DATABASE_URL.into(),
            max_connections: 8,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".into(),
            otlp_endpoint: String::new(),
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            session_ttl_minutes: 12 * 60,
            login_max_attempts: 5,
            login_window_secs: 300,
            setup_link_ttl_hours: 24,
            require_second_factor_for_staff: false,
        }
    }
}

/// Short environment variables DESIGN.md promises to scripts, beside the long form
/// `RENKEI_<SECTION>__<KEY>` every key has.
const ALIASES: &[(&str, &str)] = &[
    ("server.listen", "RENKEI_LISTEN"),
    ("server.public_url", "RENKEI_PUBLIC_URL"),
    ("database.url", "RENKEI_DATABASE_URL"),
    ("log.level", "RENKEI_LOG"),
];

/// Keys whose text from the environment or a flag is kept as given (secrets may
/// begin or end with a space).
const VERBATIM: &[&str] = &["sso.client_secret", "mail.signing_key_passphrase"];
/// Keys whose text is a lower-case word (names, calendars, days, addresses).
const LOWER: &[&str] = &[
    "log.format",
    "bus.prefix",
    "publish.holidays",
    "publish.weekly_day",
    "intake.smtp.addresses",
    "clocks.escalate_to",
    "clocks.rules",
];
/// Keys whose text is an upper-case code (a country).
const UPPER: &[&str] = &["enrich.home_country"];

/// Every settable key (`section.key`, from the configuration's own structure) with
/// the environment variables that set it, the long form first.
pub fn keys() -> Vec<(String, Vec<String>)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut paths = Vec::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).unwrap_or_default(),
        &mut paths,
    );
    paths
        .into_iter()
        .map(|key| {
            let mut vars = vec![format!(
                "RENKEI_{}",
                key.to_ascii_uppercase().replace('.', "__")
            )];
            vars.extend(
                ALIASES
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string()),
            );
            (key, vars)
        })
        .collect()
}

/// Seconds east of UTC for an offset written "+09:00", "-05:30" or "Z".
pub fn utc_offset_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "Z" || s.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 || h < 0 || m < 0 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

impl ServerConfig {
    /// The team's zone (checked at load; UTC if it somehow is not an offset).
    pub fn team_zone(&self) -> chrono::FixedOffset {
        utc_offset_seconds(&self.utc_offset)
            .and_then(|s| chrono::FixedOffset::east_opt(s as i32))
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"))
    }
}

impl Config {
    /// Reads a TOML document, rejecting unknown sections and keys.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, CoreError> {
        toml::from_str(text).map_err(|e| CoreError::Config(format!("{origin}: {e}")))
    }

    /// File, then environment, then flags (`overrides`, as `section.key=value`).
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &[(&str, String)],
    ) -> Result<Config, CoreError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CoreError::Config(format!("cannot read {}: {e}", path.display()))
                })?;
                Config::from_toml(&text, &path.display().to_string())?
            }
            None => Config::default(),
        };
        for (key, vars) in keys() {
            // The long form wins over an alias when both are set.
            if let Some((var, value)) = vars.iter().find_map(|v| env(v).map(|val| (v, val))) {
                config
                    .set(&key, &value)
                    .map_err(|e| CoreError::Config(format!("{var}: {e}")))?;
            }
        }
        for (key, value) in overrides {
            config
                .set(key, value)
                .map_err(|e| CoreError::Config(format!("flag for {key}: {e}")))?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets one key from text, as the environment and flags give it. The key's type
    /// is the configuration's own: text becomes a number, a yes/no, a list (comma
    /// separated) or text as the key's current value is, and a key the
    /// configuration does not have is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let text = if VERBATIM.contains(&key) {
            value.to_string()
        } else if LOWER.contains(&key) {
            value.trim().to_ascii_lowercase()
        } else if UPPER.contains(&key) {
            value.trim().to_ascii_uppercase()
        } else {
            value.trim().to_string()
        };
        let unknown = || format!("unknown configuration key {key:?}");
        let mut tree = serde_json::to_value(&*self).map_err(|e| e.to_string())?;
        let mut slot = &mut tree;
        for part in key.split('.') {
            slot = slot
                .as_object_mut()
                .and_then(|o| o.get_mut(part))
                .ok_or_else(unknown)?;
        }
        // An optional key (none by default) is made none again by empty text.
        let optional = serde_json::to_value(Config::default())
            .ok()
            .and_then(|d| d.pointer(&format!("/{}", key.replace('.', "/"))).cloned())
            .is_some_and(|v| v.is_null());
        *slot = match &*slot {
            serde_json::Value::Object(_) => return Err(unknown()),
            _ if optional && text.is_empty() => serde_json::Value::Null,
            serde_json::Value::Bool(_) => {
                serde_json::Value::Bool(match text.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(format!("expected true or false, got {value:?}")),
                })
            }
            serde_json::Value::Number(n) if n.is_f64() => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number)
                .ok_or_else(|| format!("expected a number, got {value:?}"))?,
            serde_json::Value::Number(_) => text
                .parse::<u64>()
                .map(serde_json::Value::from)
                .or_else(|_| text.parse::<i64>().map(serde_json::Value::from))
                .map_err(|_| format!("expected a whole number, got {value:?}"))?,
            serde_json::Value::Array(_) => serde_json::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| serde_json::Value::String(a.to_string()))
                    .collect(),
            ),
            serde_json::Value::Null | serde_json::Value::String(_) => {
                serde_json::Value::String(text)
            }
        };
        *self = serde_json::from_value(tree).map_err(|e| e.to_string())?;
        Ok(())
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: String| Err(CoreError::Config(m));
        let otlp = &self.log.otlp_endpoint;
        if !(otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://")) {
            return bad(format!(
                "log.otlp_endpoint {otlp:?} must be an http:// or https:// address (OTLP over HTTP)"
            ));
        }
        let url = &self.bus.nats_url;
        if !(url.is_empty() || url.starts_with("nats://") || url.starts_with("tls://")) {
            return bad(format!(
                "bus.nats_url: {:?} is not a nats:// or tls:// address",
                self.bus.nats_url
            ));
        }
        if self.bus.prefix.is_empty()
            || !self
                .bus
                .prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return bad("bus.prefix: letters a-z, digits and _".into());
        }
        if self.bus.ack_wait_secs < 1 {
            return bad("bus.ack_wait_secs: at least 1".into());
        }
        if !matches!(self.publish.holidays.as_str(), "jp" | "none") {
            return bad(format!(
                "publish.holidays: {:?} is not a built-in calendar; use jp or none (and load other days with `renkei publish holidays`)",
                self.publish.holidays
            ));
        }
        if !(1..=64).contains(&self.publish.list_connections) {
            return bad("publish.list_connections: 1 to 64".into());
        }
        if self.publish.list_lease_secs < 5 {
            return bad("publish.list_lease_secs: at least 5".into());
        }
        if self.publish.weekly_day.parse::<chrono::Weekday>().is_err() {
            return bad(format!(
                "publish.weekly_day: {:?} is not a weekday such as wed",
                self.publish.weekly_day
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!(
                "server.listen: {:?} is not an address such as 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if !self.server.metrics_listen.is_empty()
            && self
                .server
                .metrics_listen
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return bad(format!(
                "server.metrics_listen: {:?} is not an address such as 127.0.0.1:9090",
                self.server.metrics_listen
            ));
        }
        if !self.audit.checkpoint_file.is_empty() && self.mail.signing_key_file.is_empty() {
            return bad(
                "audit.checkpoint_file: checkpoints are signed with the team key: set mail.signing_key_file too"
                    .into(),
            );
        }
        if !self.sso.issuer_url.is_empty() {
            if !(self.sso.issuer_url.starts_with("https://")
                || self.sso.issuer_url.starts_with("http://127.")
                || self.sso.issuer_url.starts_with("http://localhost"))
            {
                return bad(format!(
                    "sso.issuer_url: {:?} must be https:// (plain http only on this machine)",
                    self.sso.issuer_url
                ));
            }
            if self.sso.client_id.is_empty() {
                return bad("sso.client_id: required with sso.issuer_url".into());
            }
            if let Err(e) = self.sso_role_map() {
                return bad(format!("sso.role_map: {e}"));
            }
            if !self.sso.default_role.is_empty()
                && crate::access::Role::parse(&self.sso.default_role).is_err()
            {
                return bad(format!(
                    "sso.default_role: {:?} is not a role",
                    self.sso.default_role
                ));
            }
        }
        if self.audit.checkpoint_interval_secs == 0 {
            return bad("audit.checkpoint_interval_secs: at least 1".into());
        }
        if self.server.header_timeout_secs == 0 || self.server.body_timeout_secs == 0 {
            return bad(
                "server.header_timeout_secs and server.body_timeout_secs: at least 1".into(),
            );
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad(format!(
                "server.public_url: {url:?} must start with http:// or https://"
            ));
        }
        if !(4..=12).contains(&self.vuln.note_digits) {
            return bad("vuln.note_digits: must be between 4 and 12".into());
        }
        let series = [
            &self.vuln.series_domestic,
            &self.vuln.series_overseas,
            &self.vuln.series_technical,
        ];
        if series.iter().any(|s| s.is_empty() || s.len() > 16) {
            return bad("vuln.series_*: each prefix needs 1 to 16 characters".into());
        }
        if !(self.vuln.publisher_namespace.starts_with("https://")
            || self.vuln.publisher_namespace.starts_with("http://"))
        {
            return bad(format!(
                "vuln.publisher_namespace: {:?} must be a URL",
                self.vuln.publisher_namespace
            ));
        }
        if utc_offset_seconds(&self.server.utc_offset).is_none() {
            return bad(format!(
                "server.utc_offset: {:?} is not an offset such as +09:00",
                self.server.utc_offset
            ));
        }
        if utc_offset_seconds(&self.observe.utc_offset).is_none() {
            return bad(format!(
                "observe.utc_offset: {:?} is not an offset such as +09:00",
                self.observe.utc_offset
            ));
        }
        if self.observe.first_seen_days < 1
            || self.observe.baseline_days < 7
            || self.observe.calm_days < 1
            || !self.observe.surge_threshold.is_finite()
            || self.observe.surge_threshold <= 0.0
        {
            return bad("observe: first_seen_days and calm_days must be at least 1, baseline_days at least 7, surge_threshold positive".into());
        }
        if self.server.body_limit_bytes < 1024 {
            return bad("server.body_limit_bytes: must be at least 1024".into());
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return bad(format!(
                "database.url: {:?} is neither sqlite:… nor postgres://…",
                self.database.url
            ));
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections: must be at least 1".into());
        }
        if self.security.login_max_attempts == 0 || self.security.login_window_secs == 0 {
            return bad(
                "security.login_max_attempts and login_window_secs must be positive".into(),
            );
        }
        if !self.intake.smtp.listen.is_empty() {
            if self
                .intake
                .smtp
                .listen
                .parse::<std::net::SocketAddr>()
                .is_err()
            {
                return bad(format!(
                    "intake.smtp.listen: {:?} is not an address such as 0.0.0.0:25",
                    self.intake.smtp.listen
                ));
            }
            if self.intake.smtp.addresses.is_empty() {
                return bad(
                    "intake.smtp.addresses: name the intake addresses the listener accepts".into(),
                );
            }
        }
        if !self.mail.relay.is_empty() {
            if !(self.mail.relay.starts_with("smtp://") || self.mail.relay.starts_with("smtps://"))
            {
                return bad(format!(
                    "mail.relay: {:?} must start with smtp:// or smtps://",
                    self.mail.relay
                ));
            }
            if self.mail.from.is_empty() {
                return bad("mail.from: set the sender address when a relay is configured".into());
            }
        }
        if self.mail.poll_secs == 0 {
            return bad("mail.poll_secs: must be at least 1".into());
        }
        if self.mail.send_lease_secs == 0 {
            return bad("mail.send_lease_secs: must be at least 1".into());
        }
        if self.intake.link_window_days < 0 {
            return bad("intake.link_window_days: must not be negative".into());
        }
        if self.intake.reply_window_days < 0 {
            return bad("intake.reply_window_days: must not be negative".into());
        }
        if self.intake.status_link_days < 0 {
            return bad("intake.status_link_days: must not be negative".into());
        }
        if self.security.session_ttl_minutes == 0 {
            return bad("security.session_ttl_minutes: must be positive".into());
        }
        Ok(())
    }

    /// The base of links the server hands out.
    /// `sso.role_map` read: claim value and role, in order.
    pub fn sso_role_map(&self) -> std::result::Result<Vec<(String, crate::access::Role)>, String> {
        self.sso
            .role_map
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (value, role) = pair
                    .rsplit_once('=')
                    .ok_or_else(|| format!("{pair:?} is not claim-value=role"))?;
                let role = crate::access::Role::parse(role).map_err(|e| e.to_string())?;
                Ok((value.trim().to_string(), role))
            })
            .collect()
    }

    pub fn public_url(&self) -> String {
        match &self.server.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.server.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_committed_sample_config_is_valid_and_equals_the_defaults() {
        let text = include_str!("../../../renkei.sample.toml");
        let config = Config::from_toml(text, "renkei.sample.toml").unwrap();
        config.validate().unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn an_unknown_key_in_the_file_is_rejected_with_its_name() {
        let err = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n", "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listne"), "{err}");
        assert!(Config::from_toml("[sever]\n", "f").is_err());
    }

    #[test]
    fn flags_override_environment_which_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1000\"\n[database]\nurl = \"sqlite://file.db\"\nmax_connections = 3\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "RENKEI_LISTEN" => Some("127.0.0.1:2000".to_string()),
            "RENKEI_DATABASE_URL" => Some("sqlite://env.db".to_string()),
            _ => None,
        };
        let c = Config::load(Some(&path), env, &[]).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:2000");
        assert_eq!(c.database.url, "sqlite://env.db");
        assert_eq!(c.database.max_connections, 3);
        let c = Config::load(
            Some(&path),
            env,
            &[("database.url", "postgres://flag/db".to_string())],
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://flag/db");
    }

    #[test]
    fn a_malformed_environment_value_names_the_variable() {
        let env = |k: &str| (k == "RENKEI_SERVER__BODY_LIMIT_BYTES").then(|| "lots".to_string());
        let err = Config::load(None, env, &[]).unwrap_err().to_string();
        assert!(err.contains("RENKEI_SERVER__BODY_LIMIT_BYTES"), "{err}");
        let err = Config::load(None, no_env, &[("server.listen", "nowhere".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
    }

    fn leaf_paths(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaf_paths(&p, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_configuration_key_has_an_environment_variable() {
        let mut c = Config::default();
        c.server.public_url = Some("https://x.example".into());
        let value = toml::Value::try_from(&c).unwrap();
        let mut paths = Vec::new();
        leaf_paths("", &value, &mut paths);
        let mut listed: Vec<String> = keys().into_iter().map(|(k, _)| k).collect();
        paths.sort();
        listed.sort();
        assert_eq!(paths, listed);
        for (key, vars) in keys() {
            let long = format!("RENKEI_{}", key.to_ascii_uppercase().replace('.', "__"));
            assert!(vars.contains(&long), "{key} lacks {long}");
        }
        let aliases: Vec<String> = keys()
            .into_iter()
            .flat_map(|(_, v)| v.into_iter().skip(1))
            .collect();
        assert_eq!(
            aliases,
            [
                "RENKEI_DATABASE_URL",
                "RENKEI_LOG",
                "RENKEI_LISTEN",
                "RENKEI_PUBLIC_URL"
            ]
        );
    }

    #[test]
    fn every_key_is_settable_and_unknown_ones_are_refused() {
        let mut c = Config::default();
        for (key, _) in keys() {
            let sample = match key.as_str() {
                "server.listen" => "127.0.0.1:9",
                "server.public_url" => "https://csirt.example",
                "server.secure_cookies"
                | "server.trust_forwarded_for"
                | "security.require_second_factor_for_staff" => "true",
                "server.metrics_listen" => "127.0.0.1:9090",
                "audit.checkpoint_file" => "/var/lib/renkei/audit-checkpoints.jsonl",
                "audit.checkpoint_mail" => "audit@csirt.example",
                "sso.issuer_url" => "https://login.csirt.example",
                "sso.role_map" => "csirt-admins=admin, csirt=coordinator",
                "sso.default_role" => "constituent",
                "sso.create_accounts" => "false",
                "intake.smtp.listen" => "127.0.0.1:2525",
                "mail.from" => "CSIRT <csirt@example.org>",
                "mail.relay" => "smtp://127.0.0.1:25",
                "mail.confirm_reports" => "false",
                "intake.smtp.addresses" => "incident@csirt.example, report@csirt.example",
                "database.url" => "sqlite://x.db",
                "log.format" => "json",
                "log.level" => "debug",
                "log.otlp_endpoint" => "http://127.0.0.1:4318/v1/traces",
                "bus.nats_url" => "nats://127.0.0.1:4222",
                "bus.prefix" => "csirt_a",
                "publish.holidays" => "none",
                "publish.weekly_day" => "fri",
                "publish.list_connections" => "16",
                "vuln.note_digits" => "8",
                "vuln.publisher_namespace" => "https://csirt.example",
                "observe.utc_offset" => "+09:00",
                "server.utc_offset" => "-05:00",
                "observe.surge_threshold" => "3.5",
                "clocks.escalate_to" => "lead@csirt.example",
                "clocks.rules" => "phishing/*: first=4h close=7d; */red: first=2h",
                _ => "4096",
            };
            c.set(&key, sample).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        c.validate().unwrap();
        assert!(c.set("server.nope", "1").is_err());
        assert!(c.set("server", "1").is_err(), "a section is no key");
        assert!(c.set("server.listen.port", "1").is_err());
        assert_eq!(
            c.set("server.body_limit_bytes", "lots").unwrap_err(),
            "expected a whole number, got \"lots\""
        );
        assert!(c.set("log.format", "xml").is_err());
        c.set("log.format", " JSON ").unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        c.set(
            "intake.smtp.addresses",
            "Incident@CSIRT.example, , b@x.example",
        )
        .unwrap();
        assert_eq!(
            c.intake.smtp.addresses,
            ["incident@csirt.example", "b@x.example"]
        );
        c.set("server.public_url", "").unwrap();
        assert_eq!(c.server.public_url, None);
        c.set("enrich.home_country", " jp").unwrap();
        assert_eq!(c.enrich.home_country, "JP");
        c.set("sso.client_secret", " s3cret ").unwrap();
        assert_eq!(c.sso.client_secret, " s3cret ");
    }
}
