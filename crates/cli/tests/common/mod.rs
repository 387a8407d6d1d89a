//! The `renkei` binary as the command-line tests run it: none of the caller's
//! configuration, quiet logs, its JSON answer and its words on stderr.

use std::process::Output;

use serde_json::Value;

pub fn renkei() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        c.env_remove(var);
    }
    c.env("RENKEI_LOG__LEVEL", "warn");
    c.kill_on_drop(true);
    c
}

/// The last line of stdout, as JSON.
pub fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("null"))
        .unwrap_or_else(|e| panic!("{e}: {text} / {}", String::from_utf8_lossy(&out.stderr)))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
