//! `renkei observe …` and `renkei sensor`: offline aggregation of captures, the
//! sensor that feeds the collector, and the collector's housekeeping commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use renkei_core::Store;
use renkei_core::config::Config;
use renkei_observe::aggregate::{Aggregator, Summary};
use renkei_observe::sensor::{self, Collector, Input, SensorConfig, Spool};

#[derive(Subcommand)]
pub enum ObserveCommand {
    /// Count packets in pcap/pcapng captures (or firewall logs) per protocol and
    /// destination port, through the sensor's own code, and print one JSON object:
    /// {"packets", "unparsed", "bucket_seconds", "by_port": [{"proto", "port",
    /// "packets", "sources", "scan", "backscatter", "other"}…], "buckets": […]}.
    /// For ICMP, "port" is the ICMP type. Exit 2 if a file is not a capture.
    Aggregate {
        #[arg(long, value_name = "FILE", num_args = 1.., required_unless_present = "log")]
        pcap: Vec<PathBuf>,
        /// iptables/nftables LOG lines instead of captures.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        log: Vec<PathBuf>,
        /// Bucket length: 1h (default), 15m, 1d or seconds.
        #[arg(long, default_value = "1h")]
        bucket: String,
        /// JSON output (the only output there is; accepted for scripts that say so).
        #[arg(long)]
        json: bool,
    },
    /// Write made-up scan traffic as a pcap (for benchmarks and demonstrations):
    /// TCP SYNs to the usual worm ports and a long tail, UDP, ICMP and backscatter,
    /// from exactly --sources distinct addresses.
    Synth {
        #[arg(long, default_value_t = 1_000_000)]
        packets: u64,
        #[arg(long, default_value_t = 100_000)]
        sources: u64,
        /// First packet's time (RFC 3339).
        #[arg(long, default_value = "2007-10-01T00:00:00Z")]
        start: String,
        /// Hours the traffic spreads over.
        #[arg(long, default_value_t = 1)]
        hours: i64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Register a sensor on this collector; prints {"sensor", "token"} (the token
    /// once). The public key is what `renkei sensor --print-key` shows.
    AddSensor {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        location: String,
        /// The unused addresses it watches, e.g. 203.0.113.0/24.
        #[arg(long)]
        range: String,
        #[arg(long)]
        public_key: String,
    },
    /// Recompute the trend notes (first seen, surge, calmed, back) for days.
    Trends {
        #[arg(long, value_name = "DAY")]
        from: String,
        #[arg(long, value_name = "DAY")]
        to: Option<String>,
    },
}

#[derive(Args)]
pub struct SensorArgs {
    /// The collector's base URL, e.g. https://renkei.csirt.example
    #[arg(long, required_unless_present = "print_key")]
    collector: Option<String>,
    /// The sensor's API token (from add-sensor or the sensors page); also RENKEI_TOKEN.
    #[arg(long, env = "RENKEI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The sensor's name as registered.
    #[arg(long, required_unless_present = "print_key")]
    name: Option<String>,
    /// Directory for the key and the batches not yet acknowledged.
    #[arg(long, default_value = "./sensor-spool")]
    spool: PathBuf,
    /// Read captures.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["log", "interface"])]
    pcap: Vec<PathBuf>,
    /// Read iptables/nftables LOG lines.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "interface")]
    log: Vec<PathBuf>,
    /// Capture from an interface (built with the `capture` feature).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    #[arg(long, default_value = "1h")]
    bucket: String,
    /// Create the key if need be, print the public key to register, and exit.
    #[arg(long)]
    print_key: bool,
    /// How long to keep retrying while the collector is away before exiting with
    /// the backlog left in the spool for the next run (seconds).
    #[arg(long, default_value_t = 60)]
    retry_for: u64,
    /// Only send what waits in the spool (after an outage), reading nothing.
    #[arg(long, conflicts_with_all = ["pcap", "log", "interface"])]
    send_only: bool,
}

/// "1h", "15m", "1d" or seconds.
fn bucket_seconds(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (n, unit) = match s.char_indices().last() {
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'd')) => (&s[..i], 86_400),
        Some((i, 's')) => (&s[..i], 1),
        _ => (s, 1),
    };
    let secs = n
        .parse::<i64>()
        .ok()
        .map(|n| n * unit)
        .filter(|&v| (60..=86_400).contains(&v) && 86_400 % v == 0)
        .ok_or_else(|| {
            renkei_core::CoreError::invalid(
                "bucket",
                format!("{s:?}: a length from 1m to 1d that divides a day, such as 1h or 15m"),
            )
        })?;
    Ok(secs)
}

