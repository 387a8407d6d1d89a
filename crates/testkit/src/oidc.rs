//! A real OpenID Connect provider for the sign-in tests: panva's oidc-provider on
//! Node.js (`oidc/provider.mjs`), on a port of its own on 127.0.0.1. `.ci/run`
//! installs the npm package; without it a test is skipped locally and fails in CI.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Where `.ci/run` installs the npm package (override with RENKEI_OIDC_PROVIDER_DIR).
pub fn provider_dir() -> PathBuf {
    std::env::var("RENKEI_OIDC_PROVIDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/renkei-oidc-provider")
        })
}

/// The running provider; stopped when dropped.
pub struct Provider {
    pub issuer: String,
    child: Child,
}

impl Provider {
    pub const CLIENT_ID: &'static str = "renkei";
    pub const CLIENT_SECRET: &'static str = "renkei-test-secret";

    /// Starts the provider and returns its issuer, before it knows where to send
    /// people back: call [`Provider::serve`] with the redirect address then.
    pub fn start() -> Option<Provider> {
        let dir = provider_dir();
        if !dir.join("node_modules/oidc-provider").exists() {
            let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !in_ci,
                "CI is set but oidc-provider is missing in {}",
                dir.display()
            );
            eprintln!(
                "skipped: oidc-provider is not installed in {}",
                dir.display()
            );
            return None;
        }
        let script = dir.join("renkei-provider.mjs");
        std::fs::write(&script, include_str!("../oidc/provider.mjs"))
            .expect("write the provider script");
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line)
            .expect("the provider prints its port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .expect("port N")
            .to_string();
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Some(Provider {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
        })
    }

    /// Tells the provider the relying party's redirect address and waits until it
    /// answers discovery.
    pub async fn serve(&mut self, redirect: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{redirect}").expect("tell the provider");
        stdin.flush().unwrap();
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        for _ in 0..100 {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the OpenID Connect provider did not come up at {url}");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
