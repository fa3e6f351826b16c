//! The HTTP face of one simulated cluster: the Kubernetes REST API subset
//! (discovery, CRUD, list, watch, patch, `/status`, `pods/log`,
//! `pods/binding`) and the admin endpoint `/sim/v1/faults`.
//!
//! One fallback handler parses paths itself, because Kubernetes paths mix
//! namespaces, resources and subresources in ways a route table cannot say
//! (`/api/v1/namespaces/x` is a namespace, `/api/v1/namespaces/x/pods` a
//! collection).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::api_error::ApiError;
use crate::discovery;
use crate::engine::EngineCommand;
use crate::faults::{ApiFaults, Fault};
use crate::object_meta::value_at;
use crate::patch::PatchType;
use crate::resources::{self, PODS, ResourceId, resource};
use crate::rng::SimRng;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{
    DeleteOptions, EventType, ListQuery, Propagation, Store, StoreEvent, StoredObject, Subresource,
    WatchStart,
};
use crate::table;

/// Largest request body accepted (upstream's limit is 3 MiB).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Whether the cluster's listener is serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeState {
    /// Listening.
    Up,
    /// Listener closed, connections refused.
    Dark,
    /// Shutting down for good.
    Shutdown,
}

/// State shared by the server, the admin endpoint and the handle.
#[derive(Debug)]
pub struct ClusterShared {
    /// Cluster name.
    pub name: String,
    /// Objects.
    pub store: Arc<Store>,
    /// API faults in force.
    pub api_faults: Mutex<ApiFaults>,
    /// Randomness for fault rates.
    pub fault_rng: Mutex<SimRng>,
    /// Bumped to close every open watch.
    pub drop_watches: watch::Sender<u64>,
    /// Listener state.
    pub serving: watch::Sender<ServeState>,
    /// Commands to the cluster's controllers.
    pub engine: mpsc::UnboundedSender<EngineCommand>,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
}

impl ClusterShared {
    /// Applies a fault; node faults go to the engine and wait for its answer.
    pub async fn inject(self: &Arc<Self>, fault: Fault) -> Result<Value, ApiError> {
        match fault {
            Fault::SpotInterruption { .. }
            | Fault::NodeFailure { .. }
            | Fault::NodeRecovery { .. } => {
                let (reply, answer) = oneshot::channel();
                self.engine
                    .send(EngineCommand::Fault { fault, reply })
                    .map_err(|_| ApiError::ServiceUnavailable {
                        message: "the cluster is shutting down".to_owned(),
                    })?;
                answer.await.map_err(|_| ApiError::ServiceUnavailable {
                    message: "the cluster is shutting down".to_owned(),
                })?
            }
            Fault::ApiErrors {
                rate,
                code,
                retry_after_seconds,
            } => {
                if !(0.0..=1.0).contains(&rate) || !(code == 500 || code == 429) {
                    return Err(ApiError::bad_request(
                        "apiErrors: rate must be within 0..=1 and code 500 or 429",
                    ));
                }
                let mut faults = self
                    .api_faults
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                faults.error_rate = rate;
                faults.error_code = code;
                faults.retry_after_seconds = retry_after_seconds;
                Ok(json!({"apiFaults": *faults}))
            }
            Fault::Latency { millis } => {
                let mut faults = self
                    .api_faults
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                faults.latency = Duration::from_millis(millis.min(60_000));
                Ok(json!({"apiFaults": *faults}))
            }
            Fault::Clear => {
                let mut faults = self
                    .api_faults
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *faults = ApiFaults::default();
                Ok(json!({"apiFaults": *faults}))
            }
            Fault::DropWatches => {
                self.drop_watches.send_modify(|generation| *generation += 1);
                Ok(json!({"droppedWatches": true}))
            }
            Fault::Dark { seconds } => {
                let seconds = seconds.filter(|s| s.is_finite() && *s >= 0.0);
                self.serving.send_if_modified(|state| {
                    let changed = *state == ServeState::Up;
                    if changed {
                        *state = ServeState::Dark;
                    }
                    changed
                });
                if let Some(seconds) = seconds {
                    let shared = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs_f64(seconds.min(86_400.0))).await;
                        shared.come_back();
                    });
                }
                Ok(json!({"dark": true, "seconds": seconds}))
            }
        }
    }

    /// Ends a dark period.
    pub fn come_back(&self) {
        self.serving.send_if_modified(|state| {
            let changed = *state == ServeState::Dark;
            if changed {
                *state = ServeState::Up;
            }
            changed
        });
    }
}

