//! OpenTelemetry traces as an operator turns them on: `renkei serve` with
//! `log.otlp_endpoint` sends a span for each request (with its request id, method and
//! path) and each background job's run, over OTLP/HTTP with JSON, to a collector (here
//! a receiver on loopback that keeps what it is sent), and what is still batched when
//! the server stops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Accepts OTLP/HTTP posts and keeps each body.
async fn collector() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    kept.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if reader.get_mut().write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sends_a_span_for_each_request_and_job_run_to_the_otlp_collector() {
    let (endpoint, bodies) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        serve.env_remove(var);
    }
    let mut child = serve
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "RENKEI_DATABASE_URL",
            format!("sqlite://{}/renkei.db", dir.path().display()),
        )
        .env("RENKEI_LOG__OTLP_ENDPOINT", &endpoint)
        .env("RENKEI_LOG__LEVEL", "info")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the server starts")
            .unwrap()
            .expect("the server is still running");
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let r = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The heartbeat job runs at start and every ten seconds.
    let seen = |what: &str| bodies.lock().unwrap().iter().any(|b| b.contains(what));
    for _ in 0..100 {
        if seen("trace-me-42") && seen("heartbeat") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A graceful stop sends what is left.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let all = bodies.lock().unwrap().join("\n");
    assert!(!all.is_empty(), "nothing reached the collector");
    let json: Vec<serde_json::Value> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let spans: Vec<&serde_json::Value> = json
        .iter()
        .flat_map(|b| b["resourceSpans"].as_array().into_iter().flatten())
        .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|s| s["spans"].as_array().into_iter().flatten())
        .collect();
    let attribute = |span: &serde_json::Value, key: &str| -> Option<String> {
        span["attributes"]
            .as_array()?
            .iter()
            .find(|a| a["key"] == key)
            .and_then(|a| a["value"]["stringValue"].as_str().map(str::to_string))
    };
    let request = spans
        .iter()
        .find(|s| {
            s["name"] == "request" && attribute(s, "request_id").as_deref() == Some("trace-me-42")
        })
        .unwrap_or_else(|| panic!("no request span in {all}"));
    assert_eq!(attribute(request, "method").as_deref(), Some("GET"));
    assert_eq!(attribute(request, "path").as_deref(), Some("/healthz"));
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "job" && attribute(s, "job").as_deref() == Some("heartbeat")),
        "no job span in {all}"
    );
    assert!(
        all.contains("\"service.name\"") && all.contains("\"renkei\""),
        "{all}"
    );
}
