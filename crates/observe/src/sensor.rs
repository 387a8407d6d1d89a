//! `renkei sensor`: counts what arrives on an unused address and sends it to the
//! collector. Closed buckets become numbered batches written to a spool directory
//! *before* anything is sent; a batch leaves the spool only when the collector has
//! it (accepted now, or already received earlier). So a collector that is away
//! loses nothing — the backlog goes out in order when it is back — and a batch
//! resent after a lost answer is not counted twice.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::aggregate::{Aggregator, Bucket};
use crate::batch::{Batch, BatchBucket, SIGNATURE_HEADER, SensorKey};
use crate::{ObserveError, Result};

/// At most this many buckets go in one batch, so a long capture read at once
/// still makes batches of a reasonable size.
const BUCKETS_PER_BATCH: usize = 6;
/// About this many bytes of JSON a batch at most (the collector takes up to
/// `observe.max_batch_bytes`, 32 MiB by default): a busy hour is split in parts.
const BATCH_BYTES: usize = 8 << 20;

/// The sensor's directory: its key, its next sequence number, and the batches not
/// yet acknowledged.
pub struct Spool {
    dir: PathBuf,
    clock: renkei_core::time::Clock,
}

fn spool_err(what: &str, path: &Path, e: std::io::Error) -> ObserveError {
    ObserveError::Spool(format!("{what} {}: {e}", path.display()))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| spool_err("cannot write", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| spool_err("cannot write", &tmp, e))?;
    f.sync_all()
        .map_err(|e| spool_err("cannot sync", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| spool_err("cannot rename", path, e))
}

impl Spool {
    /// The same spool stamping its batches and closing its buckets by `clock` (the
    /// demo's sensors live in a past quarter).
    pub fn with_clock(mut self, clock: renkei_core::time::Clock) -> Spool {
        self.clock = clock;
        self
    }

    /// Opens (creating) the spool; a new spool gets a new key pair.
    pub fn open(dir: &Path) -> Result<Spool> {
        for sub in ["outbox", "rejected"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| spool_err("cannot create", &p, e))?;
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            clock: renkei_core::time::Clock::system(),
        };
        let key = dir.join("sensor.key");
        if !key.exists() {
            write_atomically(&key, SensorKey::generate().to_hex().as_bytes())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600));
            }
        }
        Ok(spool)
    }

    pub fn key(&self) -> Result<SensorKey> {
        let p = self.dir.join("sensor.key");
        SensorKey::from_hex(
            &std::fs::read_to_string(&p).map_err(|e| spool_err("cannot read", &p, e))?,
        )
    }

    fn batch_path(&self, seq: i64) -> PathBuf {
        self.dir.join("outbox").join(format!("{seq:012}.json"))
    }

    /// The next sequence number: one past both the counter and anything spooled (a
    /// crash between writing a batch and the counter must not reuse its number).
    fn next_seq(&self) -> Result<i64> {
        let counter = std::fs::read_to_string(self.dir.join("seq"))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(1);
        let spooled = self.pending()?.last().map(|(s, _)| s + 1).unwrap_or(1);
        Ok(counter.max(spooled))
    }

    /// Writes closed buckets as numbered batches; returns their numbers.
    pub fn store(&self, sensor: &str, buckets: &[Bucket]) -> Result<Vec<i64>> {
        let mut seqs = Vec::new();
        let mut parts: Vec<BatchBucket> = Vec::new();
        let mut bytes = 0;
        for bucket in buckets {
            for part in BatchBucket::parts(bucket, BATCH_BYTES) {
                let part_bytes: usize = part
                    .rows
                    .iter()
                    .map(|r| 100 + r.sources.len() + r.top.len() * 30)
                    .sum();
                if !parts.is_empty()
                    && (parts.len() == BUCKETS_PER_BATCH || bytes + part_bytes > BATCH_BYTES)
                {
                    seqs.push(self.write_batch(sensor, std::mem::take(&mut parts))?);
                    bytes = 0;
                }
                bytes += part_bytes;
                parts.push(part);
            }
        }
        if !parts.is_empty() {
            seqs.push(self.write_batch(sensor, parts)?);
        }
        Ok(seqs)
    }

    fn write_batch(&self, sensor: &str, buckets: Vec<BatchBucket>) -> Result<i64> {
        let seq = self.next_seq()?;
        let batch = Batch {
            sensor: sensor.to_string(),
            seq,
            created: self.clock.now_str(),
            buckets,
        };
        let body = serde_json::to_vec(&batch).map_err(|e| ObserveError::Spool(e.to_string()))?;
        write_atomically(&self.batch_path(seq), &body)?;
        write_atomically(&self.dir.join("seq"), (seq + 1).to_string().as_bytes())?;
        Ok(seq)
    }

    /// Spooled batches, oldest first.
    pub fn pending(&self) -> Result<Vec<(i64, PathBuf)>> {
        let dir = self.dir.join("outbox");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| spool_err("cannot list", &dir, e))? {
            let p = e.map_err(|e| spool_err("cannot list", &dir, e))?.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(seq) = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse().ok())
            {
                out.push((seq, p));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Where batches go.
#[derive(Clone)]
pub struct Collector {
    pub url: String,
    pub token: String,
    http: reqwest::Client,
}

/// What one attempt to empty the spool did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sent {
    pub accepted: usize,
    /// Already received before (a resend after a lost answer).
    pub duplicates: usize,
    /// Refused for good (moved to `rejected/` with the reason).
    pub rejected: usize,
    /// Still spooled because the collector could not be reached.
    pub pending: usize,
    pub error: Option<String>,
}

