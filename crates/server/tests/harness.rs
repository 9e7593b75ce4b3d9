//! Starts `m2m serve` as a child process on a port of its own and talks to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_m2m");

/// A fresh temporary folder, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let nonce: u64 = u64::from_le_bytes(m2m_core::random_bytes().expect("randomness"));
        let path = std::env::temp_dir().join(format!("m2m-{tag}-{nonce:x}"));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long a server gets to start (a debug build, a fresh database, maybe an
/// RSA key) before the test fails with its log.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A port on 127.0.0.1 that is bound but not listening: connections to it are
/// refused, and no other process can take it while this value lives.
pub(crate) struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub(crate) port: u16,
}

impl ClosedPort {
    pub(crate) fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind a port");
        let port = socket.local_addr().expect("address").port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// A `m2m` command with a clean environment (no M2M_* from the caller).
pub(crate) fn m2m(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("M2M_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// A running `m2m serve`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) endpoint: String,
    pub(crate) admin_file: PathBuf,
    pub(crate) log: PathBuf,
}

/// Options for [`start`].
#[derive(Default, Clone)]
pub(crate) struct Options {
    pub(crate) database: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) args: Vec<String>,
    pub(crate) log_name: Option<String>,
}

impl Server {
    /// Starts `m2m serve --listen 127.0.0.1:0` and waits for its ready file,
    /// which names the port it bound.
    pub(crate) fn start(dir: &Path, options: Options) -> Server {
        let admin_file = dir.join("m2m-admin.json");
        let log = dir.join(options.log_name.as_deref().unwrap_or("server.log"));
        let ready_file = log.with_extension("ready");
        // Never read a ready file an earlier server in this folder left behind.
        match std::fs::remove_file(&ready_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                panic!("cannot remove {}: {e}", ready_file.display())
            }
            _ => {}
        }
        let database = options
            .database
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("m2m.db").display()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut command = m2m(dir);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--ready-file", &ready_file.display().to_string()])
            .args(["--database", &database])
            .args(["--bootstrap-admin-file", &admin_file.display().to_string()])
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file);
        let child = command.spawn().expect("spawn m2m serve");
        let mut server = Server {
            child,
            endpoint: String::new(),
            admin_file,
            log,
        };
        server.endpoint = server.wait_ready(&ready_file);
        server
    }

    /// Waits, at most [`START_TIMEOUT`], for the ready file and then for a 200
    /// from `/healthz` at the address it names; returns that address.
    pub(crate) fn wait_ready(&mut self, ready_file: &Path) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut endpoint = None;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("m2m serve exited early ({status}):\n{}", self.log_text());
            }
            if endpoint.is_none() {
                // The server writes the whole line and then renames it into place.
                endpoint = std::fs::read_to_string(ready_file)
                    .ok()
                    .map(|line| line.trim_end().to_owned());
            }
            if let Some(endpoint) = &endpoint
                && let Ok((200, _)) = ureq_get(&format!("{endpoint}/healthz"))
            {
                return endpoint.clone();
            }
            if Instant::now() >= deadline {
                let what = match &endpoint {
                    None => format!("wrote no ready file {}", ready_file.display()),
                    Some(endpoint) => format!("answered no 200 on {endpoint}/healthz"),
                };
                panic!(
                    "m2m serve {what} within {START_TIMEOUT:?}; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs an admin CLI command against this server.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        let dir = self.admin_file.parent().expect("dir");
        m2m(dir)
            .args(["--endpoint", &self.endpoint])
            .args(["--admin-file", &self.admin_file.display().to_string()])
            .args(args)
            .output()
            .expect("run m2m")
    }

    /// Runs a CLI command that must succeed and print JSON.
    pub(crate) fn cli_json(&self, args: &[&str]) -> Value {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "m2m {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "m2m {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!(
            "m2m serve did not exit within 10 s of SIGTERM; its log:\n{}",
            self.log_text()
        );
    }

    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A minimal blocking HTTP/1.1 GET or POST over a TCP stream: enough for the
/// tests, with no client library in the way. Returns (status, headers, body).
pub(crate) fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    use std::io::{Read as _, Write as _};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("http only"))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, head.to_owned(), body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

pub(crate) fn ureq_get(url: &str) -> std::io::Result<(u16, String)> {
    http("GET", url, &[], "").map(|(s, _, b)| (s, b))
}

/// Reads the admin file.
pub(crate) fn admin_credentials(server: &Server) -> (String, String) {
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&server.admin_file).expect("admin file"))
            .expect("admin file JSON");
    (
        json["client_id"].as_str().expect("client_id").to_owned(),
        json["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    )
}

/// Gets a token with client credentials (client_secret_post), returning (status, body JSON).
pub(crate) fn token(endpoint: &str, client_id: &str, secret: &str) -> (u16, Value) {
    let body = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ])
    .expect("form");
    let (status, _, body) = http(
        "POST",
        &format!("{endpoint}/oauth/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &body,
    )
    .expect("token request");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}