/// The router of one cluster.
pub fn router(shared: Arc<ClusterShared>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<ClusterShared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    if !path.starts_with("/sim/") {
        let (latency, failure) = {
            let faults = shared
                .api_faults
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let failed = faults.error_rate > 0.0
                && shared
                    .fault_rng
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .chance(faults.error_rate);
            let failure = failed.then(|| {
                if faults.error_code == 429 {
                    ApiError::TooManyRequests {
                        retry_after_seconds: faults.retry_after_seconds,
                    }
                } else {
                    ApiError::InternalError {
                        message: "Internal error occurred: injected fault (gantry-sim)".to_owned(),
                    }
                }
            });
            (faults.latency, failure)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(error) = failure {
            return error_response(&error);
        }
    }
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return error_response(&ApiError::RequestEntityTooLarge {
                message: "Request entity too large: limit is 3145728".to_owned(),
            });
        }
    };
    let request = ApiRequest {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body,
    };
    match route(&shared, &request).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

#[derive(Debug)]
struct ApiRequest {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl ApiRequest {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    fn wants_table(&self) -> bool {
        self.header(header::ACCEPT).contains("as=Table")
    }
}

async fn route(shared: &Arc<ClusterShared>, request: &ApiRequest) -> Result<Response, ApiError> {
    let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    let get_only = |value: Value| -> Result<Response, ApiError> {
        if request.method == Method::GET {
            Ok(json_response(StatusCode::OK, &value))
        } else {
            Err(ApiError::MethodNotAllowed {
                message: format!(
                    "the server does not allow this method on the requested resource ({})",
                    request.method
                ),
            })
        }
    };
    match segments.as_slice() {
        [] => get_only(
            json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}),
        ),
        ["version"] => get_only(discovery::version()),
        ["healthz" | "livez" | "readyz"] => Ok(text_response(StatusCode::OK, "ok")),
        ["api"] => get_only(discovery::core_versions()),
        ["apis"] => get_only(discovery::group_list()),
        ["api", "v1"] => get_only(discovery::resource_list("", "v1").unwrap_or(Value::Null)),
        ["apis", group] => get_only(discovery::group(group).ok_or_else(path_not_found)?),
        ["apis", group, version] => {
            get_only(discovery::resource_list(group, version).ok_or_else(path_not_found)?)
        }
        ["openapi", "v2"] => {
            if request.header(header::ACCEPT).contains("protobuf")
                && !request.header(header::ACCEPT).contains("json")
            {
                return Err(ApiError::NotAcceptable {
                    message: "only application/json is served".to_owned(),
                });
            }
            get_only(discovery::openapi_v2())
        }
        ["openapi", "v3"] => get_only(discovery::openapi_v3_index()),
        ["openapi", "v3", "api", version] => {
            get_only(discovery::openapi_v3_document("", version).ok_or_else(path_not_found)?)
        }
        ["openapi", "v3", "apis", group, version] => {
            get_only(discovery::openapi_v3_document(group, version).ok_or_else(path_not_found)?)
        }
        ["sim", "v1", "faults"] => admin_faults(shared, request).await,
        ["api", "v1", rest @ ..] => resource_request(shared, request, "", "v1", rest).await,
        ["apis", group, version, rest @ ..] => {
            resource_request(shared, request, group, version, rest).await
        }
        _ => Err(path_not_found()),
    }
}

fn path_not_found() -> ApiError {
    ApiError::NotFound {
        resource: String::new(),
        group: String::new(),
        name: String::new(),
    }
}

async fn admin_faults(
    shared: &Arc<ClusterShared>,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    match request.method {
        Method::GET => {
            let faults = shared
                .api_faults
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            Ok(json_response(
                StatusCode::OK,
                &json!({"cluster": shared.name, "apiFaults": faults}),
            ))
        }
        Method::POST => {
            let fault: Fault = serde_json::from_slice(&request.body)
                .map_err(|error| ApiError::bad_request(format!("invalid fault: {error}")))?;
            if matches!(fault, Fault::Dark { seconds: None }) {
                return Err(ApiError::bad_request(
                    "dark: `seconds` is required on the admin endpoint, which goes dark with the cluster",
                ));
            }
            let outcome = shared.inject(fault).await?;
            Ok(json_response(StatusCode::OK, &outcome))
        }
        _ => Err(ApiError::MethodNotAllowed {
            message: "use GET or POST".to_owned(),
        }),
    }
}

