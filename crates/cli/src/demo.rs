//! `renkei demo seed`: fills an empty database with a realistic quarter, so that a
//! new user sees every page populated. Everything goes through the code paths people
//! use: the server runs in this process, and the demo talks to its HTTP API and web
//! form as reporters, coordinators, vendors and sensors would. It sends mail reports
//! in Japanese and English, web-form reports, notifications, sensor batches signed
//! by the sensors' own code, vendor registrations, cases up to published notes,
//! alerts with an update, weekly reports and an early warning. The server and the
//! sensors share one clock (the store's), moved through the quarter as the demo goes,
//! so every record carries a date in it.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::config::Config;
use renkei_core::lang::Lang;
use renkei_core::time;
use renkei_enrich::{Format, Kind, sources};
use renkei_observe::aggregate::Aggregator;
use renkei_observe::sensor::{Collector, Spool};
use renkei_observe::{Class, Proto};
use renkei_report::Quarter;
use serde::Serialize;
use serde_json::{Value, json};

/// What the demo put in, as the system counted it back.
#[derive(Debug, Default, Serialize)]
pub struct Seeded {
    pub quarter: String,
    pub reports: i64,
    pub by_mail: i64,
    pub by_form: i64,
    pub by_category: BTreeMap<String, i64>,
    pub reporter_tlds: BTreeMap<String, i64>,
    pub incidents: i64,
    pub notifications: i64,
    pub alerts: i64,
    pub alert_updates: i64,
    pub early_warnings: i64,
    pub weekly_issues: i64,
    pub weekly_items: i64,
    pub sensors: i64,
    pub batches: i64,
    pub vendors_registered: i64,
    pub notes_published: i64,
    pub subscribers: i64,
    pub topics: i64,
    pub coordinator: String,
    pub password: String,
    /// Accounts the database already had (an administrator made through the setup
    /// link): kept as they were.
    pub kept_accounts: i64,
    /// With `--compare`: the reports seeded in the quarter before and in the same
    /// quarter a year before, by quarter.
    pub earlier: BTreeMap<String, i64>,
}

/// A small deterministic generator: the same quarter seeds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, Some(token), path, Some(body))
            .await
    }

    /// Posts bytes as they are (a document).
    async fn bytes(&self, token: &str, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/pdf")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, Some(token), path, Some(body))
            .await
    }

    async fn get(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, Some(token), path, None)
            .await
    }
}

/// Reporters: their addresses spread over top-level domains the way a national
/// team's are (Japan first, then the generic domains, then abroad).
const REPORTERS: &[(&str, &str, bool)] = &[
    ("soc@isp-kanto.example.jp", "関東ネット SOC", true),
    (
        "abuse@univ-tohoku.example.jp",
        "東北大学 情報基盤センター",
        true,
    ),
    ("security@bank-sakura.example.jp", "さくら銀行 CSIRT", true),
    ("noc@dc-osaka.example.jp", "大阪データセンター NOC", true),
    (
        "admin@shop-nagoya.example.jp",
        "名古屋ショップ 管理者",
        true,
    ),
    ("csirt@maker-kyoto.example.jp", "京都製作所 CSIRT", true),
    ("abuse@hosting-one.example.com", "Hosting One Abuse", false),
    ("soc@globalbank.example.com", "Global Bank SOC", false),
    ("security@webshop.example.com", "Webshop Security", false),
    ("reports@antiphish.example.com", "Anti-Phishing Desk", false),
    ("noc@backbone.example.net", "Backbone NOC", false),
    ("abuse@cloudy.example.net", "Cloudy Abuse Team", false),
    ("cert@bund.example.de", "Bundes-CERT", false),
    ("abuse@provider.example.de", "Provider Abuse", false),
    ("cert@cn-net.example.cn", "CN Net CERT", false),
    ("abuse@isp.example.nl", "ISP NL Abuse", false),
    ("cert@uni.example.pl", "Uni PL CERT", false),
];

/// How often each reporter reports, by index (more from .jp and .com).
const REPORTER_WEIGHTS: &[u64] = &[9, 6, 5, 5, 4, 4, 8, 6, 6, 6, 6, 5, 3, 2, 2, 2, 2];

/// Ports scanned, weighted roughly as the seed report's table.
const SCAN_PORTS: &[(u16, &str, u64)] = &[
    (80, "http", 30),
    (22, "ssh", 12),
    (445, "microsoft-ds", 6),
    (5900, "vnc", 3),
    (1433, "ms-sql-s", 3),
    (3389, "ms-wbt-server", 3),
    (23, "telnet", 2),
];

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u64)]) -> T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[0].0
}

fn source_ip(rng: &mut Rng) -> String {
    let net = *rng.pick(&["203.0.113", "198.51.100", "192.0.2"]);
    format!("{net}.{}", 1 + rng.below(254))
}

