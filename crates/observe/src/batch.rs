//! What a sensor sends: a numbered batch of closed buckets, signed with the sensor's
//! Ed25519 key over the exact bytes sent. The number makes a resend idempotent and a
//! replay harmless; the signature makes a stolen token alone useless.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use renkei_formats::packet::{Class, Proto, source_ip};
use serde::{Deserialize, Serialize};

use crate::aggregate::Bucket;
use crate::sketch::Sketch;
use crate::top::TopSource;
use crate::{ObserveError, Result};

/// The HTTP header carrying the signature, `ed25519=<base64>`.
pub const SIGNATURE_HEADER: &str = "renkei-signature";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub sensor: String,
    pub seq: i64,
    pub created: String,
    pub buckets: Vec<BatchBucket>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchBucket {
    /// Seconds since the epoch.
    pub start: i64,
    pub seconds: i64,
    pub packets: u64,
    pub unparsed: u64,
    pub rows: Vec<BatchRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchRow {
    pub proto: String,
    pub port: u16,
    pub class: String,
    pub packets: u64,
    /// The distinct-source sketch, base64 ([`Sketch::to_base64`]).
    pub sources: String,
    #[serde(default)]
    pub top: Vec<TopSource>,
}

/// A row checked and decoded.
pub struct Row {
    pub proto: Proto,
    pub port: u16,
    pub class: Class,
    pub packets: u64,
    pub sources: Sketch,
    pub top: Vec<TopSource>,
}

impl BatchBucket {
    /// The bucket in parts of at most `max_rows` rows, so that a bucket of a busy
    /// hour fits in batches the collector takes. The collector adds parts of a
    /// bucket up; each part's packets cover its rows, and the first part carries
    /// the unparsed records too.
    pub fn parts(b: &Bucket, max_bytes: usize) -> Vec<BatchBucket> {
        let in_rows: u64 = b.rows.iter().map(|r| r.packets).sum();
        let mut rest = b.packets.saturating_sub(in_rows);
        let mut out = Vec::new();
        // What a row takes in the JSON: its fields, top sources and the sketch in
        // base64 (a dense sketch is 22 kB, a small one a few bytes a source).
        let mut cuts = vec![0];
        let mut size = 0usize;
        for (i, r) in b.rows.iter().enumerate() {
            let row = 400 + r.sketch_bytes() * 4 / 3;
            if size > 0 && size + row > max_bytes {
                cuts.push(i);
                size = 0;
            }
            size += row;
        }
        cuts.push(b.rows.len());
        let mut chunks = cuts
            .windows(2)
            .map(|w| &b.rows[w[0]..w[1]])
            .filter(|c| !c.is_empty())
            .peekable();
        if chunks.peek().is_none() {
            return vec![BatchBucket {
                start: b.start,
                seconds: b.seconds,
                packets: b.packets,
                unparsed: b.unparsed,
                rows: Vec::new(),
            }];
        }
        let mut unparsed = b.unparsed;
        for chunk in chunks {
            let rows: Vec<BatchRow> = chunk.iter().map(BatchRow::of).collect();
            let packets = chunk.iter().map(|r| r.packets).sum::<u64>() + rest;
            out.push(BatchBucket {
                start: b.start,
                seconds: b.seconds,
                packets,
                unparsed,
                rows,
            });
            rest = 0;
            unparsed = 0;
        }
        out
    }
}

impl BatchRow {
    fn of(r: &crate::aggregate::PortRow) -> BatchRow {
        BatchRow {
            proto: r.proto.as_str().into(),
            port: r.port,
            class: r.class.as_str().into(),
            packets: r.packets,
            sources: r.sketch().to_base64(),
            top: r
                .top()
                .into_iter()
                .map(|(k, n)| TopSource(source_ip(k).to_string(), n))
                .collect(),
        }
    }
}

impl BatchRow {
    pub fn decode(&self) -> Result<Row> {
        let proto = Proto::parse(&self.proto).ok_or_else(|| {
            ObserveError::invalid(
                "proto",
                format!("{:?} is not tcp, udp, icmp or icmpv6", self.proto),
            )
        })?;
        let class = Class::parse(&self.class).ok_or_else(|| {
            ObserveError::invalid(
                "class",
                format!("{:?} is not scan, backscatter or other", self.class),
            )
        })?;
        if matches!(proto, Proto::Icmp | Proto::Icmpv6) && self.port > 255 {
            return Err(ObserveError::invalid("port", "an ICMP type is at most 255"));
        }
        let sources =
            Sketch::from_base64(&self.sources).map_err(|e| ObserveError::invalid("sources", e))?;
        if self.top.len() > 64
            || self
                .top
                .iter()
                .any(|t| t.0.parse::<std::net::IpAddr>().is_err())
        {
            return Err(ObserveError::invalid(
                "top",
                "at most 64 sources, each an IP address",
            ));
        }
        Ok(Row {
            proto,
            port: self.port,
            class,
            packets: self.packets,
            sources,
            top: self.top.clone(),
        })
    }
}

impl Batch {
    /// Reads a batch body, refusing anything out of shape.
    pub fn parse(body: &[u8]) -> Result<Batch> {
        let b: Batch = serde_json::from_slice(body)
            .map_err(|e| ObserveError::invalid("batch", e.to_string()))?;
        if b.seq < 1 {
            return Err(ObserveError::invalid("seq", "batches are numbered from 1"));
        }
        for bucket in &b.buckets {
            if !(60..=86_400).contains(&bucket.seconds) || 86_400 % bucket.seconds != 0 {
                return Err(ObserveError::invalid(
                    "seconds",
                    "a bucket lasts from a minute to a day and divides a day",
                ));
            }
            if bucket.start.rem_euclid(bucket.seconds) != 0 {
                return Err(ObserveError::invalid(
                    "start",
                    "a bucket starts on a multiple of its length",
                ));
            }
            let counted: u64 = bucket.rows.iter().map(|r| r.packets).sum();
            if counted.saturating_add(bucket.unparsed) > bucket.packets {
                return Err(ObserveError::invalid(
                    "packets",
                    "the rows count more packets than the bucket holds",
                ));
            }
        }
        Ok(b)
    }

    pub fn packets(&self) -> u64 {
        self.buckets.iter().map(|b| b.packets).sum()
    }
}

/// A sensor's key pair, kept as 32 secret bytes in hex.
pub struct SensorKey(SigningKey);

impl SensorKey {
    pub fn generate() -> SensorKey {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        SensorKey(SigningKey::from_bytes(&secret))
    }

    pub fn from_hex(s: &str) -> Result<SensorKey> {
        let b = hex::decode(s.trim())
            .map_err(|_| ObserveError::Spool("the sensor key file is not hex".into()))?;
        let b: [u8; 32] = b.try_into().map_err(|_| {
            ObserveError::Spool("the sensor key file does not hold 32 bytes".into())
        })?;
        Ok(SensorKey(SigningKey::from_bytes(&b)))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key to register on the collector, base64.
    pub fn public(&self) -> String {
        B64.encode(self.0.verifying_key().to_bytes())
    }

    /// The value of the signature header for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        format!("ed25519={}", B64.encode(self.0.sign(body).to_bytes()))
    }
}

/// Checks a registered public key (base64 of 32 bytes).
pub fn parse_public_key(s: &str) -> Result<VerifyingKey> {
    let b = B64.decode(s.trim()).map_err(|_| {
        ObserveError::invalid(
            "public_key",
            "expected base64 (renkei sensor init prints it)",
        )
    })?;
    let b: [u8; 32] = b
        .try_into()
        .map_err(|_| ObserveError::invalid("public_key", "an Ed25519 public key is 32 bytes"))?;
    VerifyingKey::from_bytes(&b)
        .map_err(|_| ObserveError::invalid("public_key", "not a valid Ed25519 point"))
}

/// Verifies the signature header over `body` with the registered key.
pub fn verify(public_key: &str, header: &str, body: &[u8]) -> Result<()> {
    let key = parse_public_key(public_key).map_err(|_| ObserveError::BadSignature)?;
    let sig = header
        .trim()
        .strip_prefix("ed25519=")
        .and_then(|s| B64.decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or(ObserveError::BadSignature)?;
    key.verify_strict(body, &Signature::from_bytes(&sig))
        .map_err(|_| ObserveError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_the_same_body_and_key() {
        let k = SensorKey::generate();
        let body = br#"{"sensor":"s","seq":1}"#;
        let sig = k.sign(body);
        verify(&k.public(), &sig, body).unwrap();
        assert!(verify(&k.public(), &sig, br#"{"sensor":"s","seq":2}"#).is_err());
        assert!(verify(&SensorKey::generate().public(), &sig, body).is_err());
        assert!(verify(&k.public(), "ed25519=AAAA", body).is_err());
        let again = SensorKey::from_hex(&k.to_hex()).unwrap();
        assert_eq!(again.public(), k.public());
    }

    #[test]
    fn batches_out_of_shape_are_refused_with_the_field() {
        let bad = br#"{"sensor":"s","seq":1,"created":"x","buckets":[{"start":30,"seconds":3600,"packets":1,"unparsed":0,"rows":[]}]}"#;
        assert!(matches!(
            Batch::parse(bad),
            Err(ObserveError::Invalid { field: "start", .. })
        ));
        let over = br#"{"sensor":"s","seq":1,"created":"x","buckets":[{"start":0,"seconds":3600,"packets":1,"unparsed":0,"rows":[{"proto":"tcp","port":1,"class":"scan","packets":5,"sources":"AQA="}]}]}"#;
        assert!(matches!(
            Batch::parse(over),
            Err(ObserveError::Invalid {
                field: "packets",
                ..
            })
        ));
        assert!(Batch::parse(b"{}").is_err());
    }
}
