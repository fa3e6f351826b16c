//! Scalar wire types whose syntax is checked at conversion: they accept a
//! string or a plain number in YAML, and describe that in the JSON Schema.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

macro_rules! text_scalar {
    ($(#[$doc:meta])* $name:ident, $schema_name:literal, $schema:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($schema_name)
            }

            fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

text_scalar!(
    /// A Kubernetes quantity: `8`, `500m`, `16Gi`, `1.5T`.
    QuantityText,
    "Quantity",
    json_schema!({
        "description": "Kubernetes quantity, e.g. 8, 500m, 16Gi, 1.5T",
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"}
        ]
    })
);

text_scalar!(
    /// A duration: `30m`, `6h`, `2d`, `1h30m`.
    DurationText,
    "Duration",
    json_schema!({
        "description": "duration with units ms, s, m, h, d, w, e.g. 30m, 6h, 1h30m",
        "type": "string",
        "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"
    })
);

text_scalar!(
    /// US dollars: `400`, `12.5`.
    DollarsText,
    "Dollars",
    json_schema!({
        "description": "US dollars, up to 6 decimals",
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": r"^\$?[0-9]+(\.[0-9]{1,6})?$"}
        ]
    })
);

text_scalar!(
    /// A priority: an integer (higher first) or a class name.
    PriorityText,
    "Priority",
    json_schema!({
        "description": "integer 0..=1000000 (higher first) or one of low (0), normal (100), high (1000)",
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 1_000_000},
            {"type": "string", "enum": ["low", "normal", "high"]}
        ]
    })
);

text_scalar!(
    /// A GPU model name or alias: `H100`, `A100-80GB`, `nvidia-l4`.
    GpuModelText,
    "GpuModel",
    json_schema!({
        "description": "GPU model, e.g. H100, H200, B200, A100, A100-80GB, L40S, L4, A10G, T4, V100, MI300X (aliases accepted)",
        "type": "string",
        "minLength": 1
    })
);

/// Schema of label, annotation and env values: YAML scalars that are read
/// as their text (`lr: 3e-4`, `run: 17`, `debug: true`).
#[derive(Debug)]
pub struct ScalarTextSchema;

impl JsonSchema for ScalarTextSchema {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("ScalarText")
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "a string; plain numbers and booleans are read as the text written",
            "type": ["string", "number", "boolean"]
        })
    }
}

/// Region globs: `us-*`, `europe-west?`.
pub const REGION_GLOB_PATTERN: &str = r"^[a-z0-9*?-]+$";
/// DNS-1123 label.
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// Team path: DNS-1123 labels joined by `/`.
pub const TEAM_PATH_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?){0,7}$";
/// Data URIs Gantry can locate.
pub const DATA_URI_PATTERN: &str =
    r"^(gs|s3|az)://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/.*)?$|^https://[^\s/]+(/.*)?$";