/// One incident report: subject, text and the category it is meant to be.
fn report_text(rng: &mut Rng, ja: bool, when: DateTime<Utc>) -> (String, String, &'static str) {
    let kind = weighted(
        rng,
        &[
            ("scan", 60),
            ("phishing", 17),
            ("other", 14),
            ("forged", 3),
            ("intrusion", 2),
            ("comprehensive", 4),
        ],
    );
    let ips: Vec<String> = (0..1 + rng.below(3)).map(|_| source_ip(rng)).collect();
    let day = when.format("%b %e %H:%M:%S");
    match kind {
        "scan" => {
            let (port, _, _) = *rng.pick(SCAN_PORTS);
            let logs: String = ips
                .iter()
                .map(|ip| {
                    format!("{day} fw kernel: DROP IN=eth0 OUT= SRC={ip} DST=192.0.2.200 LEN=60 PROTO=TCP SPT={} DPT={port} SYN\n", 40000 + rng.below(20000))
                })
                .collect();
            if ja {
                (
                    format!("ポート {port} へのスキャンの報告"),
                    format!(
                        "当社のファイアウォールで TCP {port} 番ポートへのスキャンを検知しました。送信元への連絡をお願いします。\n\n{logs}"
                    ),
                    "scan",
                )
            } else {
                (
                    format!("Port scan on TCP {port}"),
                    format!(
                        "Our firewall logged a port scan against TCP port {port}. Please contact the source.\n\n{logs}"
                    ),
                    "scan",
                )
            }
        }
        "comprehensive" => {
            let ip = &ips[0];
            let logs: String = [21u16, 22, 23, 25, 80, 110, 143, 443, 3306, 8080]
                .iter()
                .map(|p| format!("{day} fw kernel: DROP IN=eth0 OUT= SRC={ip} DST=192.0.2.200 LEN=60 PROTO=TCP SPT=51000 DPT={p} SYN\n"))
                .collect();
            if ja {
                (
                    "複数ポートへのスキャン".into(),
                    format!("同一の送信元から複数のポートへのスキャンがありました。\n\n{logs}"),
                    "scan",
                )
            } else {
                (
                    "Scan of many ports".into(),
                    format!("One source scanned many of our ports.\n\n{logs}"),
                    "scan",
                )
            }
        }
        "phishing" => {
            let ip = &ips[0];
            if ja {
                (
                    "フィッシングサイトの報告".into(),
                    format!(
                        "銀行を装ったフィッシングサイトを確認しました。利用者の口座番号と暗証番号を盗もうとしています。\nhttp://{ip}/sakura-bank/login.html\nテイクダウンのご協力をお願いします。"
                    ),
                    "phishing",
                )
            } else {
                (
                    "Phishing site".into(),
                    format!(
                        "We found a phishing site imitating our online banking login page, stealing credentials.\nhttp://{ip}/globalbank/login.php\nPlease help us take it down."
                    ),
                    "phishing",
                )
            }
        }
        "forged" => {
            if ja {
                (
                    "送信元を詐称したメール".into(),
                    format!(
                        "当社のドメインを差出人として詐称したメールが大量に配送され、エラーメールが届いています。送信元: {}",
                        ips.join(", ")
                    ),
                    "forged",
                )
            } else {
                (
                    "Mail with a forged sender".into(),
                    format!(
                        "Spam with our domain forged in the From header is being sent; we receive the bounces. Sources: {}",
                        ips.join(", ")
                    ),
                    "forged",
                )
            }
        }
        "intrusion" => {
            let ip = &ips[0];
            if ja {
                (
                    "サーバへの侵入".into(),
                    format!(
                        "サーバが侵入され、Web ページが改ざんされました。管理者権限が奪われ、ログが消去されています。侵入元: {ip}"
                    ),
                    "intrusion",
                )
            } else {
                (
                    "Server compromised".into(),
                    format!(
                        "Our web server was compromised: root access was gained, the web page was defaced and logs were wiped. Intruder: {ip}"
                    ),
                    "intrusion",
                )
            }
        }
        _ => {
            let ip = &ips[0];
            if ja {
                (
                    "マルウェア配布サイト".into(),
                    format!(
                        "マルウェアを配布しているサイトがあります。ダウンロードされるファイルはトロイの木馬です。\nhttp://{ip}/update.exe"
                    ),
                    "other",
                )
            } else {
                (
                    "Malware download site".into(),
                    format!(
                        "A site distributes malware: the file offered is a trojan.\nhttp://{ip}/invoice.exe"
                    ),
                    "other",
                )
            }
        }
    }
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].chars().take_while(|c| *c != '"').collect())
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// Fills an empty database with the quarter; returns what it put in.
pub async fn seed(
    mut config: Config,
    quarter: Quarter,
    reports: usize,
    subscribers: usize,
    compare: bool,
) -> anyhow::Result<Seeded> {
    let first = quarter.first_day();
    let days = (quarter.end() - first).num_days();
    // 09:00 in Japan on the quarter's first day. The server and the sensors below
    // read this clock, so every record is stamped inside the quarter.
    let clock = time::Clock::system();
    clock.set(midnight(first));
    config.intake.form_reports_per_hour = 1_000_000;
    if config.mail.from.is_empty() {
        config.mail.from = "Renkei demo CSIRT <csirt@demo.renkei.example>".into();
    }
    // The demo's own server, on a free loopback port beside any that is running;
    // links it writes name the team's real address.
    config.server.public_url = Some(config.public_url());
    config.server.listen = "127.0.0.1:0".into();
    config.server.metrics_listen.clear();
    config.intake.smtp.listen.clear();
    config.validate()?;
    let listeners = renkei_web::Listeners::bind(&config).await?;
    let base = format!("http://{}", listeners.http_address()?);
    let store = renkei_core::Store::open(&config.database.url, config.database.max_connections)
        .await?
        .with_clock(clock.clone());
    if renkei_core::counts::holds_records(&store).await? {
        bail!(
            "the database already holds reports, alerts, cases or sensors: demo seed fills an empty one"
        );
    }
    let kept_accounts = accounts::user_count(&store).await?;
    let server = renkei_web::build_with_store(config, store)
        .await
        .context("building the server")?;
    let store = server.store().clone();
    let observe = server.observe_settings().clone();
    let enricher = server.enricher().clone();
    let running = server.start(listeners)?;
    let api = Client {
        http: reqwest::Client::builder().cookie_store(true).build()?,
        base,
    };
    let mut rng = Rng(0x5EED_0000 ^ (quarter.year as u64 * 10 + u64::from(quarter.quarter)));
    let mut seeded = Seeded {
        quarter: quarter.to_string(),
        kept_accounts,
        ..Default::default()
    };

    // The team: two coordinators (four eyes on every alert).
    let password = renkei_core::secrets::readable_password();
    let mut tokens = Vec::new();
    for (i, name) in ["Demo Coordinator", "Demo Reviewer"].iter().enumerate() {
        let email = format!("coordinator{}@demo.renkei.example", i + 1);
        let user = accounts::create_user(
            &store,
            &Actor::system("demo seed"),
            NewUser {
                email: email.clone(),
                display_name: (*name).into(),
                role: Role::Coordinator,
                org_id: None,
                password: Some(password.clone()),
                lang: Lang::Ja,
            },
        )
        .await?;
        tokens.push(
            accounts::create_token(&store, &Actor::system("demo seed"), user.id, "demo seed")
                .await?
                .1,
        );
        if i == 0 {
            seeded.coordinator = email;
        }
    }
    seeded.password = password.clone();
    let (c1, c2) = (tokens[0].clone(), tokens[1].clone());

    // Enrichment: the networks the reported sources come from.
    let actor = Actor::system("demo seed");
    let file = |name: &str, text: &str| vec![(name.to_string(), text.as_bytes().to_vec())];
    sources::load(&store, &actor, Kind::Asn, Format::IpLocationDb, &file("asn.csv",
        "203.0.113.0,203.0.113.255,64500,Demo ISP Kanto\n198.51.100.0,198.51.100.255,64511,Example Hosting US\n192.0.2.0,192.0.2.255,64520,Beispiel Netz DE\n")).await?;
    sources::load(&store, &actor, Kind::Country, Format::IpLocationDb, &file("country.csv",
        "203.0.113.0,203.0.113.255,JP\n198.51.100.0,198.51.100.255,US\n192.0.2.0,192.0.2.255,DE\n")).await?;
    sources::load(&store, &actor, Kind::Contacts, Format::Csv, &file("contacts.csv",
        "network,email,lang,pgp_key,name\n203.0.113.0/24,abuse@isp-kanto.example.jp,ja,,関東ネット abuse\nAS64511,abuse@hosting.example.com,en,,Example Hosting abuse\nAS64520,abuse@netz.example.de,en,,Beispiel Netz abuse\n")).await?;
    sources::load(&store, &actor, Kind::Csirts, Format::Csv, &file("csirts.csv",
        "country,name,email,lang\nUS,US Demo CERT,cert@us.example,en\nDE,DE Demo CERT,cert@de.example,en\n")).await?;
    enricher.refresh(&store).await?;

    // Readers of the mailing lists, moved over from the previous system.
    let readers: Vec<(String, Lang)> = (0..subscribers)
        .map(|i| {
            (
                format!("reader{i}@readers.example"),
                if i % 5 == 0 { Lang::En } else { Lang::Ja },
            )
        })
        .collect();
    for list in ["alerts", "weekly"] {
        renkei_publish::lists::import(&store, &actor, list, &readers).await?;
    }
    seeded.subscribers = subscribers as i64;

    // Sensors, each with its own key and spool.
    let spool_dir = tempfile::tempdir()?;
    let mut sensors = Vec::new();
    for (name, location) in [
        ("tokyo-1", "Tokyo"),
        ("osaka-1", "Osaka"),
        ("fukuoka-1", "Fukuoka"),
    ] {
        let spool = Spool::open(&spool_dir.path().join(name))?.with_clock(clock.clone());
        let v = api.post(&c1, "/api/v1/sensors", json!({
            "name": name, "location": location, "address_range": "192.0.2.128/25", "public_key": spool.key()?.public(),
        })).await?;
        sensors.push((
            name,
            spool,
            v["token"].as_str().unwrap_or_default().to_string(),
        ));
    }
    seeded.sensors = sensors.len() as i64;

    // Product developers: they apply, and the team walks them to registration.
    if api
        .get(&c1, "/api/v1/vendor-terms")
        .await?
        .as_array()
        .is_none_or(|a| a.is_empty())
    {
        api.post(&c1, "/api/v1/vendor-terms", json!({"version": format!("{}-01", quarter.year), "body": "製品開発者は公表前の脆弱性情報を機密として扱います。 The vendor keeps unpublished vulnerability information confidential."})).await?;
    }
    let terms = format!("{}-01", quarter.year);
    let companies = [
        ("Sakura Router", "Sakura Router WR-100"),
        ("Fuji Web Systems", "FujiCMS"),
        ("Kumo Cloud", "Kumo Storage Gateway"),
        ("Acme Networks", "Acme VPN"),
        ("Hikari Soft", "Hikari Groupware"),
        ("Nami Devices", "Nami IP Camera"),
        ("Tsuki Mail", "Tsuki Webmail"),
        ("Mori Office", "Mori Office Suite"),
        ("Yama Printer", "Yama MFP"),
        ("Kaze Shop", "Kaze EC Cart"),
        ("Hoshi Media", "Hoshi Player"),
        ("Umi Security", "Umi Endpoint"),
    ];
    let mut vendors: Vec<(i64, String, String)> = Vec::new();

    // Alerts of the quarter: (day, Japanese title, English title, updated on day).
    let alert_plan: [(i64, &str, &str, Option<i64>); 5] = [
        (
            9,
            "Microsoft セキュリティ情報 (緊急含む) に関する注意喚起",
            "Alert on Microsoft security updates (critical included)",
            None,
        ),
        (
            44,
            "Microsoft セキュリティ情報 (緊急 1 件含む) に関する注意喚起",
            "Alert on Microsoft security updates (one critical)",
            None,
        ),
        (
            60,
            "QuickTime の未修正の脆弱性に関する注意喚起",
            "Alert on an unpatched QuickTime vulnerability",
            Some(74),
        ),
        (
            72,
            "Microsoft セキュリティ情報 (緊急 3 件含む) に関する注意喚起",
            "Alert on Microsoft security updates (three critical)",
            None,
        ),
        (
            30,
            "VPN 製品の脆弱性を狙った攻撃に関する注意喚起",
            "Alert on attacks against VPN products",
            None,
        ),
    ];
    let mut alert_numbers: BTreeMap<i64, String> = BTreeMap::new();
    let schedule = api
        .get(
            &c1,
            &format!("/api/v1/weekly/schedule?from={first}&weeks=14"),
        )
        .await?;
    let issue_days: Vec<String> = schedule["weeks"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter(|d| d["holiday"].is_null())
                .filter_map(|d| d["date"].as_str().map(String::from))
                .filter(|d| d.as_str() < quarter.end().to_string().as_str())
                .collect()
        })
        .unwrap_or_default();

    let mut pending_incidents: Vec<i64> = Vec::new();
    let mut reporter_index = 0u64;
    let weights: Vec<(usize, u64)> = REPORTER_WEIGHTS
        .iter()
        .enumerate()
        .map(|(i, w)| (i, *w))
        .collect();
    let mut cases: Vec<(String, NaiveDate)> = Vec::new();

    // The quarters the report compares with: half as many reports a year before,
    // three quarters as many the quarter before.
    if compare {
        for (earlier, share) in [
            (Quarter::new(quarter.year - 1, quarter.quarter)?, 2),
            (quarter.previous(), 3),
        ] {
            let n = earlier_reports(
                &api,
                &c1,
                &clock,
                &store,
                &mut rng,
                &weights,
                earlier,
                reports * share / 4,
            )
            .await?;
            seeded.earlier.insert(earlier.to_string(), n);
        }
        clock.set(midnight(first));
    }

    for d in 0..days {
        let day = first + Duration::days(d);
        clock.set(midnight(day) + Duration::hours(1));

        // Vendors apply through the year's first weeks.
        if d % 6 == 0 && vendors.len() < companies.len() {
            let (company, product) = companies[vendors.len()];
            let slug = company.to_lowercase().replace(' ', "");
            let v = api.call(reqwest::Method::POST, None, "/api/v1/vendors/apply", Some(json!({
                "company": company, "name": "PSIRT", "email": format!("psirt@{slug}.example"),
                "products": [product], "languages": ["ja", "en"],
            }))).await?;
            let id = v["id"].as_i64().unwrap_or_default();
            for state in [
                "documents_sent",
                "documents_returned",
                "meeting_held",
                "terms_agreed",
                "registered",
            ] {
                // Each step with its record: the documents each way, the meeting.
                match state {
                    "documents_sent" | "documents_returned" => {
                        let direction = state.trim_start_matches("documents_");
                        api.bytes(
                            &c1,
                            &format!("/api/v1/vendors/{id}/documents?direction={direction}&name={direction}.pdf"),
                            format!("%PDF {company} registration, {direction}").into_bytes(),
                        )
                        .await?;
                    }
                    "meeting_held" => {
                        api.post(&c1, &format!("/api/v1/vendors/{id}/meetings"), json!({
                            "held_on": day.to_string(), "attendees": format!("{company} PSIRT, coordinators"),
                            "minutes": "Points of contact, the key exchange and the terms agreed.",
                        }))
                        .await?;
                    }
                    _ => {}
                }
                api.post(
                    &c1,
                    &format!("/api/v1/vendors/{id}/state"),
                    json!({"state": state, "terms_version": terms}),
                )
                .await?;
            }
            vendors.push((id, company.to_string(), product.to_string()));
        }

        // A case every ten days: a finder reports, vendors answer, one date for all.
        if d % 10 == 3 && vendors.len() >= 2 && d < days - 20 {
            let (vid, company, product) = vendors[(d as usize / 10) % vendors.len()].clone();
            let cwe = *rng.pick(&[
                (
                    "CWE-79",
                    "クロスサイトスクリプティング",
                    "cross-site scripting",
                ),
                ("CWE-89", "SQL インジェクション", "SQL injection"),
                (
                    "CWE-352",
                    "クロスサイトリクエストフォージェリ",
                    "cross-site request forgery",
                ),
            ]);
            let created = api.call(reqwest::Method::POST, None, "/api/v1/cases", Some(json!({
                "title": format!("{} in {product}", cwe.2),
                "description": format!("{product} has a {} vulnerability in its administration page.", cwe.2),
                "affected": format!("{product} 2.x"),
                "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                "cwe": cwe.0, "credit": "Demo Finder", "reporter_name": "Demo Finder", "reporter_email": "finder@research.example",
            }))).await?;
            let key = created["case"].as_str().unwrap_or_default().to_string();
            api.post(
                &c1,
                &format!("/api/v1/cases/{key}/vendors"),
                json!({"vendor_id": vid}),
            )
            .await?;
            api.call(reqwest::Method::PATCH, Some(&c1), &format!("/api/v1/cases/{key}"), Some(json!({
                "note_text": {"ja": {"title": format!("{product} における{}の脆弱性", cwe.1), "solution": "最新版へアップデートしてください"},
                              "en": {"title": format!("{product} vulnerable to {}", cwe.2), "solution": "Update to the latest version."}},
            }))).await?;
            let vendor_token = vendor_user(&store, vid, &company).await?;
            // The vendor reads the summary and acknowledges before the details open.
            api.post(
                &vendor_token,
                &format!("/api/v1/cases/{key}/acknowledge"),
                json!({}),
            )
            .await?;
            api.post(&vendor_token, &format!("/api/v1/cases/{key}/status"), json!({
                "stage": "fix_ready", "statement_en": "Fixed in the latest version.", "statement_ja": "最新版で修正しました。",
                "products": [{"name": product, "status": "vulnerable", "fixed_in": "3.0"}],
            })).await?;
            let at = midnight(day + Duration::days(14)) + Duration::hours(2);
            api.post(
                &c1,
                &format!("/api/v1/cases/{key}/date"),
                json!({"publish_at": at.to_rfc3339(), "tz": "Asia/Tokyo"}),
            )
            .await?;
            api.post(
                &vendor_token,
                &format!("/api/v1/cases/{key}/date/answer"),
                json!({"accept": true}),
            )
            .await?;
            api.post(&c1, &format!("/api/v1/cases/{key}/publication"), json!({}))
                .await?;
            cases.push((key, day + Duration::days(14)));
        }

        // Incident reports: by mail (Japanese and English) and by the web form.
        // Spread evenly: the days' shares add up to exactly `reports`.
        let today_share = reports as i64 * (d + 1) / days - reports as i64 * d / days;
        for _ in 0..today_share {
            let who = REPORTERS[weighted(&mut rng, &weights)];
            reporter_index += 1;
            let ja = who.2 || rng.below(10) == 0;
            let when = store.now() - Duration::hours(rng.below(20) as i64);
            let (subject, body, _) = report_text(&mut rng, ja, when);
            let out = if reporter_index.is_multiple_of(3) {
                // The public web form, as a reporter's browser sends it.
                let page = api
                    .http
                    .get(format!("{}/report", api.base))
                    .send()
                    .await?
                    .text()
                    .await?;
                let csrf = csrf_of(&page).context("the report form has a CSRF field")?;
                let r = api
                    .http
                    .post(format!("{}/report", api.base))
                    .form(&[
                        ("site_org", who.1),
                        ("reporter_name", who.1),
                        ("reporter_email", who.0),
                        ("description", &format!("{subject}\n\n{body}")),
                        ("tlp", "TLP:AMBER"),
                        ("_csrf", &csrf),
                    ])
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("the report form answered {}", r.status());
                }
                seeded.by_form += 1;
                // The number the reporter is given on the thank-you page.
                let page = r.text().await?;
                let id: i64 = page
                    .split("id=\"tracking-number\">#")
                    .nth(1)
                    .and_then(|t| t.split('<').next())
                    .and_then(|n| n.parse().ok())
                    .context("the thank-you page names no tracking number")?;
                let v = api.get(&c1, &format!("/api/v1/reports/{id}")).await?;
                json!({"category": v["category"].as_str().or(v["proposed_category"].as_str()), "incidents": v["incidents"]})
            } else {
                let message_id = format!(
                    "<demo.{reporter_index}@{}>",
                    who.0.split('@').nth(1).unwrap_or("example")
                );
                let mail = format!(
                    "From: {} <{}>\r\nTo: incident@demo.renkei.example\r\nSubject: {}\r\nMessage-ID: {message_id}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
                    encode_words(who.1),
                    who.0,
                    encode_words(&subject),
                    when.to_rfc2822(),
                    body.replace('\n', "\r\n")
                );
                let r = api
                    .http
                    .post(format!("{}/api/v1/reports/import?format=mail", api.base))
                    .bearer_auth(&c1)
                    .body(mail)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("mail import answered {}", r.status());
                }
                seeded.by_mail += 1;
                r.json::<Value>().await?
            };
            seeded.reports += 1;
            let category = out["category"].as_str().unwrap_or("unknown").to_string();
            *seeded.by_category.entry(category).or_default() += 1;
            let tld = who.0.rsplit('.').next().unwrap_or("").to_string();
            *seeded.reporter_tlds.entry(tld).or_default() += 1;
            if let Some(ids) = out["incidents"].as_array() {
                pending_incidents.extend(
                    ids.iter()
                        .filter_map(|v| v.as_i64().or_else(|| v["id"].as_i64())),
                );
            }
        }

        // Each Friday the coordinators notify the sites behind the week's incidents.
        if day.weekday() == Weekday::Fri && !pending_incidents.is_empty() {
            clock.set(midnight(day) + Duration::hours(8));
            pending_incidents.sort();
            pending_incidents.dedup();
            let v = api
                .post(
                    &c1,
                    "/api/v1/notifications",
                    json!({"incidents": pending_incidents}),
                )
                .await?;
            seeded.notifications += v["sent"].as_array().map(|a| a.len() as i64).unwrap_or(0);
            pending_incidents.clear();
            // The demo's sites are at example domains and no relay is set: its mail
            // is recorded as delivered a few minutes later, and none leaves the
            // machine. The report counts a notification once its mail went out.
            clock.set(midnight(day) + Duration::hours(8) + Duration::minutes(5));
            renkei_mail::outbox::record_queued_as_delivered(&store).await?;
        }

        // Alerts: written by one coordinator, published by the other.
        for (at, ja, en, update) in alert_plan {
            if at == d {
                clock.set(midnight(day) + Duration::hours(3));
                let a = api.post(&c1, "/api/v1/alerts", json!({
                    "category": "vulnerability", "tlp": "TLP:CLEAR", "title_ja": ja, "title_en": en,
                    "body_ja": format!("## 概要\n\n{ja}。\n\n## 対策\n\n修正プログラムを**直ちに**適用してください。"),
                    "body_en": format!("## Summary\n\n{en}.\n\n## What to do\n\nApply the updates **now**."),
                })).await?;
                let n = a["number"].as_str().unwrap_or_default().to_string();
                api.post(&c1, &format!("/api/v1/alerts/{n}/submit"), json!({}))
                    .await?;
                api.post(&c2, &format!("/api/v1/alerts/{n}/publish"), json!({}))
                    .await?;
                seeded.alerts += 1;
                if let Some(u) = update {
                    alert_numbers.insert(u, n.clone());
                }
            }
        }
        if let Some(n) = alert_numbers.get(&d) {
            clock.set(midnight(day) + Duration::hours(4));
            api.put(&c1, &format!("/api/v1/alerts/{n}"), json!({
                "title_ja": "QuickTime の未修正の脆弱性に関する注意喚起", "title_en": "Alert on an unpatched QuickTime vulnerability",
                "body_ja": "## 概要\n\n修正版が公開されました。\n\n## 対策\n\n最新版へ更新してください。", "body_en": "## Summary\n\nA fixed version is out.\n\n## What to do\n\nUpdate to it.",
                "change_ja": "修正版の公開に伴い対策を更新", "change_en": "Updated now that a fix is out",
            })).await?;
            api.post(&c1, &format!("/api/v1/alerts/{n}/submit"), json!({}))
                .await?;
            api.post(&c2, &format!("/api/v1/alerts/{n}/publish"), json!({}))
                .await?;
            seeded.alerts += 1;
            seeded.alert_updates += 1;
        }

        // Early warning to a named operator, once.
        if d == 50 {
            clock.set(midnight(day) + Duration::hours(5));
            let org = api
                .post(
                    &c1,
                    "/api/v1/orgs",
                    json!({"name": "Demo Power Co.", "kind": "constituent", "country": "JP"}),
                )
                .await?;
            let org_id = org["id"].as_i64().unwrap_or_default();
            api.post(&c1, &format!("/api/v1/orgs/{org_id}/contacts"), json!({"name": "SOC", "email": "soc@power.example", "lang": "ja", "role": "security"})).await?;
            let a = api.post(&c1, "/api/v1/alerts", json!({
                "category": "incident", "tlp": "TLP:AMBER", "title_ja": "制御システムを狙った標的型攻撃の兆候", "title_en": "Signs of targeted attacks on control systems",
                "body_ja": "指標 (IoC) を共有します。", "body_en": "Indicators of compromise for the named operators.",
            })).await?;
            let n = a["number"].as_str().unwrap_or_default().to_string();
            api.post(
                &c1,
                &format!("/api/v1/alerts/{n}/recipients"),
                json!({"org_id": org_id}),
            )
            .await?;
            api.post(&c1, &format!("/api/v1/alerts/{n}/submit"), json!({}))
                .await?;
            api.post(&c2, &format!("/api/v1/alerts/{n}/publish"), json!({}))
                .await?;
            seeded.early_warnings += 1;
        }

        // The weekly report on its day: the week's alerts and notes, plus news.
        let today = day.to_string();
        if issue_days.contains(&today) {
            clock.set(midnight(day) + Duration::hours(6));
            let w = api
                .post(&c1, "/api/v1/weekly", json!({"issue_date": today}))
                .await?;
            let mut items: Vec<Value> = w["items"].as_array().cloned().unwrap_or_default();
            for k in 0..(3 + rng.below(5)) {
                items.push(json!({"kind": "news", "title_ja": format!("セキュリティ関連ニュース {k}"), "title_en": format!("Security news {k}"),
                    "summary_ja": "ベンダーが修正版を公開しました。", "summary_en": "A vendor released fixes.", "url": format!("https://news.example/{today}/{k}")}));
            }
            api.put(&c1, &format!("/api/v1/weekly/{today}"), json!({
                "items": items, "memo_title_ja": "ひとくちメモ", "memo_title_en": "One-point memo",
                "memo_ja": "パスワードは使い回さないようにしましょう。", "memo_en": "Do not reuse passwords.",
            })).await?;
            api.post(&c1, &format!("/api/v1/weekly/{today}/publish"), json!({}))
                .await?;
            seeded.weekly_issues += 1;
            seeded.weekly_items += items.len() as i64;
        }

        // What the sensors saw that day, sent by the sensors' own code.
        for (k, (name, spool, token)) in sensors.iter().enumerate() {
            let buckets = observation_day(&mut rng, day, d, days, k);
            spool.store(name, &buckets)?;
            let sent = Collector::new(&api.base, token).send(spool).await?;
            seeded.batches += sent.accepted as i64;
        }
        if d % 7 == 6 || d == days - 1 {
            renkei_observe::collector::roll_up(&store, &observe).await?;
        }
        if d == 40 {
            api.post(&c1, "/api/v1/observation/annotations", json!({
                "proto": "tcp", "port": 2967, "day": today,
                "text_ja": "Symantec 製品の脆弱性を狙ったとみられるスキャンが増加", "text_en": "Scans believed to target a Symantec product vulnerability are rising",
                "cve": "CVE-2006-2630",
            })).await?;
        }
    }
    clock.set(midnight(quarter.end()) - Duration::hours(1));
    // The quarter's topics, as a coordinator writes them before generating the report.
    let topics = json!({"topics": [
        {"title_ja": "国際会議でのワークショップ", "title_en": "A workshop at an international conference",
         "body_ja": "国連主催の国際会議において、当センターの職員がセキュリティワークショップのモデレータを務め、インシデント対応機能の構築における**課題と解決策**について議論しました。",
         "body_en": "A member of our staff moderated a security workshop at a UN-hosted conference on the **challenges and solutions** in building incident response capabilities."},
        {"title_ja": "重要インフラ事業者向け説明会", "title_en": "A briefing for critical infrastructure operators",
         "body_ja": "重要インフラ事業者向けに、脆弱性情報の受け取り方と早期警戒情報の活用について説明会を開催しました。",
         "body_en": "We held a briefing for critical infrastructure operators on receiving vulnerability information and using early-warning information."},
    ]});
    let written = api
        .put(&c1, &format!("/api/v1/activity/{quarter}/topics"), topics)
        .await?;
    seeded.topics = written["topics"].as_array().map_or(0, |t| t.len() as i64);
    renkei_observe::collector::roll_up(&store, &observe).await?;
    renkei_observe::trends::run_due(&store, &observe, &quarter.last_day().to_string()).await?;
    seeded.vendors_registered = vendors.len() as i64;
    seeded.notes_published = cases.iter().filter(|(_, at)| *at < quarter.end()).count() as i64;
    let quarter_end = time::format(midnight(quarter.end()));
    seeded.incidents =
        renkei_incident::stats::statistics(&store, &time::format(midnight(first)), &quarter_end)
            .await?
            .incidents;
    running.stop().await;
    Ok(seeded)
}

