//! `examples/mount_issuer.rs` as a process: it listens where
//! `MOUNT_ISSUER_LISTEN` says, prints the address it bound, and a busy
//! address is named in its error.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// target/debug/examples/mount_issuer, built now (a no-op when it is fresh,
/// so the test never runs a stale build).
fn example_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "m2m-auth", "--example", "mount_issuer"])
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build --example mount_issuer");
    dir.join("examples")
        .join(format!("mount_issuer{}", std::env::consts::EXE_SUFFIX))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mount_issuer_listens_where_told_and_names_a_busy_address() {
    let bin = example_binary();

    // A taken port: the example fails, and says which address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("addr").to_string();
    let mut child = Running(
        Command::new(&bin)
            .env("MOUNT_ISSUER_LISTEN", &busy)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the example"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "it kept running on {busy}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&busy), "the error names {busy}: {stderr}");
    drop(taken);

    // Port 0: it binds a free port and prints it.
    let mut child = Running(
        Command::new(&bin)
            .env("MOUNT_ISSUER_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the example"),
    );
    let stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    // Lines come through a channel, so the wait for them is bounded.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a `listening on` line within 30 s");
        if let Some(address) = line.strip_prefix("listening on http://") {
            break address.to_owned();
        }
    };
    let port: u16 = address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("an address with a port: {address}"));
    assert_ne!(port, 0, "{address}");
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::io::Write::write_all(
        &mut stream,
        format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("write");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}
