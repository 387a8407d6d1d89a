//! Audit checkpoints, signed and sent out of the database's reach: the head of the
//! audit log (`renkei_core::audit::Checkpoint`) signed with the team's OpenPGP key,
//! appended as one JSON line to a file, written to the log (so to the system log
//! where the service's output goes), and mailed to an address of the operator's
//! choosing. `renkei audit verify --checkpoints FILE` holds the log against them.

use std::io::Write as _;
use std::path::Path;

use renkei_core::Store;
use renkei_core::audit::{self, Checkpoint};

use crate::outbox::{MailError, NewMail, enqueue};
use crate::pgp::{self, TeamKey};

/// Where a checkpoint goes besides the log.
#[derive(Debug, Clone, Default)]
pub struct Destinations<'a> {
    /// Appended to as one JSON line per checkpoint.
    pub file: Option<&'a Path>,
    /// `(from, to)`: mailed through the outbox, signed.
    pub mail: Option<(&'a str, &'a str)>,
}

/// Signs the head as it is now and sends it to `to`. Returns the checkpoint.
pub async fn take(
    store: &Store,
    key: &TeamKey,
    to: Destinations<'_>,
) -> Result<Checkpoint, MailError> {
    let mut c = audit::head(store).await?;
    c.signature = Some(key.sign_detached(c.statement().as_bytes())?);
    let line = serde_json::to_string(&c).map_err(|e| MailError::Checkpoint(e.to_string()))?;
    if let Some(path) = to.file {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| MailError::Checkpoint(format!("{}: {e}", path.display())))?;
        writeln!(f, "{line}")
            .and_then(|_| f.sync_data())
            .map_err(|e| MailError::Checkpoint(format!("{}: {e}", path.display())))?;
    }
    tracing::info!(target: "renkei::audit", seq = c.seq, hash = %c.hash, checkpoint = %line, "audit checkpoint");
    if let Some((from, rcpt)) = to.mail {
        let subject = format!("Renkei audit checkpoint: row {}", c.seq);
        let body = format!(
            "{}\nKeep this message: `renkei audit verify --checkpoints FILE` checks the audit log against\nsuch lines, one per line in FILE:\n\n{line}\n",
            c.statement()
        );
        let mut tx = store.begin().await?;
        enqueue(
            &mut tx,
            NewMail {
                kind: "audit.checkpoint",
                object_type: "audit",
                object_id: c.seq.to_string(),
                from,
                to: rcpt,
                subject: &subject,
                body: &body,
                in_reply_to: None,
                auto_reply: true,
                attachments: &[],
                sign: Some(key),
                cc: "",
                encrypt_to: &[],
                exercise: false,
            },
        )
        .await?;
        tx.commit().await?;
    }
    Ok(c)
}

/// Checks each checkpoint's signature against the team's armored public key; the
/// first that does not verify (or has none) is named by its row.
pub fn verify_signatures(public: &str, checkpoints: &[Checkpoint]) -> Result<(), MailError> {
    for c in checkpoints {
        let Some(sig) = &c.signature else {
            return Err(MailError::Checkpoint(format!(
                "the checkpoint of row {} is not signed",
                c.seq
            )));
        };
        pgp::verify_detached(public, c.statement().as_bytes(), sig).map_err(|e| {
            MailError::Checkpoint(format!("the checkpoint of row {} ({}): {e}", c.seq, c.at))
        })?;
    }
    Ok(())
}
