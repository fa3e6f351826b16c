//! `gantry.v1.FleetService`: the clusters as the executor sees them, the
//! teams as the control loop counts them.

use std::sync::Arc;

use gantry_proto as pb;
use gantry_proto::fleet_service_server::FleetService;
use tonic::{Request, Response, Status};

use crate::grpc::ApiState;
use crate::grpc::convert;
use crate::grpc::errors::control_status;

/// The fleet service.
#[derive(Clone, Debug)]
pub struct Fleet {
    state: Arc<ApiState>,
}

impl Fleet {
    /// The service over `state`.
    pub fn new(state: Arc<ApiState>) -> Fleet {
        Fleet { state }
    }
}

#[tonic::async_trait]
impl FleetService for Fleet {
    async fn list_clusters(
        &self,
        _request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        let status = self.state.control.status();
        let now = jiff::Timestamp::now().as_millisecond();
        let clusters = status
            .clusters
            .iter()
            .map(|view| {
                let jobs = status
                    .jobs_per_cluster
                    .get(&view.cluster)
                    .copied()
                    .unwrap_or(0);
                convert::cluster(view, jobs, now)
            })
            .collect();
        Ok(Response::new(pb::ListClustersResponse { clusters }))
    }

    async fn list_quotas(
        &self,
        _request: Request<pb::ListQuotasRequest>,
    ) -> Result<Response<pb::ListQuotasResponse>, Status> {
        let teams = self.state.control.teams().await.map_err(control_status)?;
        Ok(Response::new(pb::ListQuotasResponse {
            teams: teams.iter().map(convert::team).collect(),
        }))
    }
}