/// A parsed resource path.
#[derive(Debug)]
struct Target<'a> {
    resource_id: ResourceId,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
    watch_path: bool,
}

fn parse_target<'a>(group: &str, version: &str, rest: &[&'a str]) -> Result<Target<'a>, ApiError> {
    let (watch_path, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let namespaced_plural = |plural: &str| {
        resources::find(group, version, plural).filter(|id| resource(*id).namespaced)
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, plural, tail @ ..] if namespaced_plural(plural).is_some() => (
            Some(*namespace),
            std::iter::once(*plural)
                .chain(tail.iter().copied())
                .collect::<Vec<_>>(),
        ),
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, subresource] => (*plural, Some(*name), Some(*subresource)),
        _ => return Err(path_not_found()),
    };
    let resource_id = resources::find(group, version, plural).ok_or_else(path_not_found)?;
    Ok(Target {
        resource_id,
        namespace,
        name,
        subresource,
        watch_path,
    })
}

async fn resource_request(
    shared: &Arc<ClusterShared>,
    request: &ApiRequest,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let target = parse_target(group, version, rest)?;
    let store = &shared.store;
    let resource_id = target.resource_id;
    let namespace = target.namespace.unwrap_or_default();
    let method = &request.method;
    let not_allowed = || ApiError::MethodNotAllowed {
        message: format!(
            "the server does not allow this method on the requested resource ({method})"
        ),
    };
    match (target.name, target.subresource) {
        (None, None) => match *method {
            Method::GET => {
                if target.watch_path || request.flag("watch") {
                    watch_response(shared, request, resource_id, target.namespace)
                } else {
                    list_response(store, request, resource_id, target.namespace)
                }
            }
            Method::POST => {
                reject_dry_run(request)?;
                let body = parse_body(&request.body)?;
                let created = store.create(resource_id, namespace, body)?;
                Ok(object_response(StatusCode::CREATED, &created))
            }
            Method::DELETE => {
                reject_dry_run(request)?;
                let query = list_query(request, resource_id, target.namespace)?;
                let page = store.list(resource_id, &query)?;
                let options = delete_options(request)?;
                for object in &page.items {
                    match store.delete(resource_id, &object.namespace, &object.name, &options) {
                        Ok(_) | Err(ApiError::NotFound { .. }) => {}
                        Err(error) => return Err(error),
                    }
                }
                list_page_response(resource_id, &page.items, page.resource_version, None, None)
            }
            _ => Err(not_allowed()),
        },
        (Some(name), None) => match *method {
            Method::GET => {
                if target.watch_path {
                    return watch_response(shared, request, resource_id, target.namespace);
                }
                let object = store.get(resource_id, namespace, name)?;
                if request.wants_table() {
                    return Ok(json_response(
                        StatusCode::OK,
                        &table::table(resource_id, &[object], None, None, store.clock().now()),
                    ));
                }
                Ok(object_response(StatusCode::OK, &object))
            }
            Method::PUT => {
                reject_dry_run(request)?;
                let body = parse_body(&request.body)?;
                Ok(object_response(
                    StatusCode::OK,
                    &store.update(resource_id, namespace, name, body, Subresource::Main)?,
                ))
            }
            Method::PATCH => patch_request(
                store,
                request,
                resource_id,
                namespace,
                name,
                Subresource::Main,
            ),
            Method::DELETE => {
                reject_dry_run(request)?;
                let options = delete_options(request)?;
                let object = store.delete(resource_id, namespace, name, &options)?;
                Ok(object_response(StatusCode::OK, &object))
            }
            _ => Err(not_allowed()),
        },
        (Some(name), Some("status")) if resource(resource_id).has_status => match *method {
            Method::GET => Ok(object_response(
                StatusCode::OK,
                &store.get(resource_id, namespace, name)?,
            )),
            Method::PUT => {
                let body = parse_body(&request.body)?;
                Ok(object_response(
                    StatusCode::OK,
                    &store.update(resource_id, namespace, name, body, Subresource::Status)?,
                ))
            }
            Method::PATCH => patch_request(
                store,
                request,
                resource_id,
                namespace,
                name,
                Subresource::Status,
            ),
            _ => Err(not_allowed()),
        },
        (Some(name), Some("log")) if resource_id == PODS => {
            if *method != Method::GET {
                return Err(not_allowed());
            }
            let pod = store.get(PODS, namespace, name)?;
            let text = crate::kubelet::pod_log(
                &pod.tree,
                request.param("container"),
                store.clock().now(),
            )?;
            let text = match request
                .param("tailLines")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(tail) => {
                    let lines: Vec<&str> = text.lines().collect();
                    let start = lines.len().saturating_sub(tail);
                    lines
                        .get(start..)
                        .unwrap_or_default()
                        .iter()
                        .map(|line| format!("{line}\n"))
                        .collect()
                }
                None => text,
            };
            Ok(text_response(StatusCode::OK, &text))
        }
        (Some(name), Some("binding")) if resource_id == PODS => {
            if *method != Method::POST {
                return Err(not_allowed());
            }
            let body = parse_body(&request.body)?;
            let node = value_at(&body, "target.name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if node.is_empty() {
                return Err(ApiError::invalid(
                    "Binding",
                    "",
                    name,
                    "target.name",
                    "Required value",
                ));
            }
            let (reply, answer) = oneshot::channel();
            shared
                .engine
                .send(EngineCommand::Bind {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    node,
                    reply,
                })
                .map_err(|_| ApiError::ServiceUnavailable {
                    message: "the cluster is shutting down".to_owned(),
                })?;
            answer.await.map_err(|_| ApiError::ServiceUnavailable {
                message: "the cluster is shutting down".to_owned(),
            })??;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        _ => Err(path_not_found()),
    }
}

