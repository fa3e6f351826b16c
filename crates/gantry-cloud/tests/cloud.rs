//! Behaviour tests of the adapters and the logic above them: recorded EC2
//! responses, moto, outages, garbage, data locations, provenance.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

#[path = "cloud/catalog.rs"]
mod catalog;
#[path = "cloud/data_location.rs"]
mod data_location;
#[path = "cloud/ec2_garbage.rs"]
mod ec2_garbage;
#[path = "cloud/outage.rs"]
mod outage;
#[path = "cloud/prices_moto.rs"]
mod prices_moto;
#[path = "cloud/prices_recorded.rs"]
mod prices_recorded;
#[path = "cloud/provenance.rs"]
mod provenance;