/// A vendor user for the company, with a token (created once per vendor).
/// Reports by mail through an earlier quarter, spread over its days, and the
/// Friday notifications they lead to (recorded as delivered, as in the main
/// quarter): what the report compares the seeded quarter with.
#[allow(clippy::too_many_arguments)]
async fn earlier_reports(
    api: &Client,
    token: &str,
    clock: &time::Clock,
    store: &renkei_core::Store,
    rng: &mut Rng,
    weights: &[(usize, u64)],
    quarter: Quarter,
    reports: usize,
) -> anyhow::Result<i64> {
    let first = quarter.first_day();
    let days = (quarter.end() - first).num_days();
    let mut pending: Vec<i64> = Vec::new();
    let mut seeded = 0;
    for d in 0..days {
        let day = first + Duration::days(d);
        clock.set(midnight(day) + Duration::hours(1));
        let share = reports as i64 * (d + 1) / days - reports as i64 * d / days;
        for i in 0..share {
            let who = REPORTERS[weighted(rng, weights)];
            let ja = who.2 || rng.below(10) == 0;
            let when = store.now() - Duration::hours(rng.below(20) as i64);
            let (subject, body, _) = report_text(rng, ja, when);
            let mail = format!(
                "From: {} <{}>\r\nTo: incident@demo.renkei.example\r\nSubject: {}\r\nMessage-ID: <demo.{quarter}.{d}.{i}@{}>\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
                encode_words(who.1),
                who.0,
                encode_words(&subject),
                who.0.split('@').nth(1).unwrap_or("example"),
                when.to_rfc2822(),
                body.replace('\n', "\r\n")
            );
            let r = api
                .http
                .post(format!("{}/api/v1/reports/import?format=mail", api.base))
                .bearer_auth(token)
                .body(mail)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("mail import answered {}", r.status());
            }
            let out = r.json::<Value>().await?;
            seeded += 1;
            if let Some(ids) = out["incidents"].as_array() {
                pending.extend(
                    ids.iter()
                        .filter_map(|v| v.as_i64().or_else(|| v["id"].as_i64())),
                );
            }
        }
        if day.weekday() == Weekday::Fri && !pending.is_empty() {
            clock.set(midnight(day) + Duration::hours(8));
            pending.sort();
            pending.dedup();
            api.post(
                token,
                "/api/v1/notifications",
                json!({"incidents": pending}),
            )
            .await?;
            pending.clear();
            clock.set(midnight(day) + Duration::hours(8) + Duration::minutes(5));
            renkei_mail::outbox::record_queued_as_delivered(store).await?;
        }
    }
    Ok(seeded)
}

