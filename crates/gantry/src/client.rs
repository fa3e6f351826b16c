//! Talking to `gantryd`: the address and token flags, one connection with the
//! bearer token on every call, and gRPC failures in plain words.
//!
//! Protocol: connect once, eagerly, so an unreachable daemon is one clear
//! line before anything else happens; every call then shares the channel,
//! which reconnects on its own if the connection drops (`watch` relies on
//! that to resume).

use std::fmt;
use std::time::Duration;

use gantry_proto::fleet_service_client::FleetServiceClient;
use gantry_proto::job_service_client::JobServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// The daemon's default gRPC address (PRODUCT.md "Names").
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// How long to wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a unary call may take before the CLI gives up (a stream's
/// deadline covers only its first response headers).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// `--server`: `http://HOST:PORT`, or `HOST:PORT` (http is assumed). Returns
/// the URI with its scheme.
pub(crate) fn parse_server(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the address is empty; expected HOST:PORT or http://HOST:PORT".to_owned());
    }
    let uri = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    if uri.starts_with("https://") {
        return Err(format!(
            "`{text}`: TLS is not supported by this build yet; use http://HOST:PORT"
        ));
    }
    if !uri.starts_with("http://") {
        return Err(format!(
            "`{text}`: unknown scheme; expected HOST:PORT or http://HOST:PORT"
        ));
    }
    Endpoint::from_shared(uri.clone())
        .map_err(|error| format!("`{text}` is not an address: {error}"))?;
    Ok(uri.trim_end_matches('/').to_owned())
}

/// `--token`: sent as `authorization: Bearer <token>`, so it must be
/// printable ASCII without spaces.
pub(crate) fn parse_token(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the token is empty".to_owned());
    }
    if !text.chars().all(|character| character.is_ascii_graphic()) {
        return Err(
            "the token must be printable ASCII without spaces (it is sent in a header)".to_owned(),
        );
    }
    Ok(text.to_owned())
}

/// Where to connect and with what credential.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) server: String,
    pub(crate) token: Option<String>,
}

/// Adds `authorization: Bearer <token>` to every call when a token is set.
#[derive(Clone, Debug)]
pub(crate) struct BearerToken {
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, BearerToken>;

/// Both services over one connection.
#[derive(Debug)]
pub(crate) struct Clients {
    pub(crate) jobs: JobServiceClient<Authed>,
    pub(crate) fleet: FleetServiceClient<Authed>,
    /// The address, for messages.
    pub(crate) server: String,
}

/// Connects to the daemon. An unreachable one is one clear error line.
pub(crate) async fn connect(target: &Target) -> anyhow::Result<Clients> {
    let header = match &target.token {
        Some(token) => Some(
            MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("the token cannot be sent in a header"))?,
        ),
        None => None,
    };
    let endpoint = Endpoint::from_shared(target.server.clone())
        .map_err(|error| anyhow::anyhow!("`{}` is not an address: {error}", target.server))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|error| unreachable_error(&target.server, &error))?;
    let interceptor = BearerToken { header };
    Ok(Clients {
        jobs: JobServiceClient::with_interceptor(channel.clone(), interceptor.clone()),
        fleet: FleetServiceClient::with_interceptor(channel, interceptor),
        server: target.server.clone(),
    })
}

fn unreachable_error(server: &str, error: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    anyhow::Error::new(RequestError::Unreachable {
        server: server.to_owned(),
        cause: root_cause(error),
    })
}

/// The innermost cause, lowercased the way our messages are: `connection
/// refused` rather than `transport error`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    if let Some(io) = innermost.downcast_ref::<std::io::Error>() {
        let text = match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Some("connection refused"),
            std::io::ErrorKind::ConnectionReset => Some("connection reset"),
            std::io::ErrorKind::TimedOut => Some("timed out"),
            _ => None,
        };
        if let Some(text) = text {
            return text.to_owned();
        }
    }
    let text = innermost.to_string();
    if text.is_empty() {
        "no connection".to_owned()
    } else {
        text
    }
}

