//! Reports that arrive packed: Shadowserver mails its CSV reports zipped or
//! gzipped, and other senders do the same. Unpacking is bounded, because a small
//! attachment can expand without end (a "ZIP bomb"): the total size, the ratio of
//! unpacked to packed bytes and the number of files each have a limit, and going
//! past one refuses the whole attachment, naming the limit, instead of reading part.

use std::io::{Cursor, Read};

use crate::error::FormatError;

const NAME: &str = "archive";

/// How far an attachment may expand (`intake.unpack_*` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes all files of one attachment may hold once unpacked.
    pub max_bytes: u64,
    /// Unpacked bytes per packed byte; CSV compresses about 10:1, bombs 1000:1.
    pub max_ratio: u64,
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_ratio: 200,
            max_files: 100,
        }
    }
}

/// One file that came out of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub name: String,
    pub data: Vec<u8>,
}

/// What kind of packing the bytes have, by their magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    Zip,
    Gzip,
}

pub fn packing(data: &[u8]) -> Option<Packing> {
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        Some(Packing::Zip)
    } else if data.starts_with(&[0x1f, 0x8b]) {
        Some(Packing::Gzip)
    } else {
        None
    }
}

/// The files in a ZIP or gzip attachment named `name`; `None` if it is neither.
pub fn unpack(
    name: &str,
    data: &[u8],
    limits: &Limits,
) -> Result<Option<Vec<Unpacked>>, FormatError> {
    let Some(kind) = packing(data) else {
        return Ok(None);
    };
    let budget = limits.max_bytes.min(
        (data.len() as u64)
            .saturating_mul(limits.max_ratio)
            .max(64 << 10),
    );
    let refused = |what: String| FormatError::Refused {
        format: NAME,
        message: what,
    };
    let over = |read: u64| {
        refused(if read > limits.max_bytes {
            format!(
                "{name} unpacks to more than {} bytes (intake.unpack_max_bytes)",
                limits.max_bytes
            )
        } else {
            format!(
                "{name} unpacks to more than {} times its {} bytes (intake.unpack_max_ratio)",
                limits.max_ratio,
                data.len()
            )
        })
    };
    match kind {
        Packing::Gzip => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(data)
                .take(budget + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    FormatError::malformed(NAME, format!("{name}: not valid gzip: {e}"))
                })?;
            if out.len() as u64 > budget {
                return Err(over(out.len() as u64));
            }
            let inner = name
                .strip_suffix(".gz")
                .or_else(|| name.strip_suffix(".gzip"))
                .unwrap_or(name)
                .to_string();
            Ok(Some(vec![Unpacked {
                name: inner,
                data: out,
            }]))
        }
        Packing::Zip => {
            let mut zip = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| {
                FormatError::malformed(NAME, format!("{name}: not a valid ZIP: {e}"))
            })?;
            let files = (0..zip.len())
                .filter(|i| zip.by_index_raw(*i).is_ok_and(|f| f.is_file()))
                .count();
            if files > limits.max_files {
                return Err(refused(format!(
                    "{name} holds {files} files, more than {} (intake.unpack_max_files)",
                    limits.max_files
                )));
            }
            let mut left = budget;
            let mut out = Vec::new();
            for i in 0..zip.len() {
                let mut file = zip.by_index(i).map_err(|e| {
                    FormatError::malformed(NAME, format!("{name}: file {i} cannot be read: {e}"))
                })?;
                if !file.is_file() {
                    continue;
                }
                let inner = file.name().to_string();
                let mut bytes = Vec::new();
                // The sizes a ZIP declares can lie; what is read is what counts.
                (&mut file)
                    .take(left + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| {
                        FormatError::malformed(
                            NAME,
                            format!("{name}: {inner} cannot be unpacked: {e}"),
                        )
                    })?;
                if bytes.len() as u64 > left {
                    return Err(over(budget - left + bytes.len() as u64));
                }
                left -= bytes.len() as u64;
                out.push(Unpacked {
                    name: inner,
                    data: bytes,
                });
            }
            Ok(Some(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zipped(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn gzipped(data: &[u8]) -> Vec<u8> {
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        g.write_all(data).unwrap();
        g.finish().unwrap()
    }

    #[test]
    fn zipped_and_gzipped_reports_come_out_whole() {
        let csv = b"\"timestamp\",\"ip\",\"port\"\n\"2024-01-01 00:00:00\",\"192.0.2.1\",23\n";
        let z = zipped(&[("2024-01-01-scan_telnet-example-asn.csv", csv)]);
        let files = unpack("r.zip", &z, &Limits::default()).unwrap().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "2024-01-01-scan_telnet-example-asn.csv");
        assert_eq!(files[0].data, csv);
        let g = unpack("x.csv.gz", &gzipped(csv), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            (g[0].name.as_str(), g[0].data.as_slice()),
            ("x.csv", &csv[..])
        );
        assert_eq!(unpack("a.csv", csv, &Limits::default()).unwrap(), None);
    }

    #[test]
    fn a_bomb_is_refused_by_the_limit_it_passed() {
        let zeros = vec![0u8; 8 << 20];
        let z = zipped(&[("a.csv", &zeros)]);
        let e = unpack("bomb.zip", &z, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unpack_max_ratio"), "{e}");
        let small = Limits {
            max_bytes: 1000,
            max_ratio: 1_000_000,
            max_files: 100,
        };
        let e = unpack("big.gz", &gzipped(&zeros), &small)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unpack_max_bytes"), "{e}");
        let many: Vec<(String, Vec<u8>)> =
            (0..3).map(|i| (format!("{i}.csv"), vec![b'x'])).collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let few = Limits {
            max_files: 2,
            ..Limits::default()
        };
        let e = unpack("many.zip", &zipped(&refs), &few)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unpack_max_files"), "{e}");
    }

    #[test]
    fn broken_archives_are_named_not_panicked_on() {
        assert!(unpack("x.zip", b"PK\x03\x04garbage", &Limits::default()).is_err());
        assert!(unpack("x.gz", &[0x1f, 0x8b, 8, 0, 0], &Limits::default()).is_err());
    }
}
