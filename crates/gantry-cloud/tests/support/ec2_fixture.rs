//! A loopback HTTP server that answers EC2 query-API requests with recorded
//! responses, so the real adapter (aws-sdk-ec2) is tested on responses of the
//! real shape: real prices, several pages, garbage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use gantry_cloud::aws::{AwsEc2, Ec2Endpoint, Ec2Options};

/// The form parameters of one request.
pub(crate) type Params = BTreeMap<String, String>;

/// What the server answers: status and body, from the request's parameters.
pub(crate) type Responder = Arc<dyn Fn(&Params) -> (u16, String) + Send + Sync>;

/// A running fixture server.
pub(crate) struct Ec2Fixture {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<Params>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Ec2Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A recorded response file under `tests/fixtures/ec2/`.
pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/ec2/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

impl Ec2Fixture {
    pub(crate) async fn start(responder: Responder) -> Ec2Fixture {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let app = Router::new().route(
            "/",
            post(move |body: String| {
                let responder = Arc::clone(&responder);
                let seen = Arc::clone(&seen);
                async move {
                    let params: Params = form_urlencoded::parse(body.as_bytes())
                        .map(|(key, value)| (key.into_owned(), value.into_owned()))
                        .collect();
                    let (status, body) = responder(&params);
                    seen.lock().unwrap().push(params);
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "text/xml;charset=UTF-8")],
                        body,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Ec2Fixture {
            url,
            requests,
            task,
        }
    }

    /// Every request so far, in order.
    pub(crate) fn requests(&self) -> Vec<Params> {
        self.requests.lock().unwrap().clone()
    }

    /// The real adapter pointed at this server, one attempt per request.
    pub(crate) fn adapter(&self) -> AwsEc2 {
        AwsEc2::with_endpoint(&test_endpoint(&self.url), single_attempt())
    }
}

/// Static test credentials for `url`.
pub(crate) fn test_endpoint(url: &str) -> Ec2Endpoint {
    Ec2Endpoint {
        url: url.to_owned(),
        access_key_id: "testing".to_owned(),
        secret_access_key: "testing".to_owned(),
    }
}

/// One attempt per request, short timeouts: failure tests stay fast.
pub(crate) fn single_attempt() -> Ec2Options {
    Ec2Options {
        max_attempts: 1,
        attempt_timeout: std::time::Duration::from_secs(5),
        operation_timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(2),
    }
}

/// For moto: one Python process serves every test at once, and its first
/// answers (it loads EC2's catalog) take seconds on a busy machine.
pub(crate) fn moto_options() -> Ec2Options {
    Ec2Options {
        max_attempts: 2,
        attempt_timeout: std::time::Duration::from_secs(30),
        operation_timeout: std::time::Duration::from_secs(90),
        connect_timeout: std::time::Duration::from_secs(5),
    }
}