async fn vendor_user(
    store: &renkei_core::Store,
    vendor: i64,
    company: &str,
) -> anyhow::Result<String> {
    let org = renkei_vuln::vendors::get(store, vendor)
        .await?
        .vendor
        .org_id;
    let email = format!(
        "psirt-user@{}.example",
        company.to_lowercase().replace(' ', "")
    );
    let id = match accounts::find_user_by_email(store, &email).await? {
        Some(user) => user.id,
        None => {
            accounts::create_user(
                store,
                &Actor::system("demo seed"),
                NewUser {
                    email,
                    display_name: format!("{company} PSIRT"),
                    role: Role::Vendor,
                    org_id: Some(org),
                    password: Some(renkei_core::secrets::readable_password()),
                    lang: Lang::En,
                },
            )
            .await?
            .id
        }
    };
    Ok(
        accounts::create_token(store, &Actor::system("demo seed"), id, "demo seed")
            .await?
            .1,
    )
}

/// RFC 2047 encoded words for header text that is not ASCII.
fn encode_words(s: &str) -> String {
    use base64::Engine;
    if s.is_ascii() {
        return s.to_string();
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

/// One sensor's day: the usual ports, TCP 2967 rising from the quarter's middle,
/// TCP 5168 calming after its first weeks, and ICMP echo requests.
fn observation_day(
    rng: &mut Rng,
    day: NaiveDate,
    d: i64,
    days: i64,
    sensor: usize,
) -> Vec<renkei_observe::aggregate::Bucket> {
    let start = midnight(day).timestamp();
    let mut agg = Aggregator::new(3600);
    let scale = [1.0, 0.8, 0.6][sensor % 3];
    let half = days / 2;
    let mut profile: Vec<(Proto, u16, Class, u64)> = vec![
        (Proto::Tcp, 445, Class::Scan, 900),
        (Proto::Tcp, 139, Class::Scan, 600),
        (Proto::Tcp, 135, Class::Scan, 450),
        (Proto::Tcp, 80, Class::Scan, 300),
        (Proto::Tcp, 22, Class::Scan, 220),
        (Proto::Tcp, 1433, Class::Scan, 160),
        (Proto::Tcp, 4899, Class::Scan, 120),
        (Proto::Tcp, 5900, Class::Scan, 110),
        (Proto::Tcp, 3389, Class::Scan, 90),
        (Proto::Tcp, 1025, Class::Scan, 80),
        (Proto::Udp, 1434, Class::Scan, 70),
        (Proto::Icmp, 8, Class::Scan, 500),
    ];
    if d >= half {
        profile.push((Proto::Tcp, 2967, Class::Scan, 40 + 25 * (d - half) as u64));
    } else {
        profile.push((Proto::Tcp, 2967, Class::Scan, 30));
    }
    profile.push((
        Proto::Tcp,
        5168,
        Class::Scan,
        if d < 20 { 400 - 15 * d as u64 } else { 20 },
    ));
    for (proto, port, class, base) in profile {
        let n = ((base as f64) * scale * (0.85 + (rng.below(30) as f64) / 100.0)) as u64;
        let sources = (n / 6).max(1);
        for i in 0..n {
            let src = 0xCB00_7101u32 + rng.below(sources.min(254)) as u32;
            agg.packet(
                start + (i as i64 * 86_000) / n.max(1) as i64,
                Some(renkei_formats::packet::Probe {
                    src: u128::from(std::net::Ipv4Addr::from(src).to_ipv6_mapped()),
                    proto,
                    port,
                    class,
                }),
            );
        }
    }
    agg.finish()
}
