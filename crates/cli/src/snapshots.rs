//! `renkei backup`, `renkei restore` and `renkei store copy`: the store as a whole,
//! through `renkei_core::snapshot`, with progress on stderr and a JSON summary on
//! stdout.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use renkei_core::Store;
use renkei_core::config::Config;
use renkei_core::snapshot::{self, Progress};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy every table of one database into another, empty one (a team moving from
    /// SQLite to PostgreSQL): in batches, with progress; run it again to resume a
    /// copy that stopped. Stop the server on the source first. Prints {"rows",
    /// "tables", "audit_seq", …}.
    Copy {
        /// The source database, e.g. sqlite:///var/lib/renkei/renkei.db
        #[arg(long, value_name = "URL")]
        from: String,
        /// The target database, e.g. postgres://renkei@db.example/renkei
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// Prints where a long run is: each table with rows when it is done, and a long
/// one every two seconds meanwhile.
fn reporter(verb: &'static str) -> impl FnMut(Progress<'_>) + Send {
    let mut last = Instant::now();
    move |p: Progress<'_>| {
        let done = p.of.is_some_and(|of| p.rows >= of);
        if (done && p.rows > 0) || last.elapsed() >= Duration::from_secs(2) {
            match p.of {
                Some(of) if !done => say!("renkei: {verb} {}: {} of {of} rows", p.table, p.rows),
                _ => say!("renkei: {verb} {}: {} rows", p.table, p.rows),
            }
            last = Instant::now();
        }
    }
}

pub async fn backup(store: &Store, out: &Path) -> anyhow::Result<ExitCode> {
    let mut report = reporter("backing up");
    let summary = snapshot::backup(store, out, env!("CARGO_PKG_VERSION"), &mut report).await?;
    out!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(config: &Config, from: &Path, check: bool) -> anyhow::Result<ExitCode> {
    if check {
        let summary = snapshot::check(from).await?;
        out!("{}", serde_json::to_string(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Checked before the store is opened: a damaged file creates nothing.
    let verified = snapshot::verify(from).await?;
    let store = crate::open_store(config).await?;
    let mut report = reporter("restoring");
    let summary = snapshot::restore(&store, &verified, &mut report).await?;
    reindex(&store).await?;
    out!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

pub async fn store(cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StoreCommand::Copy { from, to } => {
            let source = Store::open(&from, 4).await?;
            let target = Store::open(&to, 4).await?;
            let mut report = reporter("copying");
            let summary = snapshot::copy(
                &source,
                &target,
                &crate::redact(&from),
                env!("CARGO_PKG_VERSION"),
                &mut report,
            )
            .await?;
            reindex(&target).await?;
            target.analyze().await?;
            out!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Builds the full-text index of restored reports again (a snapshot leaves it out:
/// each dialect keeps it its own way), so that search answers as soon as the
/// command returns.
pub(crate) async fn reindex(store: &Store) -> anyhow::Result<()> {
    let mut indexed = 0usize;
    let mut last = Instant::now();
    loop {
        let n = renkei_incident::search::backfill(store, 2_000).await?;
        if n == 0 {
            break;
        }
        indexed += n;
        if last.elapsed() >= Duration::from_secs(2) {
            say!("renkei: indexing for search: {indexed} rows");
            last = Instant::now();
        }
    }
    Ok(())
}
