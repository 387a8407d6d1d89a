//! The SMTP listener spoken to as a mail server would: greeting, envelope checks,
//! dot-unstuffing, size limits, and a sink that cannot take a message now.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use renkei_mail::{Envelope, Rejected, Sink, SmtpConfig, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type Received = Arc<Mutex<Vec<(Envelope, Vec<u8>)>>>;

async fn start(max: usize, fail: bool) -> (String, Received, tokio::sync::oneshot::Sender<()>) {
    let received: Received = Arc::default();
    let store = received.clone();
    let sink: Sink = Arc::new(move |env, data| {
        let store = store.clone();
        Box::pin(async move {
            if fail {
                return Err(Rejected("database down".into()));
            }
            let mut all = store.lock().unwrap();
            all.push((env, data));
            Ok(format!("report #{}", all.len()))
        })
    });
    let server = SmtpServer::build(
        SmtpConfig {
            hostname: "renkei.test".into(),
            addresses: vec!["Incident@CSIRT.example".into()],
            max_message_bytes: max,
            idle_timeout: Duration::from_secs(5),
            grace: std::time::Duration::from_secs(1),
        },
        sink,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        server
            .run(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap()
    });
    (addr, received, tx)
}

struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: &str) -> (Client, String) {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut c = Client {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// The whole reply, multi-line replies joined.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    async fn send(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }
}

#[tokio::test]
async fn a_message_to_an_intake_address_is_handed_over_exactly_as_sent() {
    let (addr, received, _stop) = start(1 << 20, false).await;
    let (mut c, greeting) = Client::connect(&addr).await;
    assert!(greeting.starts_with("220 renkei.test"));
    let ehlo = c.send("EHLO relay.example").await;
    assert!(
        ehlo.contains("250-SIZE 1048576") && ehlo.ends_with("250 SMTPUTF8\r\n"),
        "{ehlo}"
    );
    assert!(
        c.send("MAIL FROM:<reporter@example.jp>")
            .await
            .starts_with("250")
    );
    assert!(
        c.send("RCPT TO:<someone-else@csirt.example>")
            .await
            .starts_with("550"),
        "unknown recipients are refused"
    );
    assert!(
        c.send("RCPT TO:<incident@csirt.example>")
            .await
            .starts_with("250")
    );
    assert!(c.send("DATA").await.starts_with("354"));
    c.raw(b"Subject: test\r\n\r\nline one\r\n..a line starting with a dot\r\n.\r\n")
        .await;
    let done = c.reply().await;
    assert!(
        done.starts_with("250") && done.contains("report #1"),
        "{done}"
    );
    assert!(c.send("QUIT").await.starts_with("221"));
    let all = received.lock().unwrap();
    assert_eq!(
        all[0].1,
        b"Subject: test\r\n\r\nline one\r\n.a line starting with a dot\r\n"
    );
    assert_eq!(all[0].0.mail_from, "reporter@example.jp");
    assert_eq!(all[0].0.rcpt_to, vec!["incident@csirt.example"]);
    assert_eq!(all[0].0.helo, "relay.example");
}

#[tokio::test]
async fn commands_out_of_order_or_malformed_get_5xx_and_the_session_goes_on() {
    let (addr, received, _stop) = start(1 << 20, false).await;
    let (mut c, _) = Client::connect(&addr).await;
    assert!(
        c.send("MAIL FROM:<a@b.example>").await.starts_with("503"),
        "EHLO first"
    );
    assert!(c.send("HELO x").await.starts_with("250"));
    assert!(
        c.send("RCPT TO:<incident@csirt.example>")
            .await
            .starts_with("503"),
        "MAIL first"
    );
    assert!(c.send("DATA").await.starts_with("503"));
    assert!(c.send("MAIL FROM:no-brackets").await.starts_with("501"));
    assert!(c.send("WIBBLE").await.starts_with("502"));
    assert!(c.send("STARTTLS").await.starts_with("502"));
    let long = format!("NOOP {}", "x".repeat(10_000));
    assert!(c.send(&long).await.starts_with("500"));
    assert!(c.send("NOOP").await.starts_with("250"));
    assert!(c.send("VRFY incident").await.starts_with("252"));
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn oversized_messages_are_refused_whether_declared_or_not() {
    let (addr, received, _stop) = start(100, false).await;
    let (mut c, _) = Client::connect(&addr).await;
    c.send("EHLO x").await;
    assert!(
        c.send("MAIL FROM:<a@b.example> SIZE=5000")
            .await
            .starts_with("552")
    );
    assert!(c.send("MAIL FROM:<a@b.example>").await.starts_with("250"));
    c.send("RCPT TO:<incident@csirt.example>").await;
    c.send("DATA").await;
    c.raw(format!("Subject: big\r\n\r\n{}\r\n.\r\n", "y".repeat(500)).as_bytes())
        .await;
    assert!(c.reply().await.starts_with("552"));
    assert!(
        c.send("NOOP").await.starts_with("250"),
        "the session survives"
    );
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn when_the_sink_cannot_store_the_client_is_told_to_retry() {
    let (addr, _, _stop) = start(1 << 20, true).await;
    let (mut c, _) = Client::connect(&addr).await;
    c.send("EHLO x").await;
    c.send("MAIL FROM:<a@b.example>").await;
    c.send("RCPT TO:<incident@csirt.example>").await;
    c.send("DATA").await;
    c.raw(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
    assert!(
        c.reply().await.starts_with("451"),
        "a temporary failure, so nothing is lost"
    );
}