/// A failed call, for the person at the terminal.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// No connection to the daemon could be made.
    Unreachable { server: String, cause: String },
    /// The daemon answered with an error status.
    Refused {
        /// What was being done: `submit job.yaml`, `get job j-1`.
        action: String,
        code: tonic::Code,
        message: String,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Unreachable { server, cause } => write!(
                formatter,
                "cannot reach gantryd at {server}: {cause}; is it running? start it with `cargo run --bin gantryd`"
            ),
            RequestError::Refused {
                action,
                code,
                message,
            } => {
                write!(formatter, "{action}: {}", code_words(*code))?;
                let lines: Vec<&str> = message
                    .lines()
                    .map(str::trim_end)
                    .filter(|line| !line.is_empty())
                    .collect();
                match lines.as_slice() {
                    [] => Ok(()),
                    [line] => write!(formatter, ": {line}"),
                    lines => {
                        write!(formatter, ":")?;
                        for line in lines {
                            write!(formatter, "\n  {line}")?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

impl std::error::Error for RequestError {}

impl RequestError {
    /// The status of a failed call doing `action`. A status that is the
    /// channel failing to (re)connect becomes [`RequestError::Unreachable`].
    pub(crate) fn from_status(
        action: impl Into<String>,
        status: &tonic::Status,
        server: &str,
    ) -> RequestError {
        let mut source = std::error::Error::source(status);
        while let Some(error) = source {
            if error.downcast_ref::<tonic::ConnectError>().is_some() {
                return RequestError::Unreachable {
                    server: server.to_owned(),
                    cause: root_cause(error),
                };
            }
            source = error.source();
        }
        RequestError::Refused {
            action: action.into(),
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// A failed call as an error for `main` to print.
pub(crate) fn request_failed(
    action: impl Into<String>,
    status: &tonic::Status,
    server: &str,
) -> anyhow::Error {
    anyhow::Error::new(RequestError::from_status(action, status, server))
}

/// A status code in plain words.
fn code_words(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "ok",
        tonic::Code::Cancelled => "the request was cancelled",
        tonic::Code::Unknown => "unknown error on the server",
        tonic::Code::InvalidArgument => "invalid request",
        tonic::Code::DeadlineExceeded => "timed out",
        tonic::Code::NotFound => "not found",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::ResourceExhausted => "over a limit",
        tonic::Code::FailedPrecondition => "not possible in the current state",
        tonic::Code::Aborted => "aborted by a conflicting change; try again",
        tonic::Code::OutOfRange => "out of range",
        tonic::Code::Unimplemented => "not supported by this gantryd",
        tonic::Code::Internal => "internal error in gantryd",
        tonic::Code::Unavailable => "gantryd is unavailable",
        tonic::Code::DataLoss => "data loss in gantryd",
        tonic::Code::Unauthenticated => "not authenticated (pass --token or set GANTRY_TOKEN)",
    }
}

/// Whether a broken watch is worth reopening: the connection or the server
/// hiccuped, as opposed to a refusal that would only repeat.
pub(crate) fn is_transient(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Internal
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_or_default_the_http_scheme() {
        assert_eq!(
            parse_server("127.0.0.1:7070"),
            Ok("http://127.0.0.1:7070".to_owned())
        );
        assert_eq!(
            parse_server("http://gantry.internal:7070/"),
            Ok("http://gantry.internal:7070".to_owned())
        );
        assert!(parse_server("").is_err());
        assert!(parse_server("https://gantry:7070").is_err_and(|e| e.contains("TLS")));
        assert!(parse_server("ftp://gantry:7070").is_err());
        assert!(parse_token("abc.def-123").is_ok());
        assert!(parse_token("has space").is_err());
        assert!(parse_token("").is_err());
    }

    #[test]
    fn refusals_read_as_words_with_every_message_line() {
        let status = tonic::Status::invalid_argument(
            "spec has 2 errors\nmetadata.team: unknown team `ghost`\nspec.placement.clouds[0]: no cluster in `azure`\n",
        );
        let text =
            RequestError::from_status("submit job.yaml", &status, DEFAULT_SERVER).to_string();
        assert_eq!(
            text,
            "submit job.yaml: invalid request:\n  spec has 2 errors\n  metadata.team: unknown team `ghost`\n  spec.placement.clouds[0]: no cluster in `azure`"
        );
        let status = tonic::Status::not_found("no job j-9");
        let text = RequestError::from_status("get job j-9", &status, DEFAULT_SERVER).to_string();
        assert_eq!(text, "get job j-9: not found: no job j-9");
        // A server that says it is unavailable is not an unreachable server.
        let status = tonic::Status::unavailable("not the leader");
        let text = RequestError::from_status("cancel j-1", &status, DEFAULT_SERVER).to_string();
        assert_eq!(text, "cancel j-1: gantryd is unavailable: not the leader");
    }
}
