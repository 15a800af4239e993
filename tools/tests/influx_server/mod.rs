//! A private `influxd` (InfluxDB 1.x, Debian's `influxdb` package) for tests: its own temp
//! directory and config, HTTP and RPC on free loopback ports, no reporting; optionally with
//! authentication on and/or HTTPS with a certificate made for the test. It fails (never skips)
//! when the binary is missing.

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
    /// `[http] auth-enabled`.
    auth: bool,
    /// HTTPS with this self-signed certificate for `127.0.0.1` (DER), trusted by [`Influxd::client`].
    pub(crate) cert: Option<Vec<u8>>,
}

impl Influxd {
    pub(crate) fn start() -> Influxd {
        Influxd::start_with(false, false)
    }

    /// A server with authentication on (`auth`: until the first admin user exists, it only
    /// accepts creating one) and/or HTTPS (`tls`).
    pub(crate) fn start_with(auth: bool, tls: bool) -> Influxd {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = tls.then(|| {
            let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
                .expect("test certificate");
            std::fs::write(dir.path().join("cert.pem"), c.cert.pem()).expect("cert.pem");
            std::fs::write(dir.path().join("key.pem"), c.key_pair.serialize_pem())
                .expect("key.pem");
            c.cert.der().to_vec()
        });
        let mut s = Influxd {
            child: None,
            dir,
            port: free_port(),
            rpc_port: free_port(),
            auth,
            cert,
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
               auth-enabled = {auth}\n  https-enabled = {tls}\n\
               https-certificate = \"{d}/cert.pem\"\n  https-private-key = \"{d}/key.pem\"\n\
             [monitor]\n  store-enabled = false\n",
            rpc = self.rpc_port,
            http = self.port,
            d = d.display(),
            auth = self.auth,
            tls = self.cert.is_some(),
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
            let mut c = self.client_with_timeout("x", Duration::from_secs(2));
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

    /// A client for `db` (no credentials; over HTTPS trusting the test certificate).
    pub(crate) fn client(&self, db: &str) -> engine::influx::InfluxClient {
        self.client_with_timeout(db, Duration::from_secs(10))
    }

    fn client_with_timeout(&self, db: &str, timeout: Duration) -> engine::influx::InfluxClient {
        let c = engine::influx::InfluxClient::new("127.0.0.1", self.port, db, timeout);
        match &self.cert {
            Some(der) => c.with_https(engine::http_client::Roots::only([
                engine::http_client::Certificate::from(der.clone()),
            ])),
            None => c,
        }
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
