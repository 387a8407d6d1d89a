//! A real SMTP relay on loopback (aiosmtpd, from PyPI) that keeps every message it is
//! given, byte for byte, for tests to read back.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Relay {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

/// One message as the relay got it.
#[derive(Debug, Clone)]
pub struct Kept {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

impl Relay {
    /// Starts the relay; `None` (the test is skipped) when Python's aiosmtpd is not
    /// installed, except under CI, where `.ci/run` installs it and its absence fails.
    pub fn start() -> Option<Relay> {
        let have = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "CI is set but python3 -m aiosmtpd is missing: .ci/run should pip install aiosmtpd"
            );
            eprintln!("skipped: aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("relay directory");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("relay.py");
        // A free port is only free until someone else takes it: a relay that cannot
        // listen says nothing and exits, and another port is tried.
        let mut started = None;
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new("python3")
                .arg(&script)
                .arg(port.to_string())
                .arg(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the relay");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("relay stdout"))
                .read_line(&mut line)
                .expect("relay output");
            if line.trim() == "ready" {
                started = Some((port, child));
                break;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let (port, child) = started.expect("the relay did not start on any of five ports");
        Some(Relay {
            addr: format!("127.0.0.1:{port}"),
            dir,
            child,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<Kept> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names
            .into_iter()
            .map(|p| {
                let envelope: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(p.with_extension("json")).expect("envelope"),
                )
                .expect("envelope json");
                Kept {
                    mail_from: envelope["mail_from"].as_str().unwrap_or("").to_string(),
                    rcpt_to: envelope["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    data: std::fs::read(&p).expect("message"),
                }
            })
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The part signed by a multipart/signed entity, and its armored signature
/// (RFC 3156), for checking a PGP/MIME signature.
pub fn signed_content(entity: &[u8]) -> (Vec<u8>, String) {
    let text = String::from_utf8_lossy(entity).into_owned();
    let at = text.find("multipart/signed").expect("multipart/signed");
    let b = text[at..].find("boundary=\"").expect("boundary") + at + "boundary=\"".len();
    let boundary = &text[b..b + text[b..].find('"').expect("boundary end")];
    let open = format!("--{boundary}\r\n");
    let start = text.find(&open).expect("first part") + open.len();
    let end = start
        + text[start..]
            .find(&format!("\r\n--{boundary}"))
            .expect("part end");
    let sig_start = text
        .find("-----BEGIN PGP SIGNATURE-----")
        .expect("signature");
    let sig_end = text
        .find("-----END PGP SIGNATURE-----")
        .expect("signature end")
        + "-----END PGP SIGNATURE-----".len();
    (
        entity[start..end].to_vec(),
        text[sig_start..sig_end].to_string(),
    )
}

/// Hands one message to an SMTP server (the intake) the way a mail server does;
/// returns the server's last reply line.
pub async fn send_mail(addr: &str, rcpt: &str, message: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (r, mut w) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    let mut r = BufReader::new(r);
    let mut last = String::new();
    for step in [
        "",
        "EHLO mx.example.jp",
        "MAIL FROM:<reporter@example.jp>",
        &format!("RCPT TO:<{rcpt}>"),
        "DATA",
    ] {
        if !step.is_empty() {
            w.write_all(format!("{step}\r\n").as_bytes()).await.unwrap();
        }
        loop {
            last.clear();
            r.read_line(&mut last).await.unwrap();
            if last.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        if last.starts_with('5') {
            return last;
        }
    }
    w.write_all(format!("{message}\r\n.\r\n").as_bytes())
        .await
        .unwrap();
    last.clear();
    r.read_line(&mut last).await.unwrap();
    w.write_all(b"QUIT\r\n").await.unwrap();
    last
}
