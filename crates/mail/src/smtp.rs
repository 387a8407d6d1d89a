//! A small SMTP server (RFC 5321) that accepts mail for a fixed set of intake
//! addresses and hands each message, exactly as received, to a [`Sink`].
//!
//! It speaks what mail clients and relays need to deliver to it: EHLO/HELO, MAIL
//! (with SIZE), RCPT, DATA with dot-unstuffing, RSET, NOOP, VRFY (252), QUIT. Unknown
//! recipients are refused at RCPT, oversized messages at MAIL (declared SIZE) or after
//! DATA. The sink decides whether a message is taken (250) or should be retried
//! (451), so a store that is briefly down never loses mail.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The name the server greets with.
    pub hostname: String,
    /// Accepted recipients, lowercase.
    pub addresses: Vec<String>,
    pub max_message_bytes: usize,
    /// How long a client may stay silent.
    pub idle_timeout: Duration,
    /// How long conversations in progress may go on once the server stops.
    pub grace: Duration,
}

/// The SMTP envelope of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub peer: String,
    pub helo: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

/// Why a sink did not take a message; the client is told to try again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

pub type Delivery = Pin<Box<dyn Future<Output = Result<String, Rejected>> + Send>>;

/// Where accepted messages go. Returns a reference for the 250 reply ("report #42").
pub type Sink = Arc<dyn Fn(Envelope, Vec<u8>) -> Delivery + Send + Sync>;

pub struct SmtpServer {
    config: Arc<SmtpConfig>,
    sink: Sink,
}

const MAX_LINE: usize = 4096;
const MAX_RECIPIENTS: usize = 100;

impl SmtpServer {
    pub fn build(config: SmtpConfig, sink: Sink) -> SmtpServer {
        let mut config = config;
        config.addresses = config
            .addresses
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect();
        SmtpServer {
            config: Arc::new(config),
            sink,
        }
    }

    /// Accepts connections until `shutdown` resolves, then lets the conversations in
    /// progress finish for up to `grace` and cuts the rest (their messages were not
    /// accepted, so their clients send them again).
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        let mut sessions = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    drop(listener);
                    let finished = async { while sessions.join_next().await.is_some() {} };
                    if tokio::time::timeout(self.config.grace, finished).await.is_err() {
                        sessions.abort_all();
                    }
                    return Ok(());
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "smtp accept failed");
                            continue;
                        }
                    };
                    let conversation = self.converse(stream, peer.to_string());
                    sessions.spawn(async move {
                        if let Err(e) = conversation.await {
                            tracing::debug!(%peer, error = %e, "smtp session ended");
                        }
                    });
                }
            }
        }
    }
}

impl SmtpServer {
    /// Holds one SMTP conversation over `stream`: a client's TCP connection, or any
    /// byte stream (the fuzz target speaks to it through an in-memory pipe).
    pub fn converse<S>(
        &self,
        stream: S,
        peer: String,
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        session(stream, peer, self.config.clone(), self.sink.clone())
    }
}

/// The address inside `<…>` after a `FROM:` or `TO:` keyword, and what follows it.
fn path_arg(arg: &str, keyword: &str) -> Option<(String, String)> {
    let rest = arg
        .get(..keyword.len())
        .filter(|k| k.eq_ignore_ascii_case(keyword))
        .map(|_| &arg[keyword.len()..])?;
    let rest = rest.trim_start();
    let open = rest.find('<')?;
    let close = rest[open..].find('>')? + open;
    Some((
        rest[open + 1..close].trim().to_lowercase(),
        rest[close + 1..].trim().to_string(),
    ))
}