fn reject_dry_run(request: &ApiRequest) -> Result<(), ApiError> {
    match request.param("dryRun") {
        None | Some("") => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "dryRun is not supported by gantry-sim",
        )),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .or_else(|_| serde_saphyr::from_slice(body))
        .map_err(|error| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded: {error}"
            ))
        })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    Ok(value)
}

fn patch_request(
    store: &Store,
    request: &ApiRequest,
    resource_id: ResourceId,
    namespace: &str,
    name: &str,
    subresource: Subresource,
) -> Result<Response, ApiError> {
    reject_dry_run(request)?;
    let patch_type = PatchType::from_content_type(request.header(header::CONTENT_TYPE))?;
    let existed = store.get(resource_id, namespace, name).is_ok();
    let object = store.patch(
        resource_id,
        namespace,
        name,
        patch_type,
        &request.body,
        subresource,
        request.param("fieldManager"),
    )?;
    let code = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(object_response(code, &object))
}

fn delete_options(request: &ApiRequest) -> Result<DeleteOptions, ApiError> {
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&request.body)
            .map_err(|error| ApiError::bad_request(format!("invalid DeleteOptions: {error}")))?
    };
    let policy = request
        .param("propagationPolicy")
        .map(str::to_owned)
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let orphan = request
        .param("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Background"), None) => Some(Propagation::Background),
        (Some("Foreground"), None) => Some(Propagation::Foreground),
        (Some("Orphan"), None) => Some(Propagation::Orphan),
        (Some(other), None) => {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                "propagationPolicy",
                format!(
                    "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            ));
        }
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                "propagationPolicy",
                "Invalid value: orphanDependents and deletionPropagation cannot be both set",
            ));
        }
    };
    let grace_period_seconds = match request.param("gracePeriodSeconds") {
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| ApiError::bad_request("gracePeriodSeconds must be an integer"))?,
        ),
        None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    Ok(DeleteOptions {
        propagation,
        grace_period_seconds,
        precondition_uid: value_at(&body, "preconditions.uid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        precondition_resource_version: value_at(&body, "preconditions.resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn list_query<'a>(
    request: &'a ApiRequest,
    resource_id: ResourceId,
    namespace: Option<&'a str>,
) -> Result<ListQuery<'a>, ApiError> {
    let labels = LabelSelector::parse(request.param("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(
        request.param("fieldSelector").unwrap_or_default(),
        resource(resource_id).selectable_fields,
    )?;
    let limit = match request.param("limit") {
        Some(text) if !text.is_empty() => Some(
            text.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("limit: invalid value {text:?}")))?
                .max(0),
        ),
        _ => None,
    };
    Ok(ListQuery {
        namespace,
        labels,
        fields,
        limit: limit.and_then(|limit| usize::try_from(limit).ok()),
        continue_token: request.param("continue"),
    })
}

