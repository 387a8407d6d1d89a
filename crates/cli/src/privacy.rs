//! `renkei retention` and `renkei erase`: personal data kept no longer than the
//! team decided, and a person removed on request, through
//! `renkei_core::privacy`. JSON on stdout, what happened in words on stderr.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use renkei_core::Store;
use renkei_core::audit::Actor;
use renkei_core::config::Config;
use renkei_core::privacy::{erasure, retention};

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Remove what is older than `[retention]` keeps it, as the server does once a
    /// day, and record the run for the operations page. Prints {"kind": rows, …}
    /// (feed_events counts events).
    Run {
        /// Count what would go; remove and record nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The latest runs, newest first, as JSON lines.
    Runs {
        #[arg(long, default_value_t = 10)]
        limit: i64,
    },
}

#[derive(Args)]
pub struct EraseArgs {
    /// The person's e-mail address, found wherever it is kept, in any case.
    #[arg(long, value_name = "ADDRESS")]
    address: Option<String>,
    /// The person's name as written (山田太郎, Taro Yamada), found as a whole word.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Show every place the person is found; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn retention(
    store: &Store,
    config: &Config,
    cmd: RetentionCommand,
) -> anyhow::Result<ExitCode> {
    match cmd {
        RetentionCommand::Run { dry_run: true } => {
            let would = retention::run(store, &config.retention, true).await?;
            out!("{}", serde_json::to_string(&would)?);
        }
        RetentionCommand::Run { dry_run: false } => {
            let node = format!("cli:{}", renkei_core::nodes::new_node_id());
            let run = retention::run_recorded(store, &config.retention, &node).await?;
            crate::snapshots::reindex(store).await?;
            out!("{}", serde_json::to_string(&run.removed)?);
        }
        RetentionCommand::Runs { limit } => {
            for run in retention::runs(store, limit).await? {
                out!("{}", serde_json::to_string(&run)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn erase(store: &Store, args: EraseArgs) -> anyhow::Result<ExitCode> {
    let person = erasure::Person::parse(args.address.as_deref(), args.name.as_deref())?;
    let who = [person.address.as_deref(), person.name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let found = erasure::find(store, &person).await?;
    if found.places.is_empty() {
        say!("renkei: nothing kept here names {who}; nothing changed");
        out!("{}", serde_json::to_string(&found)?);
        return Ok(ExitCode::from(2));
    }
    if args.dry_run {
        say!(
            "renkei: {who} is found in {} rows; nothing changed (dry run)",
            found.rows()
        );
        out!("{}", serde_json::to_string(&found)?);
        return Ok(ExitCode::SUCCESS);
    }
    let done = erasure::erase(store, &person, &Actor::system("erase")).await?;
    // The text index still has the old words until these reports are indexed again.
    crate::snapshots::reindex(store).await?;
    say!(
        "renkei: {who} replaced by {} in {} rows",
        done.pseudonym,
        done.rows()
    );
    if let Some(n) = done.kept.get("audit_log.changes") {
        say!(
            "renkei: {n} audit log entries name them and stay as written (the log is append-only)"
        );
    }
    out!("{}", serde_json::to_string(&done)?);
    Ok(ExitCode::SUCCESS)
}
