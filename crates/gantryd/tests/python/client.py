"""A gRPC client that is not Gantry's: Python grpcio with stubs generated
from proto/ by grpcio-tools. Submits a job and watches it to the end,
submits another and cancels it, checks the request-id contract and the
error codes. Prints one line per check; exits non-zero on the first failure.

usage: client.py STUBS_DIR SERVER SPEC_FILE
"""

import sys

stubs, server, spec_path = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, stubs)

import grpc  # noqa: E402
from gantry.v1 import job_service_pb2 as jobs  # noqa: E402
from gantry.v1 import job_service_pb2_grpc as jobs_grpc  # noqa: E402
from gantry.v1 import types_pb2 as types  # noqa: E402

spec = open(spec_path).read()
channel = grpc.insecure_channel(server)
grpc.channel_ready_future(channel).result(timeout=30)
client = jobs_grpc.JobServiceStub(channel)


def check(condition, what):
    if not condition:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


first = client.SubmitJob(jobs.SubmitJobRequest(spec_yaml=spec, request_id="py-1"), timeout=30)
check(first.created and first.job.state == types.JOB_STATE_QUEUED, "submit creates a queued job")
again = client.SubmitJob(jobs.SubmitJobRequest(spec_yaml=spec, request_id="py-1"), timeout=30)
check(not again.created and again.job.id == first.job.id, "the same request id is the same job")

transitions = []
for event in client.WatchJobs(jobs.WatchJobsRequest(job_id=first.job.id), timeout=120):
    transitions.append(event.transition)
check(transitions == ["Accept", "Place", "Launch", "Start", "Succeed"], f"watch sees every transition: {transitions}")

long_spec = spec.replace("expectedRuntime: 3h", "expectedRuntime: 1000h").replace("maxRuntime: 8h", "maxRuntime: 2000h").replace(
    "name: mistral-7b-lora", "name: py-long"
)
second = client.SubmitJob(jobs.SubmitJobRequest(spec_yaml=long_spec), timeout=30)
cancelled = client.CancelJob(jobs.CancelJobRequest(id=second.job.id, reason="python says stop"), timeout=30)
check(cancelled.job.state == types.JOB_STATE_CANCELLED, "cancel")
got = client.GetJob(jobs.GetJobRequest(id=second.job.id, include_events=True), timeout=30)
check(got.events[-1].transition == "Cancel" and got.events[-1].reason == "python says stop", "the cancel is an event with its reason")

try:
    client.SubmitJob(jobs.SubmitJobRequest(spec_yaml="kind: Nonsense\n"), timeout=30)
    check(False, "a bad spec is refused")
except grpc.RpcError as error:
    check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, f"a bad spec is INVALID_ARGUMENT: {error.details()[:80]!r}")

try:
    client.GetJob(jobs.GetJobRequest(id="no-such-job"), timeout=30)
    check(False, "an unknown job is refused")
except grpc.RpcError as error:
    check(error.code() == grpc.StatusCode.NOT_FOUND, "an unknown job is NOT_FOUND")

listed = client.ListJobs(jobs.ListJobsRequest(page_size=10), timeout=30)
check({job.id for job in listed.jobs} == {first.job.id, second.job.id}, "list shows both jobs")
print("python client: all checks passed")
