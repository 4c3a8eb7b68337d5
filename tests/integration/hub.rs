//! `--model` as a Hub id: downloaded from `HF_ENDPOINT` (here a fake hub on localhost serving
//! all-MiniLM-L6-v2's files) into `HF_HOME`, then found there again with `HF_HUB_OFFLINE=1`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

/// Serves `GET /<repo>/resolve/main/<file>` from `dir` with the headers hf-hub reads
/// (etag, x-repo-commit, content-range) and byte ranges; 404 for anything else.
fn fake_hub(dir: PathBuf, repo: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut range = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    let (a, b) = v.trim().split_once('-').unwrap();
                    range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().ok()));
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let prefix = format!("/{repo}/resolve/main/");
            let file = path.strip_prefix(&prefix).map(|f| dir.join(f)).filter(|p| p.is_file());
            let Some(file) = file else {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            };
            let body = std::fs::read(&file).unwrap();
            let (start, end) = match range {
                Some((a, b)) => (a, b.unwrap_or(body.len() - 1).min(body.len() - 1)),
                None => (0, body.len() - 1),
            };
            let head = format!(
                "HTTP/1.1 206 Partial Content\r\netag: \"{:x}\"\r\nx-repo-commit: {}\r\ncontent-range: bytes {start}-{end}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len(),
                "0123456789abcdef0123456789abcdef01234567",
                body.len(),
                end + 1 - start
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body[start..=end]);
        }
    });
    format!("http://{addr}")
}

#[test]
fn downloads_a_hub_id_once_then_works_offline() {
    let endpoint = fake_hub(minilm_dir(), "sentence-transformers/all-MiniLM-L6-v2");
    let hf_home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let train = |offline: bool, model: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_webtune"));
        cmd.args(["train", "--model", model, "--backend", "cpu", "--max-steps", "1", "--max-train-samples", "8"])
            .args(["--max-eval-samples", "8", "--quiet", "--output-dir", out.path().to_str().unwrap()])
            .arg("--data")
            .arg(glue("MRPC"))
            .env("HF_HOME", hf_home.path())
            .env_remove("HF_HUB_OFFLINE");
        if offline {
            cmd.env("HF_HUB_OFFLINE", "1").env("HF_ENDPOINT", "http://127.0.0.1:9");
        } else {
            cmd.env("HF_ENDPOINT", &endpoint);
        }
        cmd.output().unwrap()
    };
    let online = train(false, "sentence-transformers/all-MiniLM-L6-v2");
    assert!(online.status.success(), "{}", String::from_utf8_lossy(&online.stderr));
    let cached = hf_home.path().join("hub/models--sentence-transformers--all-MiniLM-L6-v2");
    assert!(cached.exists(), "nothing was cached under HF_HOME");

    let offline = train(true, "sentence-transformers/all-MiniLM-L6-v2");
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));

    let missing = train(true, "nobody/no-such-model");
    assert!(!missing.status.success());
    let msg = String::from_utf8_lossy(&missing.stderr);
    assert!(msg.contains("nobody/no-such-model") && msg.contains("HF_HUB_OFFLINE"), "{msg}");
}