async fn session<S>(
    stream: S,
    peer: String,
    config: Arc<SmtpConfig>,
    sink: Sink,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    let reply = |w: &str| format!("{w}\r\n");
    write
        .write_all(reply(&format!("220 {} Renkei ESMTP ready", config.hostname)).as_bytes())
        .await?;
    let mut envelope = Envelope {
        peer: peer.clone(),
        helo: String::new(),
        mail_from: String::new(),
        rcpt_to: Vec::new(),
    };
    let mut in_transaction = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match tokio::time::timeout(
            config.idle_timeout,
            read_line(&mut reader, &mut line, MAX_LINE + 1),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                write
                    .write_all(b"421 4.4.2 idle too long, closing\r\n")
                    .await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            write.write_all(b"500 5.5.2 line too long\r\n").await?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let answer = match verb.as_str() {
            "EHLO" | "HELO" if arg.is_empty() => "501 5.5.4 say who you are".to_string(),
            "EHLO" => {
                envelope.helo = arg.to_string();
                in_transaction = false;
                format!(
                    "250-{} greets {}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250 SMTPUTF8",
                    config.hostname, arg, config.max_message_bytes
                )
            }
            "HELO" => {
                envelope.helo = arg.to_string();
                in_transaction = false;
                format!("250 {}", config.hostname)
            }
            "MAIL" if envelope.helo.is_empty() => "503 5.5.1 EHLO first".into(),
            "MAIL" => match path_arg(arg, "FROM:") {
                None => "501 5.5.4 syntax: MAIL FROM:<address>".into(),
                Some((from, params)) => {
                    let declared = params
                        .split_whitespace()
                        .find_map(|p| {
                            p.get(..5)
                                .filter(|k| k.eq_ignore_ascii_case("SIZE="))
                                .and(p.get(5..))
                        })
                        .and_then(|s| s.parse::<usize>().ok());
                    if declared.is_some_and(|s| s > config.max_message_bytes) {
                        "552 5.3.4 message too big".into()
                    } else {
                        envelope.mail_from = from;
                        envelope.rcpt_to.clear();
                        in_transaction = true;
                        "250 2.1.0 sender ok".into()
                    }
                }
            },
            "RCPT" if !in_transaction => "503 5.5.1 MAIL first".into(),
            "RCPT" => match path_arg(arg, "TO:") {
                None => "501 5.5.4 syntax: RCPT TO:<address>".into(),
                Some((to, _)) if !config.addresses.contains(&to) => {
                    "550 5.1.1 no such intake address here".into()
                }
                Some(_) if envelope.rcpt_to.len() >= MAX_RECIPIENTS => {
                    "452 4.5.3 too many recipients".into()
                }
                Some((to, _)) => {
                    envelope.rcpt_to.push(to);
                    "250 2.1.5 recipient ok".into()
                }
            },
            "DATA" if !in_transaction || envelope.rcpt_to.is_empty() => {
                "503 5.5.1 RCPT first".into()
            }
            "DATA" => {
                write
                    .write_all(b"354 end data with <CRLF>.<CRLF>\r\n")
                    .await?;
                let data = read_data(&mut reader, &config).await?;
                in_transaction = false;
                match data {
                    None => "552 5.3.4 message too big".into(),
                    Some(message) => match (sink)(envelope.clone(), message).await {
                        Ok(reference) => format!("250 2.0.0 accepted as {reference}"),
                        Err(Rejected(why)) => {
                            tracing::warn!(%peer, reason = %why, "smtp intake deferred a message");
                            "451 4.3.0 cannot store the message now; try again later".into()
                        }
                    },
                }
            }
            "RSET" => {
                in_transaction = false;
                envelope.rcpt_to.clear();
                "250 2.0.0 reset".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "VRFY" => "252 2.5.2 cannot verify, but will accept mail for intake addresses".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            "STARTTLS" | "AUTH" => {
                "502 5.5.1 not offered here; use a relay or `renkei mailgate` for TLS".into()
            }
            _ => "502 5.5.2 command not recognized".into(),
        };
        write.write_all(reply(&answer).as_bytes()).await?;
    }
}

/// Reads one line, ending at LF, keeping at most `cap` bytes of it (the rest is read
/// and dropped, so a line without end cannot exhaust memory).
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

/// The message after DATA, dot-unstuffed; None when it is larger than allowed (it is
/// read to its end all the same, so the session can go on).
async fn read_data<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    config: &SmtpConfig,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut message = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(
            config.idle_timeout,
            read_line(reader, &mut line, config.max_message_bytes + 3),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "DATA timed out"))??;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(if too_big { None } else { Some(message) });
        }
        let content = if line.first() == Some(&b'.') {
            &line[1..]
        } else {
            &line[..]
        };
        if n > line.len() || message.len() + content.len() > config.max_message_bytes {
            too_big = true;
            message.clear();
        }
        if !too_big {
            message.extend_from_slice(content);
        }
    }
}