fn list_response(
    store: &Store,
    request: &ApiRequest,
    resource_id: ResourceId,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let query = list_query(request, resource_id, namespace)?;
    if let Some(version) = request
        .param("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
    {
        version.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion: invalid value {version:?}"))
        })?;
    }
    let page = store.list(resource_id, &query)?;
    if request.wants_table() {
        return Ok(json_response(
            StatusCode::OK,
            &table::table(
                resource_id,
                &page.items,
                Some(page.resource_version),
                page.continue_token.as_deref(),
                store.clock().now(),
            ),
        ));
    }
    list_page_response(
        resource_id,
        &page.items,
        page.resource_version,
        page.continue_token.as_deref(),
        page.remaining_item_count,
    )
}

fn list_page_response(
    resource_id: ResourceId,
    items: &[Arc<StoredObject>],
    resource_version: u64,
    continue_token: Option<&str>,
    remaining: Option<u64>,
) -> Result<Response, ApiError> {
    let resource = resource(resource_id);
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let (Some(token), Some(map)) = (continue_token, metadata.as_object_mut()) {
        map.insert("continue".to_owned(), json!(token));
        if let Some(remaining) = remaining {
            map.insert("remainingItemCount".to_owned(), json!(remaining));
        }
    }
    let head = format!(
        "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        resource.list_kind(),
        resource.api_version(),
        metadata
    );
    let size: usize = items.iter().map(|item| item.json.len() + 1).sum::<usize>() + head.len() + 2;
    let mut buffer = BytesMut::with_capacity(size);
    buffer.put_slice(head.as_bytes());
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            buffer.put_u8(b',');
        }
        buffer.put_slice(&item.json);
    }
    buffer.put_slice(b"]}");
    Ok(bytes_response(
        StatusCode::OK,
        buffer.freeze(),
        "application/json",
    ))
}

/// How a watch stream goes on.
#[derive(Debug)]
struct WatchStream {
    resource_id: ResourceId,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    pending: std::collections::VecDeque<Bytes>,
    receiver: Option<broadcast::Receiver<Arc<StoreEvent>>>,
    deadline: tokio::time::Instant,
    bookmarks: bool,
    bookmark_interval: Duration,
    next_bookmark: tokio::time::Instant,
    last_resource_version: u64,
    drop_watches: watch::Receiver<u64>,
    serving: watch::Receiver<ServeState>,
    done: bool,
}

impl WatchStream {
    fn selects(&self, object: &StoredObject) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|namespace| *namespace == object.namespace)
            && self.labels.matches(&object.labels)
            && self.fields.matches(|field| object.field(field))
    }

    /// The event to send for a store event, if any (filtered watch semantics:
    /// leaving the selection is DELETED, entering it is ADDED).
    fn frame(&self, event: &StoreEvent) -> Option<Bytes> {
        if event.resource != self.resource_id {
            return None;
        }
        let now_selected = self.selects(&event.object);
        let event_type = match (
            event.event_type,
            event
                .previous
                .as_ref()
                .map(|previous| self.selects(previous)),
        ) {
            (EventType::Modified, Some(false)) if now_selected => EventType::Added,
            (EventType::Modified, Some(true)) if !now_selected => EventType::Deleted,
            (event_type, _) if now_selected => event_type,
            _ => return None,
        };
        Some(event_frame(event_type.as_str(), &event.object.json))
    }

    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let resource = resource(self.resource_id);
        let mut metadata = json!({"resourceVersion": self.last_resource_version.to_string()});
        if initial_events_end && let Some(map) = metadata.as_object_mut() {
            map.insert(
                "annotations".to_owned(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        let object = json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata});
        event_frame("BOOKMARK", &Bytes::from(object.to_string()))
    }
}

fn event_frame(event_type: &str, object: &[u8]) -> Bytes {
    let mut buffer = BytesMut::with_capacity(object.len() + 32);
    buffer.put_slice(b"{\"type\":\"");
    buffer.put_slice(event_type.as_bytes());
    buffer.put_slice(b"\",\"object\":");
    buffer.put_slice(object);
    buffer.put_slice(b"}\n");
    buffer.freeze()
}

