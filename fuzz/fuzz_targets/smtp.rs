#![no_main]
//! The SMTP intake listener's conversation: any bytes a client sends (commands,
//! paths, SIZE parameters, DATA with dot-stuffing, lines without end) get answers
//! and never a panic. The session runs over an in-memory pipe.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use renkei_mail::{Rejected, SmtpConfig, SmtpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first byte says whether the store takes the message or defers it.
    let defer = data.first().is_some_and(|b| b & 1 == 1);
    let server = SmtpServer::build(
        SmtpConfig {
            hostname: "renkei.fuzz".into(),
            addresses: vec!["incident@csirt.example".into(), "Report@CSIRT.example".into()],
            max_message_bytes: 2048,
            idle_timeout: Duration::from_millis(200),
            grace: Duration::from_millis(200),
        },
        Arc::new(move |_envelope, message| {
            Box::pin(async move {
                assert!(message.len() <= 2048, "an oversized message reached the store");
                if defer {
                    Err(Rejected("store down".into()))
                } else {
                    Ok("report #1".into())
                }
            })
        }),
    );
    runtime().block_on(async {
        let (client, end) = tokio::io::duplex(16 * 1024);
        let conversation = server.converse(end, "198.51.100.1:2525".into());
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let send = async {
            let _ = to_server.write_all(data).await;
            let _ = to_server.shutdown().await;
        };
        let mut answers = Vec::new();
        let read = from_server.read_to_end(&mut answers);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let (_, _, _) = tokio::join!(conversation, send, read);
        })
        .await;
        // Every answer line is a three-digit reply code.
        for line in answers.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            assert!(line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit), "{:?}", String::from_utf8_lossy(line));
        }
    });
});
