//! The binary as scripts and operators use it: serve, check-config, admin, audit verify.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use renkei_core::access::Role;
use renkei_testkit::{Backend, FreshDatabase, TestServer, both_backends};

fn renkei() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_renkei"));
    // The tests say everything on the command line; nothing may leak in from outside.
    for var in [
        "RENKEI_DATABASE_URL",
        "RENKEI_CONFIG",
        "RENKEI_LISTEN",
        "RENKEI_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = renkei().args(args).output().expect("renkei runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn tamper(srv: &TestServer, sql: &[&str]) {
    for statement in sql {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(srv.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

fn drop_guards(backend: Backend) -> Vec<&'static str> {
    match backend {
        Backend::Sqlite => vec![
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        Backend::Postgres => vec!["DROP TRIGGER audit_log_no_update ON audit_log"],
    }
}

/// What an attacker with write access to the database does to hide a row: rewrite
/// it, then recompute its hash and every later one, and the head.
async fn rewrite_and_rechain(srv: &TestServer, seq: i64) {
    use sha2::Digest as _;
    tamper(
        srv,
        &[&format!(
            "UPDATE audit_log SET changes = '{{\"forged\":true}}' WHERE seq = {seq}"
        )],
    )
    .await;
    type Row = (
        i64,
        String,
        Option<i64>,
        String,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as("SELECT seq, at, actor_user_id, actor, action, object_type, object_id, changes FROM audit_log ORDER BY seq")
        .fetch_all(srv.store.pool())
        .await
        .unwrap();
    let mut prev = String::new();
    for (s, at, uid, actor, action, ot, oid, changes) in rows {
        let canonical =
            serde_json::json!([prev, s, at, uid, actor, action, ot, oid, changes]).to_string();
        let hash = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
        sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(s)
            .execute(srv.store.pool())
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(srv.store.pool())
        .await
        .unwrap();
}

both_backends! {
    async fn signed_checkpoints_expose_a_log_cut_short_or_rewritten_that_the_chain_alone_accepts(srv) {
        for role in [Role::Coordinator, Role::Vendor, Role::Constituent, Role::Admin] {
            srv.user(role).await;
        }
        let url = srv.database.url.clone();
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = renkei_mail::pgp::generate("Renkei CSIRT <csirt@renkei.example>").unwrap();
        let key_file = dir.path().join("team.asc");
        std::fs::write(&key_file, secret).unwrap();
        let public_file = dir.path().join("team.pub.asc");
        std::fs::write(&public_file, &public).unwrap();
        let checkpoints = dir.path().join("checkpoints.jsonl");
        let key_env = key_file.to_str().unwrap();
        let with_key = |args: &[&str]| {
            let out = renkei().args(args).env("RENKEI_MAIL__SIGNING_KEY_FILE", key_env).output().unwrap();
            (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let cp = checkpoints.to_str().unwrap();
        let (code, out, err) = with_key(&["audit", "checkpoint", "--database-url", &url, "--out", cp]);
        assert_eq!(code, 0, "{err}");
        let taken: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let at_seq = taken["seq"].as_i64().unwrap();
        assert!(at_seq >= 4 && taken["signature"].as_str().unwrap().contains("BEGIN PGP SIGNATURE"), "{taken}");
        let (code, out, err) = with_key(&["audit", "verify", "--database-url", &url, "--checkpoints", cp]);
        assert_eq!(code, 0, "{out}{err}");
        // Written later, and the log goes on.
        srv.user(Role::Coordinator).await;
        let (code, _, err) = run(&["audit", "verify", "--database-url", &url, "--checkpoints", cp, "--public-key", public_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");

        // A forged checkpoint (edited, so its signature no longer fits) is refused.
        let forged = std::fs::read_to_string(&checkpoints).unwrap().replace(&format!("\"seq\":{at_seq}"), &format!("\"seq\":{}", at_seq - 1));
        let forged_file = dir.path().join("forged.jsonl");
        std::fs::write(&forged_file, forged).unwrap();
        let (code, _, err) = with_key(&["audit", "verify", "--database-url", &url, "--checkpoints", forged_file.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(err.contains("signature"), "{err}");

        // Rewriting row 2 with every later hash recomputed: the chain holds, the checkpoint does not.
        tamper(&srv, &drop_guards(srv.backend)).await;
        rewrite_and_rechain(&srv, 2).await;
        let (code, out, _) = run(&["audit", "verify", "--database-url", &url]);
        assert_eq!(code, 0, "the chain alone is fooled: {out}");
        let (code, out, err) = with_key(&["audit", "verify", "--database-url", &url, "--checkpoints", cp]);
        assert_eq!(code, 1, "{out}{err}");
        let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(verdict["first_bad_seq"], at_seq);
        assert!(err.contains("rewritten"), "{err}");
    }

    async fn signed_checkpoints_expose_rows_cut_off_the_end_with_the_head_wound_back(srv) {
        for role in [Role::Coordinator, Role::Vendor, Role::Constituent] {
            srv.user(role).await;
        }
        let url = srv.database.url.clone();
        let dir = tempfile::tempdir().unwrap();
        let (secret, _) = renkei_mail::pgp::generate("Renkei CSIRT <csirt@renkei.example>").unwrap();
        let key_file = dir.path().join("team.asc");
        std::fs::write(&key_file, secret).unwrap();
        let cp = dir.path().join("checkpoints.jsonl");
        let with_key = |args: &[&str]| {
            let out = renkei().args(args).env("RENKEI_MAIL__SIGNING_KEY_FILE", &key_file).output().unwrap();
            (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let (code, out, err) = with_key(&["audit", "checkpoint", "--database-url", &url, "--out", cp.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let at_seq = serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["seq"].as_i64().unwrap();
        // Cut the last two rows and wind the head back to the row before them.
        tamper(&srv, &drop_guards(srv.backend)).await;
        if srv.backend == Backend::Postgres {
            tamper(&srv, &["DROP TRIGGER IF EXISTS audit_log_no_delete ON audit_log"]).await;
        }
        tamper(&srv, &[
            &format!("DELETE FROM audit_log WHERE seq > {}", at_seq - 2),
            &format!("UPDATE audit_head SET seq = {0}, hash = (SELECT hash FROM audit_log WHERE seq = {0}) WHERE id = 1", at_seq - 2),
        ]).await;
        let (code, out, _) = run(&["audit", "verify", "--database-url", &url]);
        assert_eq!(code, 0, "the chain alone is fooled: {out}");
        let (code, out, err) = with_key(&["audit", "verify", "--database-url", &url, "--checkpoints", cp.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("removed from the end"), "{err}");
    }

    async fn audit_verify_names_the_first_altered_row(srv) {
        for role in [Role::Coordinator, Role::Vendor, Role::Constituent] {
            srv.user(role).await;
        }
        let url = srv.database.url.clone();
        let (code, out, err) = run(&["audit", "verify", "--database-url", &url]);
        assert_eq!(code, 0, "{out}{err}");
        let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(verdict["status"], "intact");
        let rows = verdict["rows"].as_i64().unwrap();
        assert!(rows >= 5, "{verdict}");

        // The database itself refuses edits to the log...
        let refused = sqlx::query("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2").execute(srv.store.pool()).await;
        assert!(refused.is_err(), "the append-only trigger should refuse UPDATE");
        // ...so an attacker first removes the guard, then edits row 2.
        tamper(&srv, &drop_guards(srv.backend)).await;
        tamper(&srv, &["UPDATE audit_log SET changes = '{\"role\":\"admin\"}' WHERE seq = 2"]).await;
        let (code, out, err) = run(&["audit", "verify", "--database-url", &url]);
        assert_eq!(code, 1, "{out}{err}");
        let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(verdict["status"], "broken");
        assert_eq!(verdict["first_bad_seq"], 2);
        assert!(err.contains("row 2"), "{err}");
    }

    async fn audit_verify_notices_rows_removed_from_the_middle_or_the_end(srv) {
        for role in [Role::Coordinator, Role::Vendor] {
            srv.user(role).await;
        }
        let url = srv.database.url.clone();
        let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log").fetch_one(srv.store.pool()).await.unwrap();
        tamper(&srv, &drop_guards(srv.backend)).await;
        tamper(&srv, &[&format!("DELETE FROM audit_log WHERE seq = {last}")]).await;
        let (code, out, _) = run(&["audit", "verify", "--database-url", &url]);
        assert_eq!(code, 1);
        let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(verdict["first_bad_seq"], last, "removing the newest row shows against the head");
        tamper(&srv, &["DELETE FROM audit_log WHERE seq = 2"]).await;
        let (code, out, _) = run(&["audit", "verify", "--database-url", &url]);
        assert_eq!(code, 1);
        let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(verdict["first_bad_seq"], 2);
    }

    async fn admin_create_user_prints_a_one_time_password_that_signs_in(srv) {
        let org = srv.org("Example Vendor KK", renkei_core::orgs::OrgKind::Vendor).await;
        let url = srv.database.url.clone();
        let (code, out, err) = run(&["admin", "create-user", "--database-url", &url, "--email", "psirt@vendor.example", "--role", "vendor", "--org", "example vendor kk"]);
        assert_eq!(code, 0, "{err}");
        let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(created["role"], "vendor");
        let password = created["password"].as_str().unwrap();
        let outcome = renkei_core::accounts::login(&srv.store, "psirt@vendor.example", password, "test").await.unwrap();
        assert!(matches!(outcome, renkei_core::accounts::LoginOutcome::Success(ref u) if u.org_id == Some(org)));
        let (code, _, err) = run(&["admin", "create-user", "--database-url", &url, "--email", "x@vendor.example", "--role", "vendor"]);
        assert_eq!(code, 2, "a vendor without an organization is bad input");
        assert!(err.contains("org_id"), "{err}");
        let (code, _, err) = run(&["admin", "create-user", "--database-url", &url, "--email", "y@example.org", "--role", "boss"]);
        assert_eq!(code, 2);
        assert!(err.contains("unknown role"), "{err}");
        let (code, out, err) = run(&["admin", "create-user", "--database-url", &url, "--email", "sensor-1@csirt.example", "--role", "sensor"]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("password"), "sensors get no password");
        let (code, out, err) = run(&["admin", "create-token", "--database-url", &url, "--email", "sensor-1@csirt.example", "--name", "tokyo-1"]);
        assert_eq!(code, 0, "{err}");
        let issued = serde_json::from_str::<serde_json::Value>(out.trim()).unwrap();
        assert_eq!(issued["scopes"], serde_json::json!(["sensor"]), "a sensor's token sends batches and nothing else");
        let secret = issued["secret"].as_str().unwrap().to_string();
        let r = reqwest::Client::new().get(srv.url("/api/v1/me")).bearer_auth(secret).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let (code, _, err) = run(&["admin", "create-token", "--database-url", &url, "--email", "sensor-1@csirt.example", "--name", "wide", "--scopes", "sensor,admin"]);
        assert_eq!(code, 2, "a sensor account's token gets no admin scope");
        assert!(err.contains("scopes"), "{err}");
    }
}

#[test]
fn check_config_accepts_the_sample_and_rejects_unknown_keys_with_exit_2() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../renkei.sample.toml");
    let (code, out, err) = run(&["serve", "--check-config", "--config", sample]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listen = \"127.0.0.1:8080\""), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"127.0.0.1:8080\"\nlisen = 1\n").unwrap();
    let (code, _, err) = run(&["serve", "--check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("lisen") && err.lines().count() <= 8, "{err}");
    let (code, out, _) = run(&[
        "serve",
        "--check-config",
        "--config",
        sample,
        "--listen",
        "0.0.0.0:9000",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0.0.0.0:9000"),
        "the flag wins over the file: {out}"
    );
    let out = renkei()
        .args(["serve", "--check-config", "--config", sample])
        .env(
            "RENKEI_DATABASE_URL",
            "postgres://renkei:secret@db.example/renkei",
        )
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("postgres://renkei:***@db.example/renkei"),
        "the environment wins over the file, and the password is hidden: {shown}"
    );
    let (code, _, _) = run(&["no-such-command"]);
    assert_eq!(code, 2);
}

/// Starts `renkei serve` as an operator would and waits for its address on stderr.
fn spawn_serve(
    database_url: &str,
    data_dir: &std::path::Path,
) -> (std::process::Child, String, Vec<String>) {
    let mut child = renkei()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .current_dir(data_dir)
        .env("RENKEI_LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the test stops listening, like a log collector would.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut address = None;
    let mut setup_seen = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline && !(address.is_some() && setup_seen) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.strip_prefix("renkei: serving on ") {
                address = rest.split_whitespace().next().map(str::to_string);
            }
            if line.contains("/setup/") {
                setup_seen = true;
            }
            lines.push(line);
        }
    }
    let address =
        address.unwrap_or_else(|| panic!("renkei serve did not say where it listens: {lines:?}"));
    (child, address, lines)
}

async fn serve_answers_and_stops_on_sigterm(backend: Backend) {
    let db = FreshDatabase::create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, lines) = spawn_serve(&db.url, dir.path());
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{address}/setup/"))),
        "first start prints the setup link: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('{') && l.contains("\"level\":\"INFO\"")),
        "JSON logs off a terminal: {lines:?}"
    );
    let health: serde_json::Value = reqwest::get(format!("{address}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["database"], "ok");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let exited = exited.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("renkei serve did not stop on SIGTERM")
    });
    assert!(exited.success(), "graceful shutdown exits 0: {exited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_sqlite_prints_the_setup_link_answers_and_stops_on_sigterm() {
    serve_answers_and_stops_on_sigterm(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_prints_the_setup_link_answers_and_stops_on_sigterm() {
    if !renkei_testkit::postgres_configured() {
        eprintln!("RENKEI_TEST_POSTGRES_URL is not set: PostgreSQL run skipped");
        return;
    }
    serve_answers_and_stops_on_sigterm(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_database_flag_creates_the_default_sqlite_file_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = renkei()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut seen = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.starts_with("renkei: serving on") {
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("sqlite://./data/renkei.db"), "{seen}");
    assert!(dir.path().join("data/renkei.db").exists());
    // A new file is announced with its absolute path, so that a second database
    // started by mistake in another directory does not go unnoticed.
    let absolute = std::fs::canonicalize(dir.path())
        .unwrap()
        .join("data/renkei.db");
    assert!(
        seen.contains(&format!("no database at {}", absolute.display()))
            || seen.contains(&format!(
                "no database at {}",
                dir.path().join("data/renkei.db").display()
            )),
        "{seen}"
    );
}

#[test]
fn serve_starts_the_smtp_intake_when_configured_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = renkei()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RENKEI_INTAKE__SMTP__LISTEN", "127.0.0.1:0")
        .env("RENKEI_INTAKE__SMTP__ADDRESSES", "incident@csirt.example")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut smtp = None;
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(addr) = line.trim().strip_prefix("renkei: SMTP intake on ") {
            smtp = Some(addr.to_string());
            break;
        }
        line.clear();
    }
    let addr = smtp.expect("serve announces the SMTP intake");
    let stream = std::net::TcpStream::connect(&addr).unwrap();
    let mut greeting = String::new();
    BufReader::new(stream).read_line(&mut greeting).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(greeting.starts_with("220 "), "{greeting}");
}
