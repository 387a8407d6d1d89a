//! A NATS JetStream server of the test's own: `nats-server -js` on a port it picks
//! itself (`-p -1`, read back from its log), with its store in a temporary
//! directory, stopped when the test ends. No fixed port, nothing shared between
//! tests or with the machine's own NATS.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nats {
    url: String,
    child: Child,
    _store: tempfile::TempDir,
}

impl Nats {
    /// Starts one. Without `nats-server` installed the test is skipped on a
    /// developer's machine but fails under CI, where `.ci/run` installs it.
    pub fn start() -> Option<Nats> {
        let program = std::env::var("RENKEI_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let found = Command::new(&program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "CI is set but nats-server is missing: .ci/run should install it"
            );
            eprintln!("nats-server is not installed: skipped (apt-get install nats-server)");
            return None;
        }
        let store = tempfile::tempdir().expect("JetStream store directory");
        let mut child = Command::new(&program)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server starts");
        let stderr = child.stderr.take().expect("nats-server log");
        let (tx, rx) = std::sync::mpsc::channel();
        // The log goes on being read (and dropped) so that the server never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Listening for client connections on ") {
                    let addr = line[at + "Listening for client connections on ".len()..].trim();
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let started = Instant::now();
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server did not say where it listens"
            );
            assert!(
                child.try_wait().ok().flatten().is_none(),
                "nats-server stopped"
            );
        };
        Some(Nats {
            url: format!("nats://{addr}"),
            child,
            _store: store,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
