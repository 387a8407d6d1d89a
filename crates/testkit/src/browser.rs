//! A real headless Chromium, driven over the W3C WebDriver protocol through
//! chromedriver. Enough of the protocol for the web UI's key flows: open a page, fill
//! fields, click, read text, take a screenshot.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    driver: String,
    session: String,
    child: Child,
    _profile: tempfile::TempDir,
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Without them installed the test is
    /// skipped on a developer's machine, but fails under CI (where `.ci/run` installs
    /// them), so a missing browser can never pass silently there.
    pub async fn launch() -> Option<Browser> {
        let driver_bin = program("RENKEI_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("RENKEI_CHROMIUM", "/usr/bin/chromium");
        if !Path::new(&driver_bin).exists() || !Path::new(&chromium).exists() {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "CI is set but {driver_bin} or {chromium} is missing: .ci/run should install chromium and chromium-driver"
            );
            eprintln!(
                "chromium/chromedriver not installed: browser test skipped (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        // A free port is only free until someone else takes it: a chromedriver that
        // cannot listen never answers, and another port is tried.
        let http = reqwest::Client::new();
        let mut started = None;
        for _ in 0..3 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
                l.local_addr().expect("port").port()
            };
            let mut child = Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let driver = format!("http://127.0.0.1:{port}");
            let mut ready = false;
            for _ in 0..100 {
                if let Ok(r) = http.get(format!("{driver}/status")).send().await
                    && let Ok(v) = r.json::<Value>().await
                    && v["value"]["ready"] == json!(true)
                {
                    ready = true;
                    break;
                }
                if child.try_wait().is_ok_and(|s| s.is_some()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if ready {
                started = Some((driver, child));
                break;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let (driver, child) =
            started.expect("chromedriver did not become ready on any of three ports");
        let profile = tempfile::tempdir().expect("profile dir");
        // A destructive button asks before it acts (`confirm`); the tests answer yes,
        // as the person who clicked it would.
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "accept",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display())
                ]
            }
        }}});
        let v: Value = http
            .post(format!("{driver}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Some(Browser {
            http,
            driver,
            session,
            child,
            _profile: profile,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.driver, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .expect("webdriver call")
            .json()
            .await
            .expect("webdriver json");
        if let Some(err) = v["value"].get("error") {
            panic!("WebDriver {path}: {err}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    /// Adds a virtual security key to the browser (the WebDriver WebAuthn
    /// extension): CTAP2 over USB, which consents to every request, as a person
    /// touching the key would. Returns its ID.
    pub async fn add_security_key(&self) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/webauthn/authenticator",
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true
                })),
            )
            .await;
        v.as_str()
            .unwrap_or_else(|| panic!("no authenticator ID: {v}"))
            .to_string()
    }

    /// The credentials a virtual security key holds (`credentialId`, `rpId`,
    /// `signCount`, …).
    pub async fn security_key_credentials(&self, key: &str) -> Vec<Value> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/webauthn/authenticator/{key}/credentials"),
                None,
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Takes a virtual security key out of the browser.
    pub async fn remove_security_key(&self, key: &str) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/webauthn/authenticator/{key}"),
            None,
        )
        .await;
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs a script in the page and returns its value (to ask what only the
    /// browser knows, such as whether an image was drawn).
    pub async fn script(&self, js: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    pub async fn exists(&self, css: &str) -> bool {
        let url = format!("{}/session/{}/elements", self.driver, self.session);
        let v: Value = self
            .http
            .post(url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .expect("find elements")
            .json()
            .await
            .expect("json");
        v["value"].as_array().is_some_and(|a| !a.is_empty())
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Clicks the element if the page has it when asked; a page that navigates away
    /// meanwhile (a form that submits itself, a redirect) is no failure. Returns
    /// whether it clicked.
    pub async fn click_if_present(&self, css: &str) -> bool {
        let find = format!("{}/session/{}/element", self.driver, self.session);
        let found: Value = self
            .http
            .post(find)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .expect("find element")
            .json()
            .await
            .expect("json");
        let Some(id) = found["value"][ELEMENT_KEY].as_str() else {
            return false;
        };
        let click = format!(
            "{}/session/{}/element/{id}/click",
            self.driver, self.session
        );
        let clicked: Value = self
            .http
            .post(click)
            .json(&json!({}))
            .send()
            .await
            .expect("click")
            .json()
            .await
            .expect("json");
        clicked["value"].get("error").is_none()
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits up to ten seconds for the page to show `expected` in `css`: form posts
    /// navigate after the click has returned.
    pub async fn wait_text(&self, css: &str, expected: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if self.exists(css).await {
                let url = format!("{}/session/{}/elements", self.driver, self.session);
                let found: Value = self
                    .http
                    .post(url)
                    .json(&json!({"using": "css selector", "value": css}))
                    .send()
                    .await
                    .expect("find")
                    .json()
                    .await
                    .expect("json");
                if let Some(id) = found["value"][0][ELEMENT_KEY].as_str() {
                    let url = format!("{}/session/{}/element/{id}/text", self.driver, self.session);
                    if let Ok(r) = self.http.get(url).send().await
                        && let Ok(v) = r.json::<Value>().await
                        && let Some(text) = v["value"].as_str()
                    {
                        last = text.to_string();
                        if last.contains(expected) {
                            return last;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{css} never showed {expected:?} (last seen {last:?}) at {}",
            self.current_url().await
        );
    }

    /// Waits up to ten seconds for the address to contain `part`.
    pub async fn wait_url(&self, part: &str) -> String {
        for _ in 0..100 {
            let url = self.current_url().await;
            if url.contains(part) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "never reached an address containing {part:?}; at {}",
            self.current_url().await
        );
    }

    /// Presses keys one after another on whatever has the focus, as a person at the
    /// keyboard does (W3C actions: real key events, not ones a script made).
    pub async fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": k.to_string()}));
            actions.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
    }

    pub async fn screenshot(&self, path: &Path) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::write(path, png).expect("write screenshot");
    }

    pub async fn quit(mut self) {
        let url = format!("{}/session/{}", self.driver, self.session);
        let _ = self.http.delete(url).send().await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