fn watch_response(
    shared: &Arc<ClusterShared>,
    request: &ApiRequest,
    resource_id: ResourceId,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(request.param("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(
        request.param("fieldSelector").unwrap_or_default(),
        resource(resource_id).selectable_fields,
    )?;
    let send_initial_events = request.flag("sendInitialEvents");
    let start = match request.param("resourceVersion") {
        None | Some("" | "0") => WatchStart::Now,
        Some(_) if send_initial_events => WatchStart::Now,
        Some(text) => WatchStart::After(text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion: invalid value {text:?}"))
        })?),
    };
    let timeout =
        match request.param("timeoutSeconds") {
            Some(text) => Duration::from_secs(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request("timeoutSeconds must be a non-negative integer")
            })?),
            None => Duration::from_secs(1800),
        };
    let now = tokio::time::Instant::now();
    let mut stream = WatchStream {
        resource_id,
        namespace: namespace.map(str::to_owned),
        labels,
        fields,
        pending: std::collections::VecDeque::new(),
        receiver: None,
        deadline: now + timeout,
        bookmarks: request.flag("allowWatchBookmarks"),
        bookmark_interval: shared.bookmark_interval,
        next_bookmark: now + shared.bookmark_interval,
        last_resource_version: 0,
        drop_watches: shared.drop_watches.subscribe(),
        serving: shared.serving.subscribe(),
        done: false,
    };
    stream.drop_watches.mark_unchanged();
    match shared.store.watch(resource_id, start) {
        Ok(subscription) => {
            // Every event of this resource up to here is in `initial` or was
            // never there: bookmarks may name it once `initial` is sent.
            stream.last_resource_version = subscription.resource_version;
            for event in &subscription.initial {
                if let Some(frame) = stream.frame(event) {
                    stream.pending.push_back(frame);
                }
            }
            if send_initial_events {
                let bookmark = stream.bookmark(true);
                stream.pending.push_back(bookmark);
            }
            stream.receiver = Some(subscription.receiver);
        }
        Err(error @ ApiError::Expired { .. }) => {
            let status = Bytes::from(error.to_status().to_string());
            stream.pending.push_back(event_frame("ERROR", &status));
            stream.done = true;
        }
        Err(error) => return Err(error),
    }
    let body = Body::from_stream(futures_util::stream::unfold(stream, next_watch_chunk));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}

async fn next_watch_chunk(
    mut stream: WatchStream,
) -> Option<(Result<Bytes, Infallible>, WatchStream)> {
    loop {
        if let Some(frame) = stream.pending.pop_front() {
            return Some((Ok(frame), stream));
        }
        if stream.done {
            return None;
        }
        let receiver = stream.receiver.as_mut()?;
        let bookmark_at = if stream.bookmarks {
            stream.next_bookmark
        } else {
            stream.deadline
        };
        let bookmarks = stream.bookmarks;
        let deadline = stream.deadline;
        let step = tokio::select! {
            received = receiver.recv() => match received {
                Ok(event) => WatchStep::Event(event),
                // Too far behind, or the store is gone: end the stream; the
                // client resumes from its last resourceVersion.
                Err(_) => WatchStep::End,
            },
            () = tokio::time::sleep_until(deadline) => WatchStep::End,
            () = tokio::time::sleep_until(bookmark_at), if bookmarks => WatchStep::Bookmark,
            _ = stream.drop_watches.changed() => WatchStep::End,
            _ = stream.serving.wait_for(|state| *state != ServeState::Up) => WatchStep::End,
        };
        match step {
            WatchStep::Event(event) => {
                stream.last_resource_version = stream
                    .last_resource_version
                    .max(event.object.resource_version);
                if let Some(frame) = stream.frame(&event) {
                    return Some((Ok(frame), stream));
                }
            }
            WatchStep::Bookmark => {
                stream.next_bookmark = tokio::time::Instant::now() + stream.bookmark_interval;
                let bookmark = stream.bookmark(false);
                return Some((Ok(bookmark), stream));
            }
            WatchStep::End => return None,
        }
    }
}

#[derive(Debug)]
enum WatchStep {
    Event(Arc<StoreEvent>),
    Bookmark,
    End,
}

fn object_response(code: StatusCode, object: &Arc<StoredObject>) -> Response {
    bytes_response(code, object.json.clone(), "application/json")
}

/// A JSON response.
pub fn json_response(code: StatusCode, value: &Value) -> Response {
    bytes_response(code, Bytes::from(value.to_string()), "application/json")
}

fn text_response(code: StatusCode, text: &str) -> Response {
    bytes_response(
        code,
        Bytes::from(text.to_owned()),
        "text/plain; charset=utf-8",
    )
}

fn bytes_response(code: StatusCode, bytes: Bytes, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The `metav1.Status` response for an error.
pub fn error_response(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(code, &error.to_status());
    if let Some(seconds) = error.retry_after_seconds()
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
