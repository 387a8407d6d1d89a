//! Delivery status notifications (RFC 3464): the bounce a relay sends back when a
//! message could not be delivered. What matters to a coordination center is which
//! recipient failed, how (the status code and the remote server's words), and which of
//! its own messages it was about.

use mail_parser::{MimeHeaders, PartType};

/// One recipient's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub recipient: String,
    /// failed, delayed, delivered, relayed or expanded.
    pub action: String,
    /// The RFC 3463 status, e.g. 5.1.1.
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub recipients: Vec<DsnRecipient>,
    /// The Message-ID of the message that bounced, without angle brackets.
    pub original_message_id: Option<String>,
}

impl Dsn {
    /// The recipients that will not get the message.
    pub fn failed(&self) -> impl Iterator<Item = &DsnRecipient> {
        self.recipients.iter().filter(|r| r.action == "failed")
    }
}

/// Reads a message as a DSN; `None` if it is not one.
pub fn parse(bytes: &[u8]) -> Option<Dsn> {
    let message = crate::mime::message(bytes)?;
    let ct = message.content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut dsn = Dsn {
        recipients: Vec::new(),
        original_message_id: None,
    };
    for part in message.parts.iter() {
        let Some(pct) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            pct.ctype().to_ascii_lowercase(),
            pct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match (kind.as_str(), &part.body) {
            ("message/delivery-status" | "message/global-delivery-status", body) => {
                let text = match body {
                    PartType::Text(t) => t.to_string(),
                    PartType::Binary(b) | PartType::InlineBinary(b) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    _ => String::from_utf8_lossy(part.contents()).into_owned(),
                };
                dsn.recipients.extend(recipients(&text));
            }
            (_, PartType::Message(original)) if dsn.original_message_id.is_none() => {
                dsn.original_message_id = original.message_id().map(str::to_string);
            }
            ("text/rfc822-headers", _) if dsn.original_message_id.is_none() => {
                let text = String::from_utf8_lossy(part.contents()).into_owned();
                dsn.original_message_id = header_value(&text, "message-id")
                    .map(|v| v.trim_matches(['<', '>', ' ']).to_string());
            }
            _ => {}
        }
    }
    Some(dsn)
}

/// The per-recipient blocks of a delivery-status body.
fn recipients(text: &str) -> Vec<DsnRecipient> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|block| {
            let unfolded = unfold(block);
            let recipient = header_value(&unfolded, "final-recipient")
                .or_else(|| header_value(&unfolded, "original-recipient"))?;
            // `rfc822; user@example.org`
            let recipient = recipient
                .split_once(';')
                .map(|(_, a)| a)
                .unwrap_or(&recipient)
                .trim()
                .trim_matches(['<', '>'])
                .to_ascii_lowercase();
            Some(DsnRecipient {
                recipient,
                action: header_value(&unfolded, "action")
                    .map(|a| a.trim().to_ascii_lowercase())
                    .unwrap_or_default(),
                status: header_value(&unfolded, "status").map(|s| s.trim().to_string()),
                diagnostic: header_value(&unfolded, "diagnostic-code").map(|d| {
                    d.split_once(';')
                        .map(|(_, t)| t)
                        .unwrap_or(&d)
                        .trim()
                        .to_string()
                }),
            })
        })
        .collect()
}

fn unfold(block: &str) -> String {
    let mut out = String::with_capacity(block.len());
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            out.push(' ');
            out.push_str(line.trim());
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
    out
}

fn header_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNCE: &str = "From: MAILER-DAEMON@relay.example (Mail Delivery System)\r\n\
To: csirt@example.org\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <bounce.1@relay.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain\r\n\
\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\
--B\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; relay.example\r\n\
\r\n\
Final-Recipient: rfc822; abuse@gone.example\r\n\
Original-Recipient: rfc822;abuse@gone.example\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <abuse@gone.example>:\r\n\
\tRecipient address rejected: User unknown\r\n\
\r\n\
--B\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: csirt@example.org\r\n\
Message-ID: <renkei.7.abc@example.org>\r\n\
Subject: [TLP:AMBER] notification\r\n\
--B--\r\n";

    #[test]
    fn a_bounce_names_the_failed_recipient_its_status_and_the_original_message() {
        let dsn = parse(BOUNCE.as_bytes()).unwrap();
        assert_eq!(
            dsn.original_message_id.as_deref(),
            Some("renkei.7.abc@example.org")
        );
        let failed: Vec<_> = dsn.failed().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].recipient, "abuse@gone.example");
        assert_eq!(failed[0].status.as_deref(), Some("5.1.1"));
        assert!(
            failed[0]
                .diagnostic
                .as_deref()
                .unwrap()
                .contains("User unknown")
        );
    }

    #[test]
    fn an_ordinary_mail_is_not_a_bounce() {
        assert!(parse(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n").is_none());
    }
}
