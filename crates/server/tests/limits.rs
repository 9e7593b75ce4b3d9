//! `m2m serve`'s connection limits: a deadline for the request head, an idle
//! timeout, a cap on the size of the head and on concurrent connections.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{Options, Server, TempDir, ureq_get};

/// How long a test waits for the server to close a connection: far more than
/// the one-second limits the servers here run with.
const CLOSE_WAIT: Duration = Duration::from_secs(20);

fn start(dir: &std::path::Path, args: &[&str]) -> Server {
    Server::start(
        dir,
        Options {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            ..Options::default()
        },
    )
}

fn connect(server: &Server) -> TcpStream {
    let host = server.endpoint.strip_prefix("http://").expect("http");
    let stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    stream
}

/// Whether the server has closed `stream` (end of file or reset), reading
/// and discarding anything it sent first.
fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Waits at most [`CLOSE_WAIT`] for the server to close every stream, calling
/// `between` on each round (to trickle bytes).
fn wait_all_closed(
    server: &Server,
    streams: &mut [TcpStream],
    mut between: impl FnMut(&mut TcpStream),
) {
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut open: Vec<usize> = (0..streams.len()).collect();
    while !open.is_empty() {
        open.retain(|&i| !closed(&mut streams[i]));
        for &i in &open {
            between(&mut streams[i]);
        }
        assert!(
            Instant::now() < deadline,
            "the server kept {} of {} connections open for {CLOSE_WAIT:?}; its log:\n{}",
            open.len(),
            streams.len(),
            server.log_text()
        );
    }
}

#[test]
fn half_sent_requests_and_silent_connections_are_closed() {
    let dir = TempDir::new("limits-header");
    // A long idle timeout: what closes these is the header-read timeout.
    let server = start(
        dir.path(),
        &["--header-read-timeout", "1", "--idle-timeout", "3600"],
    );
    let mut streams: Vec<TcpStream> = Vec::new();
    for i in 0..20 {
        let mut stream = connect(&server);
        if i % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .expect("write");
        }
        streams.push(stream);
    }
    // While they are held open, the server still answers.
    assert_eq!(
        ureq_get(&format!("{}/healthz", server.endpoint))
            .expect("healthz")
            .0,
        200
    );
    // A header line trickled on every round of the wait keeps each
    // connection busy but never finishes its head.
    wait_all_closed(&server, &mut streams, |stream| {
        let _ = stream.write_all(b"X-Slow: 1\r\n");
    });
    assert_eq!(
        ureq_get(&format!("{}/healthz", server.endpoint))
            .expect("healthz")
            .0,
        200
    );
}

#[test]
fn idle_connections_are_closed() {
    let dir = TempDir::new("limits-idle");
    // A long header-read timeout: what closes these is the idle timeout.
    let server = start(
        dir.path(),
        &["--header-read-timeout", "3600", "--idle-timeout", "1"],
    );
    let mut streams: Vec<TcpStream> = Vec::new();
    for _ in 0..10 {
        // A kept-alive connection, answered once and then silent: the head
        // deadline is an hour away, only the idle timeout can end this.
        let mut stream = connect(&server);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        streams.push(stream);
    }
    assert_eq!(
        ureq_get(&format!("{}/healthz", server.endpoint))
            .expect("healthz")
            .0,
        200
    );
    wait_all_closed(&server, &mut streams, |_| {});
    assert_eq!(
        ureq_get(&format!("{}/healthz", server.endpoint))
            .expect("healthz")
            .0,
        200
    );
}

#[test]
fn a_head_over_the_size_limit_gets_431() {
    let dir = TempDir::new("limits-size");
    let server = start(dir.path(), &["--max-header-bytes", "4096"]);
    let url = format!("{}/healthz", server.endpoint);
    let small = "a".repeat(3000);
    let (status, _, _) =
        crate::harness::http("GET", &url, &[("X-Pad", &small)], "").expect("small head");
    assert_eq!(status, 200);
    let big = "a".repeat(8000);
    let (status, _, _) =
        crate::harness::http("GET", &url, &[("X-Pad", &big)], "").expect("big head");
    assert_eq!(status, 431);
    // The default limit is 16 KiB, not hyper's ~400 KB.
    drop(server);
    let dir = TempDir::new("limits-size-default");
    let server = start(dir.path(), &[]);
    let url = format!("{}/healthz", server.endpoint);
    let big = "a".repeat(20_000);
    let (status, _, _) =
        crate::harness::http("GET", &url, &[("X-Pad", &big)], "").expect("big head");
    assert_eq!(status, 431);
}

#[test]
fn beyond_the_connection_cap_connections_wait() {
    let dir = TempDir::new("limits-cap");
    let server = start(
        dir.path(),
        &[
            "--max-connections",
            "1",
            "--header-read-timeout",
            "3600",
            "--idle-timeout",
            "3600",
        ],
    );
    // The one connection served: a kept-alive one, answered, then silent.
    let mut held = connect(&server);
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = held.read(&mut buf).expect("response");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A second connection is not served while the first is open...
    let mut waiting = connect(&server);
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    waiting
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let err = waiting.read(&mut buf).expect_err("no answer at the cap");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    // ...and is, once it closes.
    drop(held);
    waiting.set_read_timeout(Some(CLOSE_WAIT)).expect("timeout");
    let mut response = String::new();
    waiting.read_to_string(&mut response).expect("answer");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        server.log_text().contains("connection cap reached"),
        "{}",
        server.log_text()
    );
}

#[test]
fn bad_limits_are_refused() {
    let dir = TempDir::new("limits-bad");
    for args in [
        ["--max-header-bytes", "100"],
        ["--max-connections", "0"],
        ["--idle-timeout", "0"],
    ] {
        let output = crate::harness::m2m(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
}
