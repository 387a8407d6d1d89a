//! The snapshot file: a line naming the format, a gzip stream of records, and the
//! SHA-256 of everything before it in the last 32 bytes, so that a file cut short
//! or altered is found before a single row is restored.
//!
//! Records, little-endian: `H` and a length-prefixed JSON [`Header`]; per table `T`
//! and its JSON [`Table`], `R` and one tagged value per column for each row, `E`
//! and the table's row count; `Z` at the end. A value is a tag (0 NULL, 1 integer,
//! 2 float, 3 text, 4 bytes) and its bytes, text and bytes after a 4-byte length.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::Header;
use super::schema::{Row, Table, Value};
use crate::{CoreError, Result};

pub const MAGIC: &[u8] = b"RENKEI SNAPSHOT 1\n";
const DIGEST_LEN: u64 = 32;

/// Passes bytes on and hashes them.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a snapshot file; [`Writer::finish`] seals it with its digest.
pub struct Writer {
    gz: GzEncoder<Hashing<BufWriter<File>>>,
}

impl Writer {
    pub fn create(path: &Path) -> Result<Writer> {
        let mut out = Hashing {
            inner: BufWriter::with_capacity(1 << 20, File::create(path)?),
            hash: Sha256::new(),
        };
        out.write_all(MAGIC)?;
        // Level 1: a backup runs beside a serving system on two cores, and the
        // rows (JSON, addresses, mail) shrink to about a third even so.
        Ok(Writer {
            gz: GzEncoder::new(out, Compression::fast()),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.gz.write_all(bytes)?;
        Ok(())
    }

    /// Ends the gzip stream, appends the digest and syncs the file to disk.
    pub fn finish(self) -> Result<()> {
        let hashing = self.gz.finish()?;
        let digest = hashing.hash.finalize();
        let mut file = hashing.inner;
        file.write_all(&digest)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    }
}

/// Record encoders: the async side encodes, the writer's thread compresses.
pub fn header(out: &mut Vec<u8>, header: &Header) -> Result<()> {
    json_record(out, b'H', header)
}

pub fn table(out: &mut Vec<u8>, table: &Table) -> Result<()> {
    json_record(out, b'T', table)
}

fn json_record<T: serde::Serialize>(out: &mut Vec<u8>, tag: u8, value: &T) -> Result<()> {
    let json = serde_json::to_vec(value).map_err(|e| CoreError::Internal(e.to_string()))?;
    out.push(tag);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    Ok(())
}

pub fn row(out: &mut Vec<u8>, row: &Row) {
    out.push(b'R');
    for v in row {
        match v {
            Value::Null => out.push(0),
            Value::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Float(f) => {
                out.push(2);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Value::Text(s) => {
                out.push(3);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Blob(b) => {
                out.push(4);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
}

pub fn table_end(out: &mut Vec<u8>, rows: u64) {
    out.push(b'E');
    out.extend_from_slice(&rows.to_le_bytes());
}

pub fn end(out: &mut Vec<u8>) {
    out.push(b'Z');
}

/// Checks the file's format line and digest, reading it once; returns the length
/// of the gzip stream between them.
pub fn verify(path: &Path) -> Result<u64> {
    let damaged = |why: &str| CoreError::invalid("from", format!("{}: {why}", path.display()));
    let mut file = File::open(path).map_err(|e| damaged(&e.to_string()))?;
    let len = file.metadata()?.len();
    if len < MAGIC.len() as u64 + DIGEST_LEN {
        return Err(damaged("too short to be a Renkei snapshot"));
    }
    let mut magic = vec![0; MAGIC.len()];
    file.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(damaged(
            "not a Renkei snapshot (its first line is not RENKEI SNAPSHOT 1)",
        ));
    }
    let mut hash = Sha256::new();
    hash.update(&magic);
    let body = len - MAGIC.len() as u64 - DIGEST_LEN;
    let copied = std::io::copy(
        &mut BufReader::with_capacity(1 << 20, (&mut file).take(body)),
        &mut HashSink(&mut hash),
    )?;
    if copied != body {
        return Err(damaged("cut short while being read"));
    }
    let mut stored = [0u8; DIGEST_LEN as usize];
    file.read_exact(&mut stored)?;
    if hash.finalize().as_slice() != stored {
        return Err(damaged(
            "its checksum does not match: the file was cut short or altered after it was written; nothing was restored",
        ));
    }
    Ok(body)
}

struct HashSink<'a>(&'a mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One record read back.
#[derive(Debug)]
pub enum Record {
    Header(Box<Header>),
    Table(Table),
    Row(Row),
    TableEnd(u64),
    End,
}

/// Reads the records of a file [`verify`] passed.
pub struct Reader {
    gz: BufReader<GzDecoder<std::io::Take<BufReader<File>>>>,
    width: usize,
}

impl Reader {
    pub fn open(path: &Path, body: u64) -> Result<Reader> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
        Ok(Reader {
            gz: BufReader::with_capacity(
                1 << 20,
                GzDecoder::new(BufReader::with_capacity(1 << 20, file).take(body)),
            ),
            width: 0,
        })
    }

    /// The next record; an error for anything a writer of this format cannot
    /// have written (a file that passed its checksum was written so by a bug).
    pub fn record(&mut self) -> Result<Record> {
        let tag = self.u8()?;
        Ok(match tag {
            b'H' => Record::Header(Box::new(self.json()?)),
            b'T' => {
                let t: Table = self.json()?;
                self.width = t.columns.len();
                Record::Table(t)
            }
            b'R' => {
                let mut row = Vec::with_capacity(self.width);
                for _ in 0..self.width {
                    row.push(self.value()?);
                }
                Record::Row(row)
            }
            b'E' => Record::TableEnd(u64::from_le_bytes(self.array()?)),
            b'Z' => Record::End,
            other => return Err(malformed(format!("unknown record {other:#x}"))),
        })
    }

    fn value(&mut self) -> Result<Value> {
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Int(i64::from_le_bytes(self.array()?)),
            2 => Value::Float(f64::from_bits(u64::from_le_bytes(self.array()?))),
            3 => Value::Text(
                String::from_utf8(self.bytes()?)
                    .map_err(|_| malformed("text that is not UTF-8".into()))?,
            ),
            4 => Value::Blob(self.bytes()?),
            other => return Err(malformed(format!("unknown value tag {other}"))),
        })
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        self.gz.read_exact(&mut a).map_err(read_error)?;
        Ok(a)
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        let mut v = Vec::new();
        (&mut self.gz)
            .take(len as u64)
            .read_to_end(&mut v)
            .map_err(read_error)?;
        if v.len() != len {
            return Err(malformed("a value cut short".into()));
        }
        Ok(v)
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T> {
        let v = self.bytes()?;
        serde_json::from_slice(&v).map_err(|e| malformed(e.to_string()))
    }
}

fn malformed(why: String) -> CoreError {
    CoreError::invalid("from", format!("the snapshot is malformed: {why}"))
}

fn read_error(e: std::io::Error) -> CoreError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        malformed("it ends in the middle of a record".into())
    } else {
        malformed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::schema::{Column, ColumnKind};

    fn sample(path: &Path) -> Table {
        let t = Table {
            name: "t".into(),
            columns: vec![
                Column {
                    name: "id".into(),
                    kind: ColumnKind::Int,
                },
                Column {
                    name: "v".into(),
                    kind: ColumnKind::Blob,
                },
            ],
            key: vec!["id".into()],
        };
        let mut w = Writer::create(path).unwrap();
        let mut buf = Vec::new();
        table(&mut buf, &t).unwrap();
        for i in 0..100 {
            row(
                &mut buf,
                &vec![Value::Int(i), Value::Blob(vec![i as u8; 300])],
            );
        }
        table_end(&mut buf, 100);
        end(&mut buf);
        w.write(&buf).unwrap();
        w.finish().unwrap();
        t
    }

    #[test]
    fn a_file_reads_back_record_by_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.renkei");
        let t = sample(&path);
        let body = verify(&path).unwrap();
        let mut r = Reader::open(&path, body).unwrap();
        assert!(matches!(r.record().unwrap(), Record::Table(x) if x == t));
        for i in 0..100 {
            match r.record().unwrap() {
                Record::Row(row) => assert_eq!(row[0], Value::Int(i)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(r.record().unwrap(), Record::TableEnd(100)));
        assert!(matches!(r.record().unwrap(), Record::End));
    }

    #[test]
    fn a_file_cut_short_or_with_one_byte_changed_fails_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.renkei");
        sample(&path);
        let bytes = std::fs::read(&path).unwrap();
        for cut in [bytes.len() - 1, bytes.len() / 2, MAGIC.len() + 10] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(verify(&path).is_err(), "cut at {cut}");
        }
        for at in [MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            let mut altered = bytes.clone();
            altered[at] ^= 0x40;
            std::fs::write(&path, &altered).unwrap();
            let e = verify(&path).unwrap_err().to_string();
            assert!(e.contains("checksum"), "{e}");
        }
    }
}