impl Collector {
    pub fn new(url: &str, token: &str) -> Collector {
        Collector {
            url: url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends spooled batches in order until the spool is empty or the collector
    /// cannot be reached.
    pub async fn send(&self, spool: &Spool) -> Result<Sent> {
        let key = spool.key()?;
        let mut sent = Sent::default();
        let pending = spool.pending()?;
        for (i, (seq, path)) in pending.iter().enumerate() {
            let body = std::fs::read(path).map_err(|e| spool_err("cannot read", path, e))?;
            // Signed as stored; compressed in transit (dense sketches shrink well).
            let signature = key.sign(&body);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let compressed = gz
                .write_all(&body)
                .and_then(|_| gz.finish())
                .map_err(|e| ObserveError::Spool(format!("compressing batch {seq}: {e}")))?;
            let res = self
                .http
                .post(format!("{}/api/v1/sensors/batches", self.url))
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .header(SIGNATURE_HEADER, signature)
                .body(compressed)
                .send()
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => {
                    sent.pending = pending.len() - i;
                    sent.error = Some(format!("batch {seq}: {e}"));
                    return Ok(sent);
                }
            };
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            let code = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
                .unwrap_or_default();
            if status.is_success() {
                sent.accepted += 1;
            } else if code == "duplicate_batch" {
                sent.duplicates += 1;
            } else if status.is_client_error() && !matches!(status.as_u16(), 401 | 408 | 429) {
                // Refused for what it is: keep it aside, with the answer, and go on.
                let aside = spool
                    .dir
                    .join("rejected")
                    .join(path.file_name().unwrap_or_default());
                std::fs::rename(path, &aside).map_err(|e| spool_err("cannot move", path, e))?;
                let _ = std::fs::write(aside.with_extension("reason"), format!("{status}: {text}"));
                tracing::error!(seq, %status, answer = %text, "the collector refused a batch; kept in rejected/");
                sent.rejected += 1;
                continue;
            } else {
                sent.pending = pending.len() - i;
                sent.error = Some(format!(
                    "batch {seq}: {status}: {}",
                    text.chars().take(200).collect::<String>()
                ));
                return Ok(sent);
            }
            std::fs::remove_file(path).map_err(|e| spool_err("cannot remove", path, e))?;
        }
        Ok(sent)
    }
}

/// What a sensor reads.
#[derive(Debug, Clone)]
pub enum Input {
    Pcap(Vec<PathBuf>),
    /// Firewall log files (iptables/nftables LOG lines).
    Log(Vec<PathBuf>),
    /// A live interface (needs the `capture` feature).
    Interface(String),
}

pub struct SensorConfig {
    pub name: String,
    pub bucket_seconds: i64,
    pub spool: PathBuf,
    pub input: Input,
}

/// Counts and spools everything in files (captures or logs); returns the batch
/// numbers written. Nothing is sent here.
pub fn spool_files(config: &SensorConfig, spool: &Spool) -> Result<(Vec<i64>, u64)> {
    let mut agg = Aggregator::new(config.bucket_seconds);
    let mut seqs = Vec::new();
    let mut packets = 0u64;
    match &config.input {
        Input::Pcap(files) => {
            for f in files {
                let file = std::fs::File::open(f)
                    .map_err(|e| ObserveError::invalid("pcap", format!("{}: {e}", f.display())))?;
                // Buckets close as the capture's own clock passes them.
                let mut last_closed = i64::MIN;
                let mut pending_err = None;
                let end = renkei_formats::packet::read_capture(file, |ts, probe| {
                    packets += 1;
                    agg.packet(ts, probe);
                    let open = agg.bucket_of(ts);
                    if open > last_closed {
                        last_closed = open;
                        let closed = agg.take_closed(ts);
                        if !closed.is_empty()
                            && let Err(e) =
                                spool.store(&config.name, &closed).map(|s| seqs.extend(s))
                        {
                            pending_err.get_or_insert(e);
                        }
                    }
                })
                .map_err(|e| ObserveError::invalid("pcap", format!("{}: {e}", f.display())))?;
                if let Some(e) = pending_err {
                    return Err(e);
                }
                if let Some(d) = end.damage {
                    tracing::warn!(file = %f.display(), damage = %d, "capture ended early");
                }
                for (link, n) in &end.unknown_links {
                    tracing::warn!(file = %f.display(), link_type = link, records = n, "records of a link type this sensor does not read");
                }
            }
        }
        Input::Log(files) => {
            let now = spool.clock.now();
            for f in files {
                let file = std::fs::File::open(f)
                    .map_err(|e| ObserveError::invalid("log", format!("{}: {e}", f.display())))?;
                packets += crate::aggregate::read_log(&mut agg, BufReader::new(file), now)
                    .map_err(|e| ObserveError::invalid("log", format!("{}: {e}", f.display())))?;
            }
        }
        Input::Interface(_) => {
            return Err(ObserveError::invalid(
                "input",
                "live capture runs with run_live",
            ));
        }
    }
    let rest = agg.finish();
    if !rest.is_empty() {
        seqs.extend(spool.store(&config.name, &rest)?);
    }
    Ok((seqs, packets))
}

/// Sends the spool until it is empty, retrying with backoff while the collector is
/// away, for at most `retry_for` (the backlog stays for the next run), or until
/// `shutdown` fires.
pub async fn drain(
    collector: &Collector,
    spool: &Spool,
    mut shutdown: watch::Receiver<bool>,
    retry_for: Duration,
) -> Result<Sent> {
    let mut total = Sent::default();
    let mut wait = Duration::from_secs(1);
    let give_up = tokio::time::Instant::now() + retry_for;
    loop {
        let s = collector.send(spool).await?;
        total.accepted += s.accepted;
        total.duplicates += s.duplicates;
        total.rejected += s.rejected;
        total.pending = s.pending;
        total.error = s.error.clone();
        if s.pending == 0 {
            return Ok(total);
        }
        if tokio::time::Instant::now() + wait > give_up {
            return Ok(total);
        }
        tracing::warn!(pending = s.pending, error = ?s.error, retry_in = ?wait, "collector unreachable; batches stay in the spool");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Ok(total),
        }
        wait = (wait * 2).min(Duration::from_secs(300));
    }
}

