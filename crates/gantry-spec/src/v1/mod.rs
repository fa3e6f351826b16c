//! Wire types of `apiVersion: gantry.dev/v1`: exactly what users write.
//!
//! These derive `Deserialize` (read through the recovering deserializer) and
//! `JsonSchema` (for `gantry schema`), and follow its protocol: fields a user
//! must give are `Option` + `#[schemars(required)]` (serde reads an absent
//! `Option` as `None`; a `#[serde(default)]` there would hide `required` from
//! the schema), and their presence is checked when converting to domain
//! types. Nothing here validates; see `crate::convert`.

mod config;
mod job;
mod scalars;

pub use config::*;
pub use job::*;
pub use scalars::*;

/// The only apiVersion this build understands.
pub const API_VERSION: &str = "gantry.dev/v1";
