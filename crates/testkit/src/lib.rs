//! Test support for Renkei's integration tests.
//!
//! [`TestServer`] starts the real server through the runtime the binary uses
//! (`renkei_web::Listeners::bind` and `Server::start`) on 127.0.0.1:0, against a
//! fresh SQLite file or a fresh PostgreSQL database created under
//! `RENKEI_TEST_POSTGRES_URL`.
//! [`both_backends!`] writes each test once and runs it on both.
//!
//! # Layout
//! - here: [`TestServer`], its users and tokens, and [`both_backends!`].
//! - `relay`, `nats`, `oidc`, `browser`: the real components the tests run beside
//!   the server (an SMTP relay, NATS JetStream, an OpenID Connect provider,
//!   Chromium).
//! - `validators`: the validators the world uses, run on what Renkei writes.

pub mod browser;
pub mod nats;
pub mod oidc;
pub mod relay;
pub mod validators;

use renkei_core::Store;
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::config::Config;
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, NewOrganization, OrgKind};
use sqlx::Connection;

pub use renkei_web::RouteSpec;

pub const POSTGRES_ENV: &str = "RENKEI_TEST_POSTGRES_URL";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each test body once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($srv:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $srv = $crate::TestServer::start($crate::Backend::Sqlite).await;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::postgres_configured() {
                        eprintln!("{} is not set: PostgreSQL run skipped", $crate::POSTGRES_ENV);
                        return;
                    }
                    let $srv = $crate::TestServer::start($crate::Backend::Postgres).await;
                    $body
                }
            )*
        }
    };
}

pub fn postgres_configured() -> bool {
    std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty())
}

/// A fresh database for one test: a file in a temporary directory, or a new
/// PostgreSQL database that is dropped again when the test ends.
pub struct FreshDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl FreshDatabase {
    pub async fn create(backend: Backend) -> FreshDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
                FreshDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_ENV).expect("RENKEI_TEST_POSTGRES_URL");
                let name = format!("renkei_test_{}", hex_suffix());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE");
                let _ = conn.close().await;
                let url = replace_database(&admin_url, &name);
                FreshDatabase {
                    url,
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                    conn.close().await.ok()
                })
            })
            .join();
        }
    }
}

fn hex_suffix() -> String {
    use rand::RngCore;
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub org_id: Option<i64>,
}

