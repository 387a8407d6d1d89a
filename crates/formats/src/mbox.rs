//! Mail as it is stored and piped: mbox files (many messages, each after a
//! `From sender date` line) and a single message that a local delivery agent hands
//! over with that line in front (postfix's `pipe` with the `F` flag, procmail).
//!
//! Writers quote body lines that begin with `From ` as `>From ` (mboxo) or add one
//! more `>` to any run of them (mboxrd); reading takes one `>` off such lines, which
//! gives back what was written in both, except for a body line that itself began
//! with `>From ` in mboxo — a loss mboxo made when it wrote the file.

use std::borrow::Cow;

/// Whether `line` (without its line ending) is an mbox separator: `From `, then a
/// sender without spaces, then a date with a time in it. A body line that only
/// begins with "From " (not quoted by a careless writer) is not taken for one.
pub fn is_from_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let rest = String::from_utf8_lossy(rest);
    let mut words = rest.split_whitespace();
    let Some(sender) = words.next() else {
        return false;
    };
    if sender.contains(':') && !sender.contains('@') {
        // "From: x" is a header field, not a separator.
        return false;
    }
    // asctime: "Sat Jan  3 01:05:34 1996", sometimes with a zone; some writers put
    // the zone or year elsewhere. A time of day and a four-digit year are enough.
    let date: Vec<&str> = words.collect();
    let time = date.iter().any(|w| {
        let parts: Vec<&str> = w.split(':').collect();
        (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    let year = date
        .iter()
        .any(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()));
    time && year
}

/// The message without the `From ` line a delivery agent put in front, if any.
pub fn strip_from_line(bytes: &[u8]) -> &[u8] {
    if !bytes.starts_with(b"From ") {
        return bytes;
    }
    let end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let line = trim_cr(&bytes[..end]);
    if is_from_line(line) || !looks_like_header(line) {
        bytes.get(end + 1..).unwrap_or(&[])
    } else {
        bytes
    }
}

fn looks_like_header(line: &[u8]) -> bool {
    line.iter()
        .position(|b| *b == b':')
        .is_some_and(|colon| line[..colon].iter().all(|b| b.is_ascii_graphic()))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether the bytes are an mbox file: they begin with a separator line.
pub fn is_mbox(bytes: &[u8]) -> bool {
    let end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    is_from_line(trim_cr(&bytes[..end]))
}

/// The messages of an mbox file, in order, each without its separator line and
/// with `>From ` quoting taken off. A separator counts at the start of the file or
/// after an empty line, as every writer puts it. Bytes before the first separator
/// (none in a well-formed file) are a message of their own, so nothing is lost.
pub fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut started = false;
    let mut previous_blank = true;
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |p| p + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        let bare = trim_cr(line.strip_suffix(b"\n").unwrap_or(line));
        if previous_blank && is_from_line(bare) {
            if started || !current.iter().all(u8::is_ascii_whitespace) {
                messages.push(finish(std::mem::take(&mut current)));
            }
            started = true;
            previous_blank = false;
            continue;
        }
        previous_blank = bare.is_empty();
        current.extend_from_slice(&unquote(line));
    }
    if started || !current.iter().all(u8::is_ascii_whitespace) {
        messages.push(finish(current));
    }
    messages
}

/// The blank line a writer puts before the next separator belongs to the file,
/// not to the message.
fn finish(mut message: Vec<u8>) -> Vec<u8> {
    if message.ends_with(b"\r\n\r\n") {
        message.truncate(message.len() - 2);
    } else if message.ends_with(b"\n\n") {
        message.truncate(message.len() - 1);
    }
    message
}

fn unquote(line: &[u8]) -> Cow<'_, [u8]> {
    let quotes = line.iter().take_while(|b| **b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        Cow::Borrowed(&line[1..])
    } else {
        Cow::Borrowed(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &[u8] = b"From abuse@example.net Sat Jan  3 01:05:34 1996\n\
From: abuse@example.net\n\
Subject: one\n\
\n\
body one\n\
>From here on, quoted\n\
>>From twice\n\
\n\
From reports@example.org Mon Mar  4 10:00:00 2024\n\
From: reports@example.org\n\
Subject: two\n\
\n\
From the logs: 192.0.2.7\n";

    #[test]
    fn an_mbox_file_splits_into_its_messages_with_quoting_undone() {
        let m = split(TWO);
        assert_eq!(m.len(), 2);
        let one = String::from_utf8(m[0].clone()).unwrap();
        assert!(one.starts_with("From: abuse@example.net\n"), "{one}");
        assert!(one.contains("\nFrom here on, quoted\n"), "{one}");
        assert!(one.contains("\n>From twice\n"), "{one}");
        assert!(one.ends_with("twice\n"), "{one:?}");
        // An unquoted body line that is not a separator stays in its message.
        let two = String::from_utf8(m[1].clone()).unwrap();
        assert!(two.contains("From the logs: 192.0.2.7"), "{two}");
    }

    #[test]
    fn a_piped_message_loses_only_its_from_line() {
        let piped =
            b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\r\nFrom: a@example.jp\r\n\r\nhi\r\n";
        assert_eq!(strip_from_line(piped), b"From: a@example.jp\r\n\r\nhi\r\n");
        let plain = b"From: a@example.jp\r\n\r\nhi\r\n";
        assert_eq!(strip_from_line(plain), plain);
    }

    #[test]
    fn separators_are_recognized_by_their_date() {
        assert!(is_from_line(
            b"From abuse@example.net Sat Jan  3 01:05:34 1996"
        ));
        assert!(is_from_line(b"From - Mon Mar  4 10:00:00 2024"));
        assert!(is_from_line(b"From x@y Thu, 02 Feb 2023 10:11 +0900"));
        assert!(!is_from_line(b"From the logs we saw 192.0.2.1"));
        assert!(!is_from_line(b"From: a@example.jp"));
        assert!(!is_from_line(b"Frm a@b Sat Jan  3 01:05:34 1996"));
    }

    #[test]
    fn a_file_without_separators_is_one_message() {
        let m = split(b"From: a@example.jp\n\nhello\n");
        assert_eq!(m, vec![b"From: a@example.jp\n\nhello\n".to_vec()]);
        assert!(split(b"").is_empty());
    }
}
