//! A private `influxd` (InfluxDB 1.x, Debian's `influxdb` package) for tests: its own temp
//! directory and config, HTTP and RPC on free loopback ports, no reporting. It fails (never
//! skips) when the binary is missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "influxd (InfluxDB 1.x) is needed for these tests: \
                       `sudo apt-get install -y influxdb` (Debian); .ci/run installs it";

/// A running test server; killed on drop.
pub(crate) struct Influxd {
    child: Option<Child>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    rpc_port: u16,
}

impl Influxd {
    pub(crate) fn start() -> Influxd {
        let mut s = Influxd {
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            rpc_port: free_port(),
        };
        s.spawn();
        s
    }

    fn config(&self) -> PathBuf {
        let d = self.dir.path();
        let text = format!(
            "reporting-disabled = true\n\
             bind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n",
            rpc = self.rpc_port,
            http = self.port,
            d = d.display()
        );
        let path = d.join("influxd.conf");
        std::fs::write(&path, text).expect("write influxd.conf");
        path
    }

    /// Starts the process (again, after [`Influxd::kill`]) and waits until `/ping` answers.
    pub(crate) fn spawn(&mut self) {
        let conf = self.config();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("influxd.log"))
            .expect("influxd.log");
        let child = Command::new("influxd")
            .arg("-config")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start influxd: {e}. {INSTALL}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut c = engine::influx::InfluxClient::new(
                "127.0.0.1",
                self.port,
                "x",
                Duration::from_secs(2),
            );
            if c.ping().is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "influxd exited at start ({status}); log:\n{}",
                    std::fs::read_to_string(self.dir.path().join("influxd.log"))
                        .unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "influxd did not answer /ping within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the process (as a crash would), keeping its data directory.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A client for `db`.
    pub(crate) fn client(&self, db: &str) -> engine::influx::InfluxClient {
        engine::influx::InfluxClient::new("127.0.0.1", self.port, db, Duration::from_secs(10))
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}