pub struct TestServer {
    pub base: String,
    pub store: Store,
    pub backend: Backend,
    pub routes: Vec<&'static RouteSpec>,
    pub setup_url: Option<String>,
    /// The SMTP intake listener's address, when the configuration asks for one.
    pub smtp: Option<String>,
    /// The server's enrichment tables: tests load tables, then `refresh` this.
    pub enricher: renkei_enrich::Enricher,
    /// The server's clock: `advance` it to move past an embargo.
    pub clock: renkei_core::time::Clock,
    observe: std::sync::Arc<renkei_observe::Settings>,
    lists: std::sync::Arc<renkei_publish::lists::Settings>,
    running: Option<renkei_web::Running>,
    // Last, so the database outlives the server that uses it.
    pub database: FreshDatabase,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with the default configuration changed by `tweak`.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let database = FreshDatabase::create(backend).await;
        let url = database.url.clone();
        Self::start_on(backend, database, &url, "127.0.0.1", tweak).await
    }

    /// Starts on a database made beforehand (by an earlier release's migrations,
    /// say): the server migrates it as `renkei serve` would.
    pub async fn start_on_database(
        backend: Backend,
        database: FreshDatabase,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let url = database.url.clone();
        Self::start_on(backend, database, &url, "127.0.0.1", tweak).await
    }

    /// Starts with `http://localhost:{port}` as its public address: a host name, as
    /// security keys need (browsers refuse WebAuthn on a bare IP address).
    pub async fn start_at_localhost(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let database = FreshDatabase::create(backend).await;
        let url = database.url.clone();
        Self::start_on(backend, database, &url, "localhost", tweak).await
    }

    /// Another node on this server's database, as a second `renkei serve` behind the
    /// same proxy would be.
    pub async fn another_node(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        // The first node owns the database: this one only uses it.
        let shared = FreshDatabase {
            url: self.database.url.clone(),
            _dir: None,
            postgres: None,
        };
        let url = shared.url.clone();
        Self::start_on(self.backend, shared, &url, "127.0.0.1", tweak).await
    }

    async fn start_on(
        backend: Backend,
        database: FreshDatabase,
        url: &str,
        host: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = Config::default();
        config.database.url = url.to_string();
        config.database.max_connections = 4;
        config.server.listen = "127.0.0.1:0".into();
        config.server.shutdown_grace_secs = 2;
        // The outbox and list senders run as in production, but look for work once
        // an hour (the outbox's first pass too): tests drive the passes themselves
        // (`OutboxWorker::send_due`, `deliver_lists`) so that their counts are exact.
        // A test of delivery in the background sets a short poll.
        config.mail.poll_secs = 3600;
        config.publish.list_poll_secs = 3600;
        tweak(&mut config);
        // The same wiring as `renkei serve`: every listener the configuration names,
        // every background part.
        let listeners = renkei_web::Listeners::bind(&config).await.expect("bind");
        let address = listeners.http_address().expect("address");
        let base = format!("http://{host}:{}", address.port());
        // A test may name the public address a reverse proxy would give (https);
        // otherwise people reach the server where it listens.
        if config.server.public_url.is_none() {
            config.server.public_url = Some(base.clone());
        }
        let server = renkei_web::build(config).await.expect("server builds");
        let store = server.store().clone();
        let routes = server.routes().to_vec();
        let setup_url = server.setup_url();
        let enricher = server.enricher().clone();
        let clock = server.clock().clone();
        let observe = server.observe_settings().clone();
        let lists = server.list_settings().clone();
        let running = server.start(listeners).expect("server starts");
        let smtp = running.addresses().smtp.map(|a| a.to_string());
        TestServer {
            base,
            store,
            backend,
            routes,
            setup_url,
            smtp,
            enricher,
            clock,
            observe,
            lists,
            running: Some(running),
            database,
        }
    }

    /// Delivers every queued mailing-list message through `mail.relay`, as the
    /// server's list sender does in the background; returns how many were claimed.
    pub async fn deliver_lists(&self) -> usize {
        let sender =
            renkei_publish::lists::ListSender::build(self.store.clone(), (*self.lists).clone());
        let relay = renkei_mail::RelayClient::new(&self.lists.relay, self.lists.connections)
            .expect("mail.relay");
        let mut total = 0;
        loop {
            let n = sender.pass(&relay).await.expect("list delivery pass");
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    /// Counts the sensor batches accepted so far into the observation views, as
    /// the server does right after each batch (in the background).
    pub async fn roll_up(&self) -> renkei_observe::collector::RollUp {
        renkei_observe::collector::roll_up(&self.store, &self.observe)
            .await
            .expect("roll-up")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server the way SIGTERM does and waits for every part of it to
    /// finish.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    pub async fn org(&self, name: &str, kind: OrgKind) -> i64 {
        orgs::create(
            &self.store,
            &Actor::system("test"),
            NewOrganization {
                name: name.into(),
                kind,
                country: Some("JP".into()),
                domain: None,
                notes: String::new(),
                topics: String::new(),
                region: String::new(),
            },
        )
        .await
        .expect("organization")
        .id
    }

    /// An account of `role` with the password [`PASSWORD`] (none for sensors);
    /// vendors and constituents get an organization of their own.
    pub async fn user(&self, role: Role) -> TestUser {
        let suffix = hex_suffix();
        let org_id = match role {
            Role::Vendor => Some(self.org(&format!("Vendor {suffix}"), OrgKind::Vendor).await),
            Role::Constituent => Some(
                self.org(&format!("Constituent {suffix}"), OrgKind::Constituent)
                    .await,
            ),
            _ => None,
        };
        let email = format!("{}-{suffix}@example.org", role.as_str());
        let user = accounts::create_user(
            &self.store,
            &Actor::system("test"),
            NewUser {
                email: email.clone(),
                display_name: format!("Test {}", role.as_str()),
                role,
                org_id,
                password: role.may_use_password().then(|| PASSWORD.to_string()),
                lang: Lang::En,
            },
        )
        .await
        .expect("user");
        TestUser {
            id: user.id,
            email,
            role,
            org_id,
        }
    }

    /// A session cookie value for `user`, without going through the login form.
    pub async fn session(&self, user: &TestUser) -> String {
        accounts::create_session(&self.store, user.id, 60, Default::default())
            .await
            .expect("session")
    }

    /// A session cookie value for `user` and the CSRF token bound to it, as the
    /// server would hand them to a browser that signed in.
    pub async fn session_with_csrf(&self, user: &TestUser) -> (String, String) {
        let session = self.session(user).await;
        let key = renkei_core::settings::secret(&self.store, "csrf_key")
            .await
            .expect("csrf key");
        let csrf = renkei_web::http::auth::issue_csrf(
            &key,
            &renkei_web::http::auth::csrf_binding(Some(&session)),
        );
        (session, csrf)
    }

    pub async fn token(&self, user: &TestUser) -> String {
        accounts::create_token(&self.store, &Actor::system("test"), user.id, "test")
            .await
            .expect("token")
            .1
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A client already signed in as `user` through the login form, with the CSRF
    /// token its pages carry.
    pub async fn signed_in(&self, user: &TestUser) -> SignedIn {
        let client = self.client();
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .unwrap();
        let csrf = csrf_from(&page).expect("login form has a CSRF field");
        let response = client
            .post(self.url("/login"))
            .form(&[
                ("email", user.email.as_str()),
                ("password", PASSWORD),
                ("_csrf", csrf.as_str()),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(
            response.status(),
            303,
            "login as {} should redirect",
            user.email
        );
        let page = client
            .get(self.url("/dashboard"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_from(&page).expect("dashboard carries a CSRF token");
        SignedIn { client, csrf }
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        renkei_core::audit::list(&self.store, None, 1000)
            .await
            .expect("audit")
            .into_iter()
            .rev()
            .map(|e| e.action)
            .collect()
    }
}

pub struct SignedIn {
    pub client: reqwest::Client,
    pub csrf: String,
}

/// The value of the first `_csrf` hidden field on a page.
pub fn csrf_from(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The value of a Set-Cookie header for `name`, with its attributes.
pub fn set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}
