//! moto server as a child process on loopback.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::DevError;

/// Starts moto server with its DynamoDB backend serialised (see the script for why).
const MOTO_LAUNCHER: &str = include_str!("moto_server.py");

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

pub async fn start(port: u16, log_dir: &Path) -> Result<Moto, DevError> {
    let log = std::fs::File::create(log_dir.join("moto.log"))
        .map_err(|e| DevError::Process(format!("moto log: {e}")))?;
    let log_err = log
        .try_clone()
        .map_err(|e| DevError::Process(e.to_string()))?;
    let python = python();
    let child = Command::new(&python)
        .args([
            "-c",
            MOTO_LAUNCHER,
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            DevError::Process(format!(
                "could not start moto server with {python} (`make tools` installs it into .venv): {e}"
            ))
        })?;
    // Port 0: moto binds a port of the system's choosing and names it in its log — no window
    // in which another server of this process could take a port picked for it.
    let port = match port {
        0 => announced_port(&log_dir.join("moto.log"), Duration::from_secs(30)).await?,
        p => p,
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_for_http(&format!("{endpoint}/moto-api/"), Duration::from_secs(30))
        .await
        .map_err(|_| {
            DevError::Process(format!(
                "moto server did not start; see {}",
                log_dir.join("moto.log").display()
            ))
        })?;
    Ok(Moto {
        endpoint,
        _child: child,
    })
}

/// The port in werkzeug's " * Running on http://127.0.0.1:PORT" line.
async fn announced_port(log: &Path, timeout: Duration) -> Result<u16, DevError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = text
            .lines()
            .find_map(|l| l.split("Running on http://127.0.0.1:").nth(1))
            .and_then(|rest| rest.trim().parse().ok());
        if let Some(port) = port {
            return Ok(port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(DevError::Process(format!(
        "moto server named no port; see {}",
        log.display()
    )))
}

impl Moto {
    /// The server's process id (a benchmark reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }
}

/// `PYTHON` (the Makefile points it at .venv), else the workspace's .venv, else `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    if Path::new(venv).exists() {
        return venv.to_string();
    }
    "python3".to_string()
}

/// Poll until a URL answers at all (any status).
pub async fn wait_for_http(url: &str, timeout: Duration) -> Result<(), ()> {
    let http = shared::runtime::net::client().expect("HTTP client");
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(())
}

/// A free loopback port (for `--*-port 0` under `cargo lambda watch`, which binds its own).
pub fn free_port() -> Result<u16, DevError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DevError::Process(format!("no free port: {e}")))
}