/// Captures from a live interface until `shutdown`, closing buckets on the wall
/// clock and sending as it goes.
#[cfg(feature = "capture")]
pub async fn run_live(
    config: SensorConfig,
    collector: Collector,
    spool: Spool,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    use std::sync::{Arc, Mutex};
    let Input::Interface(iface) = &config.input else {
        return Err(ObserveError::invalid(
            "input",
            "run_live needs an interface",
        ));
    };
    let agg = Arc::new(Mutex::new(Aggregator::new(config.bucket_seconds)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut cap = pcap::Capture::from_device(iface.as_str())
        .and_then(|c| {
            // No immediate mode: in it, Linux libpcap ignores the timeout and waits
            // for the next packet, so a sensor on a quiet interface could not stop.
            // Packets arrive in blocks of at most half a second instead, which an
            // hourly count does not notice.
            c.promisc(true).snaplen(256).timeout(500).open()
        })
        .map_err(|e| ObserveError::invalid("interface", format!("{iface}: {e}")))?;
    let link = renkei_formats::packet::linktype::masked(cap.get_datalink().0 as u32);
    tracing::info!(interface = %iface, "capturing");
    let (agg2, stop2) = (agg.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        // Asked to stop, the reader still takes what the kernel has already captured
        // (until a read times out, for at most two seconds on a busy interface), so
        // that packets that arrived before the interrupt are counted.
        let mut stopping: Option<std::time::Instant> = None;
        loop {
            if stopping.is_none() && stop2.load(std::sync::atomic::Ordering::Relaxed) {
                stopping = Some(std::time::Instant::now());
            }
            if stopping.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                break;
            }
            match cap.next_packet() {
                Ok(p) => {
                    let probe = renkei_formats::packet::decode(link, p.data);
                    if let Ok(mut a) = agg2.lock() {
                        // time_t is 32 bits on some targets.
                        #[allow(clippy::unnecessary_cast)]
                        a.packet(p.header.ts.tv_sec as i64, probe);
                    }
                }
                Err(pcap::Error::TimeoutExpired) if stopping.is_some() => break,
                Err(pcap::Error::TimeoutExpired) => {}
                Err(e) => {
                    tracing::error!(error = %e, "capture stopped");
                    break;
                }
            }
        }
    });
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let now = spool.clock.now().timestamp();
        let closed = match agg.lock() {
            Ok(mut a) => {
                a.touch(now);
                a.take_closed(now)
            }
            Err(_) => Vec::new(),
        };
        if !closed.is_empty() {
            spool.store(&config.name, &closed)?;
        }
        let s = collector.send(&spool).await?;
        if let Some(e) = s.error {
            tracing::warn!(pending = s.pending, error = %e, "collector unreachable; batches stay in the spool");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = reader.join();
    // What was counted of the open bucket goes too: the collector adds a bucket
    // sent in parts.
    let rest = match agg.lock() {
        Ok(mut a) => a.take_closed(i64::MAX / 2),
        Err(_) => Vec::new(),
    };
    if !rest.is_empty() {
        spool.store(&config.name, &rest)?;
    }
    let _ = collector.send(&spool).await;
    Ok(())
}
