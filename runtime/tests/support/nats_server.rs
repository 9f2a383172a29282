//! A real `nats-server` for the tests that need one (scripts/test.sh installs
//! Debian's package).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::PATIENCE;

/// A `nats-server` on a free localhost port, killed when dropped.
pub struct NatsServer {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl NatsServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With more `nats-server` arguments (authorization, say). Tests run in
    /// parallel, each with a server of its own: a port another server took between
    /// the probe and the start makes this server exit, and another port is tried
    /// (rather than talking to the other test's server).
    pub fn start_with(extra: &[&str]) -> Self {
        for _ in 0..5 {
            if let Some(server) = Self::try_start(extra) {
                return server;
            }
        }
        panic!("nats-server did not start on any of 5 free ports");
    }

    fn try_start(extra: &[&str]) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (scripts/test.sh installs the Debian package)");
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The port answers: make sure it is this server that answers.
        std::thread::sleep(Duration::from_millis(100));
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        Some(Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            port,
        })
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
