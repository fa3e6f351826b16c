//! `metav1.Status` errors: every failure a client can see, with the code and
//! reason the real apiserver gives for it.

use serde_json::{Value, json};

/// Why a request failed, in the vocabulary of `metav1.StatusReason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request itself is malformed (bad JSON, bad selector, bad patch).
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// 404: the object (or path) does not exist.
    NotFound {
        /// Resource, plural (`pods`), as upstream puts it in `details.kind`.
        resource: String,
        /// API group, empty for the core group.
        group: String,
        /// Object name; empty for a path that does not exist.
        name: String,
    },
    /// 409 AlreadyExists: create of a name already taken.
    AlreadyExists {
        /// Resource, plural.
        resource: String,
        /// API group.
        group: String,
        /// Name.
        name: String,
    },
    /// 409 Conflict: a stale `resourceVersion` or failed precondition.
    Conflict {
        /// Resource, plural.
        resource: String,
        /// API group.
        group: String,
        /// Name.
        name: String,
        /// Why.
        message: String,
    },
    /// 410 Expired / Gone: a `resourceVersion` or continue token older than history.
    Expired {
        /// What is too old.
        message: String,
    },
    /// 422 Invalid: the object fails validation.
    Invalid {
        /// Kind (`Pod`).
        kind: String,
        /// Group.
        group: String,
        /// Name.
        name: String,
        /// `(field path, message)` pairs.
        causes: Vec<(String, String)>,
    },
    /// 405: the verb is not supported on this resource.
    MethodNotAllowed {
        /// What was refused.
        message: String,
    },
    /// 406: no acceptable representation.
    NotAcceptable {
        /// What was refused.
        message: String,
    },
    /// 413: the body is too large.
    RequestEntityTooLarge {
        /// What was refused.
        message: String,
    },
    /// 415: unknown content type (e.g. an unknown patch type).
    UnsupportedMediaType {
        /// The content type given.
        content_type: String,
    },
    /// 429: injected throttling, with `Retry-After`.
    TooManyRequests {
        /// Seconds the client should wait.
        retry_after_seconds: u32,
    },
    /// 500: an injected or internal failure.
    InternalError {
        /// What failed.
        message: String,
    },
    /// 503: the cluster is going dark or shutting down.
    ServiceUnavailable {
        /// What failed.
        message: String,
    },
}

impl ApiError {
    /// A 400 with a message.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
        }
    }

    /// A 422 with one cause.
    pub(crate) fn invalid(
        kind: &str,
        group: &str,
        name: &str,
        field: &str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::Invalid {
            kind: kind.to_owned(),
            group: group.to_owned(),
            name: name.to_owned(),
            causes: vec![(field.to_owned(), message.into())],
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound { .. } => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Expired { .. } => 410,
            ApiError::Invalid { .. } => 422,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::NotAcceptable { .. } => 406,
            ApiError::RequestEntityTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::InternalError { .. } => 500,
            ApiError::ServiceUnavailable { .. } => 503,
        }
    }

    /// The `metav1.StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::NotFound { .. } => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Expired { .. } => "Expired",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::NotAcceptable { .. } => "NotAcceptable",
            ApiError::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::InternalError { .. } => "InternalError",
            ApiError::ServiceUnavailable { .. } => "ServiceUnavailable",
        }
    }

    /// The human message, worded as upstream words it.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message }
            | ApiError::Expired { message }
            | ApiError::MethodNotAllowed { message }
            | ApiError::NotAcceptable { message }
            | ApiError::RequestEntityTooLarge { message }
            | ApiError::InternalError { message }
            | ApiError::ServiceUnavailable { message } => message.clone(),
            ApiError::NotFound {
                resource,
                group,
                name,
            } => {
                if name.is_empty() {
                    "the server could not find the requested resource".to_owned()
                } else {
                    format!("{} \"{name}\" not found", qualified(resource, group))
                }
            }
            ApiError::AlreadyExists {
                resource,
                group,
                name,
            } => format!("{} \"{name}\" already exists", qualified(resource, group)),
            ApiError::Conflict {
                resource,
                group,
                name,
                message,
            } => format!(
                "Operation cannot be fulfilled on {} \"{name}\": {message}",
                qualified(resource, group)
            ),
            ApiError::Invalid {
                kind,
                group,
                name,
                causes,
            } => {
                let kind = if group.is_empty() {
                    kind.clone()
                } else {
                    format!("{kind}.{group}")
                };
                let details: Vec<String> = causes
                    .iter()
                    .map(|(field, message)| format!("{field}: {message}"))
                    .collect();
                format!("{kind} \"{name}\" is invalid: {}", details.join(", "))
            }
            ApiError::UnsupportedMediaType { content_type } => {
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
                )
            }
            ApiError::TooManyRequests { .. } => {
                "the server has received too many requests and has asked us to try again later"
                    .to_owned()
            }
        }
    }

    /// The `Retry-After` seconds, for 429.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self {
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound {
                resource,
                group,
                name,
            }
            | ApiError::AlreadyExists {
                resource,
                group,
                name,
            }
            | ApiError::Conflict {
                resource,
                group,
                name,
                ..
            } if !name.is_empty() => Some(details(name, group, resource)),
            ApiError::Invalid {
                kind,
                group,
                name,
                causes,
            } => {
                let mut value = details(name, group, kind);
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|(field, message)| {
                        json!({"reason": "FieldValueInvalid", "message": message, "field": field})
                    })
                    .collect();
                if let Some(object) = value.as_object_mut() {
                    object.insert("causes".to_owned(), Value::Array(causes));
                }
                Some(value)
            }
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => Some(json!({"retryAfterSeconds": retry_after_seconds})),
            _ => None,
        };
        if let (Some(details), Some(object)) = (details, status.as_object_mut()) {
            object.insert("details".to_owned(), details);
        }
        status
    }
}

fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut value = json!({"name": name, "kind": kind});
    if !group.is_empty()
        && let Some(object) = value.as_object_mut()
    {
        object.insert("group".to_owned(), Value::String(group.to_owned()));
    }
    value
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} ({})", self.message(), self.code())
    }
}

impl std::error::Error for ApiError {}
