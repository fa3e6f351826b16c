//! Gantry's gRPC API, `gantry.v1`: messages and services generated from
//! `proto/gantry/v1/`, the encoded file descriptor set (for server
//! reflection), and conversions between wire enums and `gantry-core` types.
//!
//! **Architecture Invariant:** translation only: no decision is made here.

#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    rust_2018_idioms
)]
mod generated {
    tonic::include_proto!("gantry.v1");
}

pub use generated::*;

mod convert;

pub use convert::{
    capacity_type_from_proto, capacity_type_to_proto, job_kind_from_proto, job_kind_to_proto,
    job_state_from_proto, job_state_to_proto,
};

/// The encoded `FileDescriptorSet` of `gantry.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gantry_v1_descriptor.bin"));
