//! The Python `kubernetes` client: list with pagination, watch every pod
//! transition of a Job, resume a watch from a resourceVersion, 410 Gone.

use std::process::Command;

use gantry_sim::SimOptions;

use crate::common::{self, start_fleet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_lists_watches_and_resumes() {
    let probe = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output();
    match probe {
        Ok(output) if output.status.success() => {}
        _ => panic!(
            "the Python kubernetes client is missing: install it with `pip install kubernetes` (python3 must be on PATH)"
        ),
    }
    let options = SimOptions {
        watch_history: 64,
        ..common::options()
    };
    let fleet = start_fleet(options).await;
    let dir = std::env::temp_dir().join(format!("gantry-sim-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/watch_resume.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&kubeconfig)
            .arg("aws-us-east-1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok: "), "{stdout}");
    fleet.shutdown().await;
}