pub async fn observe(
    config: &Config,
    store: Option<&Store>,
    cmd: ObserveCommand,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ObserveCommand::Aggregate {
            pcap,
            log,
            bucket,
            json: _,
        } => {
            let seconds = bucket_seconds(&bucket)?;
            let mut agg = Aggregator::new(seconds);
            let mut bad = false;
            let mut unknown_links = std::collections::BTreeMap::new();
            for f in &pcap {
                let file = match std::fs::File::open(f) {
                    Ok(file) => file,
                    Err(e) => {
                        say!("renkei: {}: {e}", f.display());
                        bad = true;
                        continue;
                    }
                };
                match renkei_observe::aggregate::read_capture(
                    &mut agg, // The reader buffers by itself.
                    file,
                    &mut unknown_links,
                ) {
                    Ok(Some(damage)) => say!(
                        "renkei: {}: {damage} (what came before is counted)",
                        f.display()
                    ),
                    Ok(None) => {}
                    Err(e) => {
                        say!("renkei: {}: {e}", f.display());
                        bad = true;
                    }
                }
            }
            if !log.is_empty() {
                let now = renkei_core::time::Clock::system().now();
                for f in &log {
                    let read = std::fs::File::open(f).and_then(|file| {
                        renkei_observe::aggregate::read_log(
                            &mut agg,
                            std::io::BufReader::new(file),
                            now,
                        )
                    });
                    if let Err(e) = read {
                        say!("renkei: {}: {e}", f.display());
                        bad = true;
                    }
                }
            }
            let buckets = agg.finish();
            let mut stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            for (link, n) in &unknown_links {
                say!("renkei: {n} records of link type {link} are not read (counted as unparsed)");
            }
            Summary::write_json(&buckets, seconds, &unknown_links, &mut stdout)?;
            writeln!(stdout)?;
            stdout.flush()?;
            // Hundreds of thousands of small source lists would be freed one by one
            // just before the process ends and the system takes them back at once.
            std::mem::forget(buckets);
            Ok(ExitCode::from(if bad { 2 } else { 0 }))
        }
        ObserveCommand::Synth {
            packets,
            sources,
            start,
            hours,
            seed,
            out,
        } => {
            let start = chrono::DateTime::parse_from_rfc3339(&start)
                .map_err(|e| renkei_core::CoreError::invalid("start", format!("{start:?}: {e}")))?;
            let file = std::fs::File::create(&out)
                .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            renkei_observe::synth::Synth {
                packets,
                sources,
                start: start.timestamp(),
                seconds: hours.max(1) * 3600,
                seed,
            }
            .write(&mut w)?;
            std::io::Write::flush(&mut w)?;
            Ok(ExitCode::SUCCESS)
        }
        ObserveCommand::AddSensor {
            name,
            location,
            range,
            public_key,
        } => {
            let store = store.ok_or_else(|| anyhow::anyhow!("no database"))?;
            let (sensor, token) = renkei_observe::collector::register(
                store,
                &renkei_core::audit::Actor::system("cli"),
                renkei_observe::collector::NewSensor {
                    name,
                    location,
                    address_range: range,
                    public_key,
                },
            )
            .await?;
            out!("{}", serde_json::json!({"sensor": sensor, "token": token}));
            Ok(ExitCode::SUCCESS)
        }
        ObserveCommand::Trends { from, to } => {
            let store = store.ok_or_else(|| anyhow::anyhow!("no database"))?;
            let settings = renkei_observe::Settings::from_config(config);
            let period =
                renkei_observe::stats::Period::between(&from, to.as_deref().unwrap_or(&from))?;
            let mut n = 0;
            for day in period.days() {
                for t in renkei_observe::trends::compute_day(store, &settings, &day).await? {
                    n += 1;
                    out!("{}", serde_json::to_string(&t)?);
                }
            }
            say!("renkei: {n} trend notes over {} days", period.days().len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Exit 1 while batches are left in the spool or were rejected.
fn unsent(sent: &sensor::Sent) -> ExitCode {
    ExitCode::from(u8::from(sent.pending > 0 || sent.rejected > 0))
}

pub async fn sensor(args: SensorArgs) -> anyhow::Result<ExitCode> {
    let spool = Spool::open(&args.spool)?;
    if args.print_key {
        out!("{}", spool.key()?.public());
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(url), Some(name)) = (args.collector, args.name) else {
        say!("renkei: give --collector and --name");
        return Ok(ExitCode::from(2));
    };
    let Some(token) = args.token else {
        say!("renkei: give the sensor's token with --token or RENKEI_TOKEN");
        return Ok(ExitCode::from(2));
    };
    let collector = Collector::new(&url, &token);
    if args.send_only {
        let waiting = spool.pending()?.len();
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sent = sensor::drain(
            &collector,
            &spool,
            stop_rx,
            std::time::Duration::from_secs(args.retry_for),
        )
        .await?;
        out!(
            "{}",
            serde_json::json!({
                "batches": waiting, "accepted": sent.accepted, "duplicates": sent.duplicates,
                "rejected": sent.rejected, "pending": sent.pending,
            })
        );
        return Ok(unsent(&sent));
    }
    let input = if !args.pcap.is_empty() {
        Input::Pcap(args.pcap)
    } else if !args.log.is_empty() {
        Input::Log(args.log)
    } else if let Some(i) = args.interface {
        Input::Interface(i)
    } else {
        say!("renkei: give --pcap FILE…, --log FILE… or --interface IF");
        return Ok(ExitCode::from(2));
    };
    let config = SensorConfig {
        name,
        bucket_seconds: bucket_seconds(&args.bucket)?,
        spool: args.spool.clone(),
        input,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // SIGTERM from systemd stops a sensor as Ctrl-C does: the spool is flushed.
    let stop = crate::shutdown_signal()?;
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    if let Input::Interface(_) = &config.input {
        #[cfg(feature = "capture")]
        {
            sensor::run_live(config, collector, spool, stop_rx).await?;
            return Ok(ExitCode::SUCCESS);
        }
        #[cfg(not(feature = "capture"))]
        {
            let _ = (collector, stop_rx);
            say!(
                "renkei: this build has no live capture; build with --features capture (needs libpcap-dev)"
            );
            return Ok(ExitCode::from(2));
        }
    }
    let (seqs, packets) = sensor::spool_files(&config, &spool)?;
    let sent = sensor::drain(
        &collector,
        &spool,
        stop_rx,
        std::time::Duration::from_secs(args.retry_for),
    )
    .await?;
    out!(
        "{}",
        serde_json::json!({
            "packets": packets, "batches": seqs.len(), "accepted": sent.accepted,
            "duplicates": sent.duplicates, "rejected": sent.rejected, "pending": sent.pending,
        })
    );
    Ok(unsent(&sent))
}
