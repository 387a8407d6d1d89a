//! The `renkei` binary: parses the command line and calls the library crates.
//! Nothing here decides anything a library could.
//!
//! # Layout
//! - here: the command line (clap) and one arm per command.
//! - `demo`: `renkei demo seed`, a quarter of data through the pillars' own
//!   functions; `report`: `renkei report quarterly`, the report's files;
//!   `observe`: `renkei observe …` and `renkei sensor`; `snapshots`: `renkei
//!   backup`, `renkei restore` and `renkei store copy`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::{self, Actor, Verdict};
use renkei_core::config::{Config, LogFormat};
use renkei_core::lang::Lang;
use renkei_core::{Classify, CoreError, Kind, Store, orgs, secrets};

/// Writes one line to stderr, ignoring a closed stream: a server whose log pipe went
/// away must keep serving, not panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Writes one line to stdout; a reader that went away (`| head`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod demo;
mod observe;
mod privacy;
mod report;
mod snapshots;

#[derive(Parser)]
#[command(name = "renkei", version, about = "Renkei: the coordination platform of a CSIRT", long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Configuration file (TOML); see renkei.sample.toml. Also RENKEI_CONFIG.
    #[arg(long, global = true, env = "RENKEI_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database: sqlite://PATH or postgres://USER@HOST/DB. Overrides RENKEI_DATABASE_URL and the file.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server, the API and the in-process workers.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Check the configuration, print it as it takes effect, and exit.
        #[arg(long)]
        check_config: bool,
    },
    /// Accounts and tokens.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Incident reports.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Enrichment tables: IP → ASN, country, abuse contact, national CSIRT.
    #[command(subcommand)]
    Enrich(EnrichCommand),
    /// Vulnerability cases and notes.
    #[command(subcommand)]
    Vuln(VulnCommand),
    /// Dissemination: holidays and the weekly report's schedule.
    #[command(subcommand)]
    Publish(PublishCommand),
    /// Internet observation: aggregate captures, register sensors, trend notes.
    #[command(subcommand)]
    Observe(observe::ObserveCommand),
    /// Run a sensor: count what reaches unused addresses (captures, firewall logs or
    /// a live interface) and send signed batches to the collector, keeping them on
    /// disk until it has them. Prints {"packets", "batches", "accepted",
    /// "duplicates", "rejected", "pending"} for files; exit 1 if some stay pending.
    Sensor(observe::SensorArgs),
    /// Activity reports generated from the data.
    #[command(subcommand)]
    Report(ReportCommand),
    /// A demonstration data set.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Write a snapshot of the whole store to FILE while the server runs and writes
    /// go on: one consistent view, every table, checksummed; restores into SQLite or
    /// PostgreSQL. Prints {"taken_at", "schema_version", "audit_seq", "audit_hash",
    /// "tables", "rows", "bytes"}.
    Backup {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a snapshot (`renkei backup`) into an empty store: the file's checksum
    /// is checked before anything is written, and all of it is written or none.
    /// Then `renkei audit verify` names the snapshot's audit head.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Only check the file (checksum and every record) and print what it holds.
        #[arg(long)]
        check: bool,
    },
    /// The store as a whole: copy it to another database.
    #[command(subcommand)]
    Store(snapshots::StoreCommand),
    /// How long personal data is kept (`[retention]`): run the daily job now, or
    /// list its runs.
    #[command(subcommand)]
    Retention(privacy::RetentionCommand),
    /// Erase a person on request: every place their address or name is kept
    /// (reports, threads, mail, lists, subscriptions, contacts, accounts) gets one
    /// pseudonym, counts stay, and the audit log records that it happened and where,
    /// not whom. Exit 2 when nothing names them. Prints {"pseudonym", "places", "kept"}.
    Erase(privacy::EraseArgs),
    /// Post one RFC 5322 message from standard input to a Renkei server, for an MTA
    /// (postfix: `pipe` transport) to call. Exit 0 when stored; 75 (EX_TEMPFAIL) when
    /// the server cannot take it now, so the MTA keeps the mail and retries.
    Mailgate {
        /// The server's base URL, e.g. https://renkei.csirt.example
        #[arg(long)]
        url: String,
        /// An API token; also RENKEI_TOKEN.
        #[arg(long, env = "RENKEI_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum PublishCommand {
    /// Load holidays the weekly report skips, besides the built-in calendar
    /// (publish.holidays): CSV lines `YYYY-MM-DD,name` or an iCalendar file of
    /// all-day events. Prints {"loaded", "first", "last"}.
    Holidays {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Add readers who opted in elsewhere (a list moved from another system): a file
    /// of lines `address[,ja|en]`. Prints {"list", "rows", "added"}.
    ImportSubscribers {
        #[arg(long)]
        list: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Send a published alert or weekly report to a list, as the coordinator named
    /// by --as; with --wait, print progress lines {"sent", "failed", "total"} until
    /// the server's sender has delivered it (exit 1 if some failed).
    Send {
        #[arg(long)]
        list: String,
        #[arg(long, conflicts_with = "weekly", required_unless_present = "weekly")]
        alert: Option<String>,
        /// The issue date of a published weekly report.
        #[arg(long)]
        weekly: Option<String>,
        /// The coordinator's account (mail address).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: String,
        #[arg(long)]
        wait: bool,
    },
    /// The progress of a send to a list, as JSON; with --wait, a line a second
    /// until it is done.
    Progress {
        id: i64,
        #[arg(long)]
        wait: bool,
    },
    /// The coming issue days of the weekly report, one JSON line each:
    /// {"date", "issued", "holiday"}.
    Schedule {
        /// The first day to look at (YYYY-MM-DD); today by default.
        #[arg(long)]
        from: Option<String>,
        #[arg(long, default_value_t = 12)]
        weeks: usize,
    },
}

#[derive(Subcommand)]
enum IncidentCommand {
    /// Import report files: each is stored as it is, read, classified and split into
    /// incidents. One JSON line per file:
    /// {"file", "report", "incidents", "category", "status", "problem"}.
    /// Exit 2 if any file could not be read or needs review (it is kept all the same).
    ///
    /// With --format csv --feed NAME, each file is a bulk feed (hosts seen scanning,
    /// infected or vulnerable): rows become events, enriched and grouped per recipient,
    /// and each recipient gets one notification per day. One JSON line per file:
    /// {"file", "feed", "report", "rows", "events", "bad_rows", "problems",
    /// "recipients", "notifications", "unresolved", "chunks", "chunks_done", "finished",
    /// "duplicate"}. Bad rows are named by line on stderr and skipped (exit 2); the
    /// rest is imported. The same file for the same feed again is the same import: an
    /// unfinished one resumes, a finished one changes nothing ("duplicate": true).
    Import {
        /// mbox: each file holds many messages (`From ` lines between them);
        /// maildir: each FILE is a maildir, its `cur/` and `new/` messages read.
        #[arg(long, value_parser = ["iodef", "xarf", "mail", "mbox", "maildir", "csv"])]
        format: String,
        /// The feed's name (csv): shadowserver-scan, shadowserver-infection and
        /// shadowserver-honeypot-scan have built-in column mappings; any other name
        /// needs --mapping.
        #[arg(long)]
        feed: Option<String>,
        /// A TOML file naming the columns: ip, time, port, protocol, category,
        /// type_column or event_type.
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
        /// TLP for the imported reports.
        #[arg(long, default_value = "TLP:AMBER")]
        tlp: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The Shadowserver report types recognized in feed files and mailed reports,
    /// one per line. With --refresh FILE, first replace the table with the types of
    /// a schema file in Shadowserver's published layout (a JSON object keyed by
    /// report type); prints {"types", "added", "removed"}.
    FeedTypes {
        #[arg(long, value_name = "FILE")]
        refresh: Option<PathBuf>,
    },
    /// Write an incident as an IODEF 2.0 document (RFC 7970) on standard output, for
    /// exchange with partner CSIRTs.
    Export {
        #[arg(long, value_parser = ["iodef"])]
        format: String,
        #[arg(value_name = "ID")]
        id: i64,
    },
}

#[derive(Subcommand)]
enum VulnCommand {
    /// Every case, one JSON line each: {"case", "note", "published", "title",
    /// "state", "publish_at"}. `note` is the note's ID once publication is scheduled;
    /// `published` turns true at the agreed moment.
    List {
        /// JSON lines (the only output there is; accepted for scripts that say so).
        #[arg(long)]
        json: bool,
    },
    /// Write a case's note (by case ID or note ID, published or not) on standard
    /// output: a CSAF 2.0 csaf_security_advisory, a CVE JSON 5 record (the case needs
    /// a CVE ID), or a JVNRSS (RSS 1.0) item.
    Export {
        #[arg(long, value_parser = ["csaf", "cve5", "jvnrss"])]
        format: String,
        /// Language of the CSAF document or JVNRSS item.
        #[arg(long, default_value = "en", value_parser = ["en", "ja"])]
        lang: String,
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Open draft cases from partner coordinators' documents (CSAF 2.0 or CVE JSON 5).
    /// One JSON line per file: {"file", "case"} or {"file", "errors": [...]}, each
    /// error with its JSON path; exit 2 if any file was refused.
    Import {
        #[arg(long, value_parser = ["csaf", "cve5"])]
        format: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EnrichCommand {
    /// Load a table from files; replaces what was loaded for the kind before (for
    /// contacts: for the kind in that format). IPv4 and IPv6 files may be given
    /// together. Prints one JSON object: rows read, bad rows and the first problems
    /// with file and line. Exit 2 if any row was bad (the good ones are loaded).
    Load {
        #[arg(long, value_parser = ["asn", "country", "contacts", "csirts"])]
        kind: String,
        #[arg(long, value_parser = ["ip-location-db", "ipasn", "rir-delegated", "csv", "rpsl"])]
        format: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print what is known about addresses, one JSON line each:
    /// {"ip", "prefix", "asn", "as_name", "country", "abuse": [{"email", …}], "csirt"}.
    /// Says so when no tables are loaded; exits 2 when an argument is not an address.
    Lookup {
        #[arg(required = true, value_name = "IP")]
        ips: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The quarterly activity report: writes report.html, report.pdf (typeset, fonts
    /// embedded), report.json (the numbers) and each chart as SVG into --out.
    Quarterly {
        #[arg(long)]
        year: i32,
        /// 1 to 4.
        #[arg(long)]
        quarter: u32,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// ja or en.
        #[arg(long, default_value = "ja")]
        lang: String,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Fill an empty database with a realistic quarter through the server's own API:
    /// reports by mail and web form, incidents, notifications, sensors, vendors,
    /// cases and notes, alerts, weekly reports. Prints what it put in, with the
    /// demo coordinators' password.
    Seed {
        /// The quarter, e.g. 2007Q4 (default: the last complete quarter).
        #[arg(long)]
        quarter: Option<String>,
        /// How many incident reports.
        #[arg(long, default_value_t = 320)]
        reports: usize,
        /// How many mailing-list readers.
        #[arg(long, default_value_t = 2400)]
        subscribers: usize,
        /// Also seed reports for the quarter before and the same quarter a year
        /// before (fewer), so that the report's comparisons have figures to compare.
        #[arg(long)]
        compare: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account. People get a one-time password printed once (or read from
    /// standard input with --password-stdin); sensors get none.
    CreateUser {
        #[arg(long)]
        email: String,
        /// admin, coordinator, vendor, constituent or sensor.
        #[arg(long)]
        role: String,
        /// The organization (name or number) a vendor or constituent belongs to.
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "en")]
        lang: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue an API token for an account (a sensor, a script); printed once.
    CreateToken {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// What the token may do: read, write, feed, sensor, metrics, admin
        /// (separated by commas); default: all the account's role may.
        #[arg(long)]
        scopes: Option<String>,
        /// Days until the token stops working; default: until revoked.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 0 if intact, 1 naming the first altered or removed row.
    /// With --checkpoints, also hold the log against signed checkpoints taken earlier,
    /// which finds rows cut off the end and rows rewritten with every later hash.
    Verify {
        /// Checkpoints, one JSON line each (`renkei audit checkpoint`, the server's
        /// audit.checkpoint_file, or the lines of the checkpoint mails).
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
        /// The team's armored public key the checkpoints are signed with; default:
        /// the public half of mail.signing_key_file.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
    },
    /// Sign the audit log's head with the team key (mail.signing_key_file) and print
    /// it as one JSON line; also appended to --out (default audit.checkpoint_file)
    /// and mailed to audit.checkpoint_mail when set.
    Checkpoint {
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say!("renkei: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            // Bad input (a config typo, an unknown role) is exit 2, the rest exit 1.
            let user_error = kind_of(&err).is_some_and(|k| k.is_user_error() || k == Kind::Config);
            say!("renkei: {err:#}");
            ExitCode::from(if user_error { 2 } else { 1 })
        }
    }
}

async fn vuln(config: &Config, store: &Store, cmd: VulnCommand) -> anyhow::Result<ExitCode> {
    let now = store.now();
    let settings = renkei_vuln::Settings::from_config(config, None);
    match cmd {
        VulnCommand::List { json: _ } => {
            for c in renkei_vuln::cases::list_all(store, now).await? {
                out!(
                    "{}",
                    serde_json::json!({
                        "case": c.key, "note": c.note, "published": c.published,
                        "title": c.title, "state": c.state, "publish_at": c.publish_at,
                    })
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        VulnCommand::Export { format, lang, id } => {
            let note = renkei_vuln::notes::for_export(store, id.trim(), now).await?;
            let text = match format.as_str() {
                "csaf" => serde_json::to_string_pretty(&renkei_vuln::notes::to_csaf(
                    &settings, &note, &lang,
                )?)?,
                "cve5" => {
                    serde_json::to_string_pretty(&renkei_vuln::notes::to_cve5(&settings, &note)?)?
                }
                _ => renkei_vuln::notes::to_jvnrss(&settings, &note, &lang),
            };
            out!("{}", text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        VulnCommand::Import { format, files } => {
            let actor = renkei_core::audit::Actor::system("cli");
            let mut refused = false;
            for file in files {
                let shown = file.display().to_string();
                let bytes = match std::fs::read(&file) {
                    Ok(b) => b,
                    Err(e) => {
                        refused = true;
                        out!(
                            "{}",
                            serde_json::json!({"file": shown, "errors": [e.to_string()]})
                        );
                        continue;
                    }
                };
                match renkei_vuln::cases::import(store, &actor, &format, &bytes, &store.now_str())
                    .await
                {
                    Ok(key) => out!("{}", serde_json::json!({"file": shown, "case": key})),
                    Err(renkei_vuln::VulnError::Document { problems, .. }) => {
                        refused = true;
                        for p in &problems {
                            say!("{shown}: {p}");
                        }
                        out!("{}", serde_json::json!({"file": shown, "errors": problems}));
                    }
                    Err(e) if e.kind().is_user_error() => {
                        refused = true;
                        say!("{shown}: {e}");
                        out!(
                            "{}",
                            serde_json::json!({"file": shown, "errors": [e.to_string()]})
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(ExitCode::from(if refused { 2 } else { 0 }))
        }
    }
}

/// The kind of a library crate's error carried by `err`, if it is one.
fn kind_of(err: &anyhow::Error) -> Option<Kind> {
    fn kind<E: Classify>(err: &anyhow::Error) -> Option<Kind> {
        err.downcast_ref::<E>().map(Classify::kind)
    }
    kind::<CoreError>(err)
        .or_else(|| kind::<renkei_incident::IncidentError>(err))
        .or_else(|| kind::<renkei_enrich::EnrichError>(err))
        .or_else(|| kind::<renkei_vuln::VulnError>(err))
        .or_else(|| kind::<renkei_observe::ObserveError>(err))
        .or_else(|| kind::<renkei_publish::PublishError>(err))
        .or_else(|| kind::<renkei_report::ReportError>(err))
        .or_else(|| {
            err.downcast_ref::<renkei_web::WebError>()
                .and_then(|e| match e {
                    renkei_web::WebError::Core(c) => Some(c.kind()),
                    _ => None,
                })
        })
}

fn load_config(global: &Global, listen: Option<&String>) -> anyhow::Result<Config> {
    let mut overrides = Vec::new();
    if let Some(url) = &global.database_url {
        overrides.push(("database.url", url.clone()));
    }
    if let Some(listen) = listen {
        overrides.push(("server.listen", listen.clone()));
    }
    Ok(Config::load(
        global.config.as_deref(),
        |k| std::env::var(k).ok(),
        &overrides,
    )?)
}

/// Traces sent to the OpenTelemetry collector until dropped, which sends what is
/// still batched.
struct Traces(Option<opentelemetry_sdk::trace::SdkTracerProvider>);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(e) = provider.shutdown()
        {
            say!("renkei: traces not all sent: {e}");
        }
    }
}

/// Logs to stderr, and with `log.otlp_endpoint` traces to an OpenTelemetry collector.
fn init_logging(config: &Config) -> anyhow::Result<Traces> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let provider = if config.log.otlp_endpoint.is_empty() {
        None
    } else {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpJson)
            .with_endpoint(config.log.otlp_endpoint.clone())
            .build()
            .context("the OTLP exporter")?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("renkei")
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        Some(
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        )
    };
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("renkei")));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
    Ok(Traces(provider))
}

async fn publish(config: &Config, store: &Store, cmd: PublishCommand) -> anyhow::Result<ExitCode> {
    use renkei_publish::{calendar, weekly};
    match cmd {
        PublishCommand::Holidays { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let days = match calendar::parse_holidays(&text) {
                Ok(days) => days,
                Err(e) => {
                    say!("renkei: {}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
            };
            let actor = renkei_core::audit::Actor::system("cli");
            let loaded = weekly::load_holidays(store, &actor, &days).await?;
            out!(
                "{}",
                serde_json::json!({"loaded": loaded, "first": days.iter().map(|d| d.0).min(), "last": days.iter().map(|d| d.0).max()})
            );
        }
        PublishCommand::ImportSubscribers { list, file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let mut rows = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (email, lang) = line.split_once(',').unwrap_or((line, "ja"));
                let lang = match lang.trim() {
                    "en" => renkei_core::lang::Lang::En,
                    "ja" | "" => renkei_core::lang::Lang::Ja,
                    other => {
                        say!(
                            "renkei: {}: line {}: {other:?} is not ja or en",
                            file.display(),
                            i + 1
                        );
                        return Ok(ExitCode::from(2));
                    }
                };
                if let Err(e) = renkei_publish::lists::check_email(email) {
                    say!("renkei: {}: line {}: {e}", file.display(), i + 1);
                    return Ok(ExitCode::from(2));
                }
                rows.push((email.trim().to_string(), lang));
            }
            let actor = renkei_core::audit::Actor::system("cli");
            let added = renkei_publish::lists::import(store, &actor, &list, &rows).await?;
            out!(
                "{}",
                serde_json::json!({"list": list, "rows": rows.len(), "added": added})
            );
        }
        PublishCommand::Send {
            list,
            alert,
            weekly,
            as_user,
            wait,
        } => {
            let Some(user) = renkei_core::accounts::find_user_by_email(store, &as_user).await?
            else {
                say!("renkei: no account {as_user:?}");
                return Ok(ExitCode::from(2));
            };
            let what = match (alert, weekly) {
                (Some(a), _) => renkei_publish::lists::Publication::Alert(a),
                (None, Some(w)) => renkei_publish::lists::Publication::Weekly(w),
                (None, None) => unreachable!("clap requires one"),
            };
            let settings = list_settings(config);
            let p = renkei_publish::lists::start_send(store, &settings, &user.info(), &list, &what)
                .await?;
            return progress(store, p.id, wait).await;
        }
        PublishCommand::Progress { id, wait } => return progress(store, id, wait).await,
        PublishCommand::Schedule { from, weeks } => {
            let from = match from {
                Some(d) => weekly::parse_date(&d)?,
                None => store.now().date_naive(),
            };
            let schedule = weekly::Schedule::load(store, &config.publish).await?;
            for day in schedule.upcoming(from, weeks.clamp(1, 520)) {
                out!("{}", serde_json::to_string(&day)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list_settings(config: &Config) -> renkei_publish::lists::Settings {
    renkei_publish::lists::Settings::from_config(config, None)
}

/// Prints a send's progress (every second with `wait`, until it is done).
async fn progress(store: &Store, id: i64, wait: bool) -> anyhow::Result<ExitCode> {
    loop {
        let p = renkei_publish::lists::progress(store, id).await?;
        out!("{}", serde_json::to_string(&p)?);
        if !wait || p.done {
            return Ok(if p.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Says so when an SQLite URL names a file that is not there yet: a command run
/// from another directory than usual would otherwise quietly start a second,
/// empty database beside the real one.
fn note_new_database(url: &str) {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return;
    };
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" || std::path::Path::new(path).exists() {
        return;
    }
    let shown = std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string());
    say!(
        "renkei: no database at {shown}; creating a new one there (database.url or RENKEI_DATABASE_URL names another)"
    );
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    note_new_database(&config.database.url);
    Store::open(&config.database.url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database {}", redact(&config.database.url)))
}

/// Database URLs may carry a password; never print it.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            listen,
            check_config,
        } => {
            let config = load_config(&cli.global, listen.as_ref())?;
            if check_config {
                let mut shown = config.clone();
                shown.database.url = redact(&shown.database.url);
                shown.mail.relay = redact(&shown.mail.relay);
                if !shown.mail.signing_key_passphrase.is_empty() {
                    shown.mail.signing_key_passphrase = "(set)".into();
                }
                out!(
                    "{}",
                    toml::to_string_pretty(&shown).context("printing the configuration")?
                );
                say!("renkei: configuration OK");
                return Ok(ExitCode::SUCCESS);
            }
            let _traces = init_logging(&config)?;
            note_new_database(&config.database.url);
            serve(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(cmd) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            admin(&store, cmd).await
        }
        Command::Publish(cmd) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            publish(&config, &store, cmd).await
        }
        Command::Vuln(cmd) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            vuln(&config, &store, cmd).await
        }
        Command::Incident(IncidentCommand::Export { format: _, id }) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            let incident = renkei_incident::incidents::get(&store, id).await?;
            let tlp = renkei_core::tlp::Tlp::parse(&incident.tlp)?;
            let settings = renkei_incident::notify::Settings {
                from: config.mail.from.clone(),
                ..Default::default()
            };
            out!(
                "{}",
                renkei_incident::notify::iodef_of(&settings, &[incident], tlp, &store.now_str())
                    .trim_end()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Incident(IncidentCommand::Import {
            format,
            feed,
            mapping,
            tlp,
            files,
        }) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            if format == "csv" {
                let _traces = init_logging(&config)?;
                let Some(feed) = feed else {
                    say!("renkei: --format csv imports a bulk feed: give its name with --feed");
                    return Ok(ExitCode::from(2));
                };
                return import_feed(&store, &config, &feed, mapping.as_deref(), &tlp, &files).await;
            }
            import(&store, &config, &format, &tlp, &files).await
        }
        Command::Incident(IncidentCommand::FeedTypes { refresh }) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            let before = {
                let mut tx = store.begin().await?;
                let t = renkei_incident::feeds::shadowserver_types_in(&mut tx).await?;
                tx.commit().await?;
                t
            };
            match refresh {
                Some(file) => {
                    let bytes = std::fs::read(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let types = match renkei_incident::feeds::refresh_shadowserver_types(
                        &store,
                        &Actor::system("feed types"),
                        &bytes,
                    )
                    .await
                    {
                        Ok(t) => t,
                        Err(e) if e.kind().is_user_error() => {
                            say!("renkei: {}: {e}", file.display());
                            return Ok(ExitCode::from(2));
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let added = types.iter().filter(|t| !before.contains(t)).count();
                    let removed = before.iter().filter(|t| !types.contains(t)).count();
                    out!(
                        "{}",
                        serde_json::json!({"types": types.len(), "added": added, "removed": removed})
                    );
                }
                None => {
                    for t in before {
                        out!("{t}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Mailgate { url, token } => mailgate(&url, token.as_deref()).await,
        Command::Report(ReportCommand::Quarterly {
            year,
            quarter,
            out,
            lang,
        }) => {
            let config = load_config(&cli.global, None)?;
            let quarter = renkei_report::Quarter::new(year, quarter)?;
            let lang = match lang.as_str() {
                "ja" => Lang::Ja,
                "en" => Lang::En,
                other => {
                    say!("renkei: --lang {other:?}: use ja or en");
                    return Ok(ExitCode::from(2));
                }
            };
            let store = open_store(&config).await?;
            let summary = report::write(&config, &store, quarter, lang, &out).await?;
            out!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(DemoCommand::Seed {
            quarter,
            reports,
            subscribers,
            compare,
        }) => {
            let config = load_config(&cli.global, None)?;
            let quarter = match quarter {
                Some(q) => renkei_report::Quarter::parse(&q)?,
                None => renkei_report::Quarter::last_complete(
                    renkei_core::time::Clock::system().now().date_naive(),
                ),
            };
            note_new_database(&config.database.url);
            let seeded = demo::seed(config, quarter, reports, subscribers, compare).await?;
            out!("{}", serde_json::to_string(&seeded)?);
            if seeded.kept_accounts > 0 {
                say!(
                    "renkei: the database already had {} account(s); they are kept as they were, beside the demo's coordinators",
                    seeded.kept_accounts
                );
            }
            say!(
                "renkei: demo data for {} is in; sign in as {} with the password {}",
                seeded.quarter,
                seeded.coordinator,
                seeded.password
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Observe(cmd) => {
            let config = load_config(&cli.global, None)?;
            let needs_store = matches!(
                cmd,
                observe::ObserveCommand::AddSensor { .. } | observe::ObserveCommand::Trends { .. }
            );
            let store = if needs_store {
                Some(open_store(&config).await?)
            } else {
                None
            };
            observe::observe(&config, store.as_ref(), cmd).await
        }
        Command::Sensor(args) => {
            let config = load_config(&cli.global, None)?;
            let _traces = init_logging(&config)?;
            observe::sensor(args).await
        }
        Command::Enrich(cmd) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            enrich(&store, cmd).await
        }
        Command::Audit(AuditCommand::Verify {
            checkpoints,
            public_key,
        }) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            let mut verdict = audit::verify(&store).await?;
            if let (Some(path), Verdict::Intact { .. }) = (&checkpoints, &verdict) {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CoreError::invalid("checkpoints", format!("{}: {e}", path.display()))
                })?;
                let list = audit::Checkpoint::parse_lines(&text).map_err(|e| {
                    CoreError::invalid("checkpoints", format!("{}: {e}", path.display()))
                })?;
                let public = match public_key {
                    Some(p) => std::fs::read_to_string(&p).map_err(|e| {
                        CoreError::invalid("public_key", format!("{}: {e}", p.display()))
                    })?,
                    None => team_key(&config)?.public_armored()?,
                };
                if let Err(e) = renkei_mail::checkpoint::verify_signatures(&public, &list) {
                    say!("renkei: {e}");
                    return Ok(ExitCode::from(1));
                }
                verdict = audit::check_against(&store, &list).await?;
            }
            out!("{}", serde_json::to_string(&verdict)?);
            Ok(match verdict {
                Verdict::Intact { .. } => ExitCode::SUCCESS,
                Verdict::Broken {
                    first_bad_seq,
                    reason,
                } => {
                    say!(
                        "renkei: the audit log was tampered with at row {first_bad_seq}: {reason}"
                    );
                    ExitCode::from(1)
                }
            })
        }
        Command::Backup { out } => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            snapshots::backup(&store, &out).await
        }
        Command::Restore { from, check } => {
            let config = load_config(&cli.global, None)?;
            snapshots::restore(&config, &from, check).await
        }
        Command::Store(cmd) => snapshots::store(cmd).await,
        Command::Retention(cmd) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            privacy::retention(&store, &config, cmd).await
        }
        Command::Erase(args) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            privacy::erase(&store, args).await
        }
        Command::Audit(AuditCommand::Checkpoint { out }) => {
            let config = load_config(&cli.global, None)?;
            let store = open_store(&config).await?;
            let key = team_key(&config)?;
            let file = out.or_else(|| {
                (!config.audit.checkpoint_file.is_empty())
                    .then(|| config.audit.checkpoint_file.clone().into())
            });
            let to = renkei_mail::checkpoint::Destinations {
                file: file.as_deref(),
                mail: (!config.audit.checkpoint_mail.is_empty() && !config.mail.from.is_empty())
                    .then_some((
                        config.mail.from.as_str(),
                        config.audit.checkpoint_mail.as_str(),
                    )),
            };
            let c = renkei_mail::checkpoint::take(&store, &key, to).await?;
            out!("{}", serde_json::to_string(&c)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The team's signing key, which checkpoints need.
fn team_key(config: &Config) -> anyhow::Result<renkei_mail::TeamKey> {
    let path = &config.mail.signing_key_file;
    if path.is_empty() {
        return Err(CoreError::invalid(
            "mail.signing_key_file",
            "audit checkpoints are signed with the team key: set mail.signing_key_file",
        )
        .into());
    }
    let data = std::fs::read(path)
        .map_err(|e| CoreError::invalid("mail.signing_key_file", format!("{path}: {e}")))?;
    Ok(
        renkei_mail::TeamKey::parse(&data, &config.mail.signing_key_passphrase)
            .map_err(|e| CoreError::invalid("mail.signing_key_file", e.to_string()))?,
    )
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    // Signals are caught from before the first connection is accepted: a
    // supervisor's SIGTERM that arrives while startup finishes must still mean
    // a graceful stop, not death by the default action.
    let shutdown = shutdown_signal()?;
    let db = redact(&config.database.url);
    let listeners = renkei_web::Listeners::bind(&config).await?;
    let address = listeners.http_address()?;
    // Links printed or mailed must name the port actually bound (listen may say :0).
    config.server.listen = address.to_string();
    let ttl_hours = config.security.setup_link_ttl_hours;
    let server = renkei_web::build(config).await?;
    tracing::info!(%address, database = %db, "renkei is serving");
    say!("renkei: serving on http://{address} (database {db})");
    if let Some(url) = server.setup_url() {
        tracing::info!("no accounts yet: first-admin setup link printed on stderr");
        say!(
            "renkei: no accounts yet. Create the first administrator within {ttl_hours} hours at:\n\n    {url}\n"
        );
    }
    let running = server.start(listeners)?;
    let bound = running.addresses();
    if let Some(smtp) = bound.smtp {
        tracing::info!(address = %smtp, "SMTP intake listening");
        say!("renkei: SMTP intake on {smtp}");
    }
    if let Some(metrics) = bound.metrics {
        say!("renkei: /metrics on http://{metrics}");
    }
    running.run_until(shutdown).await;
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers now and returns the future that
/// resolves on the first of them. Installing inside the future would leave a
/// window, until it is first polled, in which a signal kills the process.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
    }
}

async fn find_org(store: &Store, which: &str) -> anyhow::Result<i64> {
    let all = orgs::list(store, None).await?;
    let found = match which.parse::<i64>() {
        Ok(id) => all.iter().find(|o| o.id == id),
        Err(_) => all
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(which.trim())),
    };
    found
        .map(|o| o.id)
        .ok_or_else(|| CoreError::invalid("org", format!("no organization {which:?}")).into())
}

async fn admin(store: &Store, cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::system("cli");
    match cmd {
        AdminCommand::CreateUser {
            email,
            role,
            org,
            name,
            lang,
            password_stdin,
        } => {
            let role = Role::parse(&role)?;
            let org_id = match org {
                Some(o) => Some(find_org(store, &o).await?),
                None => None,
            };
            let (password, print_password) = if password_stdin {
                let mut buf = String::new();
                std::io::stdin()
                    .read_to_string(&mut buf)
                    .context("reading the password")?;
                (Some(buf.trim_end_matches(['\r', '\n']).to_string()), false)
            } else if role.may_use_password() {
                (Some(secrets::readable_password()), true)
            } else {
                (None, false)
            };
            let user = accounts::create_user(
                store,
                &actor,
                NewUser {
                    email,
                    display_name: name,
                    role,
                    org_id,
                    password: password.clone(),
                    lang: Lang::parse(&lang)?,
                },
            )
            .await?;
            let mut out =
                serde_json::json!({"user": user.id, "email": user.email, "role": user.role});
            if print_password {
                out["password"] = serde_json::json!(password);
            }
            out!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::CreateToken {
            email,
            name,
            scopes,
            expires_in_days,
        } => {
            let user = accounts::find_user_by_email(store, &email)
                .await?
                .ok_or_else(|| CoreError::invalid("email", format!("no account {email:?}")))?;
            let scopes = match scopes {
                Some(s) => renkei_core::access::Scopes::parse(&s)?,
                None => renkei_core::access::Scopes::of(renkei_core::access::Scope::allowed_for(
                    user.role,
                )),
            };
            let new = accounts::NewToken {
                name: &name,
                scopes: Some(scopes),
                expires_in_days,
            };
            let (token, secret) =
                accounts::issue_token(store, &actor, &accounts::Issuer::System, user.id, new)
                    .await?;
            out!(
                "{}",
                serde_json::json!({"token": token.id, "user": user.id, "secret": secret, "scopes": token.scopes, "expires_at": token.expires_at})
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One document to import, named as the user will find it again: the file, or
/// `FILE#n` for the n-th message of an mbox file.
struct Document {
    shown: String,
    raw: Vec<u8>,
}

/// The documents the files hold: a file each, or an mbox file's messages, or a
/// maildir's (`cur/` and `new/`). What cannot be read is named on stderr.
fn documents(format: &str, files: &[PathBuf], lines: &mut Vec<serde_json::Value>) -> Vec<Document> {
    let mut docs = Vec::new();
    let unreadable = |shown: String,
                      e: &dyn std::fmt::Display,
                      lines: &mut Vec<serde_json::Value>| {
        say!("renkei: {shown}: cannot read: {e}");
        lines.push(serde_json::json!({"file": shown, "report": null, "incidents": [], "category": null, "status": "unreadable", "problem": e.to_string()}));
    };
    for file in files {
        let shown = file.display().to_string();
        match format {
            "maildir" => {
                let mut paths = Vec::new();
                for sub in ["cur", "new"] {
                    match std::fs::read_dir(file.join(sub)) {
                        Ok(entries) => paths.extend(
                            entries
                                .filter_map(|e| e.ok().map(|e| e.path()))
                                .filter(|p| p.is_file()),
                        ),
                        Err(e) => unreadable(format!("{shown}/{sub}"), &e, lines),
                    }
                }
                paths.sort();
                for path in paths {
                    match std::fs::read(&path) {
                        Ok(raw) => docs.push(Document {
                            shown: path.display().to_string(),
                            raw,
                        }),
                        Err(e) => unreadable(path.display().to_string(), &e, lines),
                    }
                }
            }
            "mbox" => match std::fs::read(file) {
                Ok(raw) => {
                    if !renkei_formats::mbox::is_mbox(&raw) {
                        say!(
                            "renkei: {shown}: not an mbox file (it does not begin with a \"From sender date\" line)"
                        );
                        lines.push(serde_json::json!({"file": shown, "report": null, "incidents": [], "category": null, "status": "unreadable", "problem": "not an mbox file"}));
                        continue;
                    }
                    for (n, message) in renkei_formats::mbox::split(&raw).into_iter().enumerate() {
                        docs.push(Document {
                            shown: format!("{shown}#{}", n + 1),
                            raw: message,
                        });
                    }
                }
                Err(e) => unreadable(shown, &e, lines),
            },
            _ => match std::fs::read(file) {
                Ok(raw) => docs.push(Document { shown, raw }),
                Err(e) => unreadable(shown, &e, lines),
            },
        }
    }
    docs
}

async fn import(
    store: &Store,
    config: &Config,
    format: &str,
    tlp: &str,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    use renkei_incident::reports::{self, InputFormat, Settings, Status};
    let input = match format {
        "mbox" | "maildir" => InputFormat::Mail,
        other => InputFormat::parse(other)?,
    };
    let tlp = renkei_core::tlp::Tlp::parse(tlp)?;
    let settings = Settings {
        attachment_limit: config.intake.attachment_limit_bytes,
        link_window_days: config.intake.link_window_days,
        // Imported files come from feeds and archives, not from people waiting for an answer.
        confirm_from: None,
        enricher: Some(renkei_enrich::Enricher::open(store).await?),
        team_key: None,
        reply_window_days: config.intake.reply_window_days,
        public_url: config.public_url(),
        status_link_days: 0,
        unpack: renkei_web::unpack_limits(config),
        feed_notify: Some(renkei_incident::notify::Settings::from_config(config)?),
        exercise_tags: config.mail.exercise_tags.clone(),
    };
    let actor = Actor::system("import");
    let mut problems = Vec::new();
    let docs = documents(format, files, &mut problems);
    let mut all_fine = problems.is_empty();
    for line in problems {
        out!("{line}");
    }
    let bar = (std::io::stderr().is_terminal() && docs.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(docs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("importing");
        bar
    });
    // Batches keep the round trips per document low; each batch's raw files are
    // committed before any of them is read. A batch the database refuses for a
    // while (`renkei serve` writing the same SQLite file) is tried again.
    for chunk in docs.chunks(200) {
        let batch: Vec<(&[u8], renkei_core::tlp::Tlp)> =
            chunk.iter().map(|d| (d.raw.as_slice(), tlp)).collect();
        let mut tries = 0;
        let imported = loop {
            match reports::import_many(store, &settings, &actor, input, &batch).await {
                Ok(done) => break done,
                Err(e) if tries < 5 && e.is_busy() => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200 << tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        for (doc, imported) in chunk.iter().zip(imported) {
            let outcome = imported.outcome;
            if outcome.status == Status::NeedsReview {
                all_fine = false;
                if let Some(bar) = &bar {
                    bar.suspend(|| {
                        say!(
                            "renkei: {}: kept as report {} for review: {}",
                            doc.shown,
                            outcome.report,
                            outcome.problem.as_deref().unwrap_or("")
                        )
                    });
                } else {
                    say!(
                        "renkei: {}: kept as report {} for review: {}",
                        doc.shown,
                        outcome.report,
                        outcome.problem.as_deref().unwrap_or("")
                    );
                }
            }
            let line = serde_json::json!({
                "file": doc.shown,
                "report": outcome.report,
                "incidents": outcome.incidents,
                "category": outcome.category,
                "status": outcome.status,
                "problem": outcome.problem,
                "duplicate": imported.again,
            });
            match &bar {
                Some(bar) => bar.suspend(|| out!("{line}")),
                None => out!("{line}"),
            }
        }
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // The incidents opened get their due times before the command returns, so that
    // a server does not spend its first minute (and its readers' requests) on a
    // bulk import's backlog.
    let clocks = renkei_incident::clocks::Clocks::from_config(&config.clocks)?;
    let settled = renkei_incident::clocks::settle(store, &clocks).await?;
    if settled > 0 {
        say!("renkei: due times worked out for {settled} incidents");
    }
    after_bulk_import(store).await?;
    Ok(if all_fine {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// What a bulk import leaves settled before it returns, so that a server's first
/// requests after it do not pay for it: the statistics of the days it wrote are
/// recounted into their summaries, and PostgreSQL's planner learns the tables' new
/// sizes ([`Store::analyze`]).
async fn after_bulk_import(store: &Store) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let days = renkei_incident::summaries::refresh(store, None).await?;
    if days > 0 {
        say!(
            "renkei: statistics recounted for {days} days in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    store.analyze().await?;
    Ok(())
}

async fn enrich(store: &Store, cmd: EnrichCommand) -> anyhow::Result<ExitCode> {
    use renkei_enrich::{Enricher, Format, Kind, sources};
    match cmd {
        EnrichCommand::Load {
            kind,
            format,
            files,
        } => {
            let kind = Kind::parse(&kind)?;
            let format = Format::parse(&format)?;
            let mut data = Vec::with_capacity(files.len());
            for f in &files {
                let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                data.push((f.display().to_string(), bytes));
            }
            let report =
                sources::load(store, &Actor::system("enrich load"), kind, format, &data).await?;
            out!("{}", serde_json::to_string(&report)?);
            for p in &report.problems {
                say!("renkei: {}:{}: {}", p.file, p.line, p.message);
            }
            Ok(if report.bad_rows == 0 {
                ExitCode::SUCCESS
            } else {
                say!(
                    "renkei: {} rows loaded, {} bad rows skipped",
                    report.rows,
                    report.bad_rows
                );
                ExitCode::from(2)
            })
        }
        EnrichCommand::Lookup { ips } => {
            let tables = Enricher::open(store).await?.tables();
            if tables.counts.values().all(|n| *n == 0) {
                say!(
                    "renkei: no enrichment tables are loaded, so nothing is known about any address; load them with `renkei enrich load`"
                );
            }
            let mut code = ExitCode::SUCCESS;
            for ip in ips {
                if ip.trim().parse::<std::net::IpAddr>().is_err() {
                    say!("renkei: {ip:?} is not an IP address");
                    code = ExitCode::from(2);
                    continue;
                }
                out!("{}", serde_json::to_string(&tables.lookup_str(&ip))?);
            }
            Ok(code)
        }
    }
}

async fn import_feed(
    store: &Store,
    config: &Config,
    feed: &str,
    mapping: Option<&std::path::Path>,
    tlp: &str,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    use renkei_formats::feed::Mapping;
    let tlp = renkei_core::tlp::Tlp::parse(tlp)?;
    let mapping = match mapping {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            match Mapping::from_toml(&text) {
                Ok(m) => m,
                Err(e) => {
                    say!("renkei: {}: {e}", path.display());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        None => match Mapping::builtin(feed) {
            Some(m) => m,
            None => {
                say!(
                    "renkei: no built-in mapping for feed {feed:?} (built in: {}); describe its columns with --mapping FILE",
                    Mapping::BUILTIN.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
        },
    };
    let tables = renkei_enrich::Enricher::open(store).await?.tables();
    let settings = renkei_incident::notify::Settings::from_config(config)?;
    let actor = Actor::system("feed import");
    let mut all_fine = true;
    for file in files {
        let shown = file.display().to_string();
        let data = std::fs::read(file).with_context(|| format!("reading {shown}"))?;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} chunks ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(shown.clone());
            bar
        });
        let progress = |done: u64, total: u64| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        };
        let report = renkei_incident::feeds::import(
            store,
            tables.clone(),
            &settings,
            &actor,
            feed,
            &mapping,
            &data,
            tlp,
            &progress,
        )
        .await?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if report.duplicate {
            say!(
                "renkei: {shown}: this file was imported for {feed} before (report {}); nothing is counted again",
                report.report
            );
        }
        for p in &report.problems {
            say!("renkei: {shown}:{}: {}", p.line, p.message);
        }
        if report.bad_rows > 0 {
            all_fine = false;
            say!(
                "renkei: {shown}: {} rows imported, {} bad rows skipped",
                report.events,
                report.bad_rows
            );
        }
        let mut line = serde_json::to_value(&report)?;
        line["file"] = serde_json::Value::String(shown);
        out!("{line}");
    }
    after_bulk_import(store).await?;
    Ok(if all_fine {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// EX_TEMPFAIL from sysexits.h: the MTA keeps the message and tries again later.
const EX_TEMPFAIL: u8 = 75;

async fn mailgate(url: &str, token: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut message = Vec::new();
    std::io::stdin()
        .read_to_end(&mut message)
        .context("reading the message from standard input")?;
    if message.is_empty() {
        say!("renkei: mailgate: standard input was empty; nothing to post");
        return Ok(ExitCode::from(2));
    }
    let endpoint = format!(
        "{}/api/v1/reports/import?format=mail",
        url.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let mut request = client
        .post(&endpoint)
        .header("content-type", "message/rfc822")
        .body(message);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            let body = response.text().await.unwrap_or_default();
            out!("{body}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            say!("renkei: mailgate: {endpoint} answered {status}: {body}");
            Ok(ExitCode::from(EX_TEMPFAIL))
        }
        Err(e) => {
            say!("renkei: mailgate: cannot reach {endpoint}: {e}");
            Ok(ExitCode::from(EX_TEMPFAIL))
        }
    }
}
