"""The Python kubernetes client against gantry-sim.

Usage: watch_resume.py KUBECONFIG CONTEXT

Checks, printing `ok: ...` on success and exiting 1 on the first failure:
- list with limit/continue returns every node once;
- a watch from a list's resourceVersion sees every transition of a Job's pods
  (ADDED Pending, MODIFIED scheduled, Running, Succeeded) and the Job's Complete;
- a watch resumed from a mid-stream resourceVersion replays exactly the later events;
- a watch from a resourceVersion older than the history gets 410 Gone.
"""

import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def main():
    kubeconfig, context = sys.argv[1], sys.argv[2]
    config.load_kube_config(config_file=kubeconfig, context=context)
    core = client.CoreV1Api()
    batch = client.BatchV1Api()

    # Pagination.
    names, token = [], None
    while True:
        page = core.list_node(limit=5, _continue=token)
        names += [n.metadata.name for n in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert len(names) == len(set(names)) == 28, names

    start = core.list_namespaced_pod("default").metadata.resource_version
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "py"},
        "spec": {
            "completions": 2,
            "parallelism": 1,
            "template": {
                "metadata": {"annotations": {"sim.gantry.dev/duration": "10m"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]},
            },
        },
    }
    batch.create_namespaced_job("default", job)

    events = []
    succeeded = set()
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, "default", resource_version=start, timeout_seconds=30):
        pod = event["object"]
        events.append((event["type"], pod.metadata.name, pod.status.phase, bool(pod.spec.node_name), pod.metadata.resource_version))
        if pod.status.phase == "Succeeded":
            succeeded.add(pod.metadata.name)
        if len(succeeded) == 2:
            w.stop()
    assert len(succeeded) == 2, events
    for name in succeeded:
        seen = [(kind, phase, bound) for kind, pod, phase, bound, _ in events if pod == name]
        assert seen[0] == ("ADDED", "Pending", False), seen
        assert ("MODIFIED", "Pending", True) in seen, seen
        assert ("MODIFIED", "Running", True) in seen, seen
        assert seen[-1] == ("MODIFIED", "Succeeded", True), seen

    # Resume from the middle: exactly the later events, in order.
    middle = events[len(events) // 2]
    expected = [(kind, name, phase, version) for kind, name, phase, _, version in events[len(events) // 2 + 1:]]
    resumed = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, "default", resource_version=middle[4], timeout_seconds=5):
        pod = event["object"]
        resumed.append((event["type"], pod.metadata.name, pod.status.phase, pod.metadata.resource_version))
        if len(resumed) == len(expected):
            w.stop()
    assert resumed == expected, (resumed, expected)

    # The Job completes.
    w = watch.Watch()
    complete = False
    for event in w.stream(batch.list_namespaced_job, "default", field_selector="metadata.name=py", timeout_seconds=30):
        conditions = event["object"].status.conditions or []
        if any(c.type == "Complete" and c.status == "True" for c in conditions):
            complete = True
            w.stop()
    assert complete

    # Push the start out of the (64-event) history: 410 Gone.
    for i in range(70):
        core.patch_namespace("default", {"metadata": {"annotations": {"tick": str(i)}}})
    try:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=start, timeout_seconds=5):
            pass
        raise AssertionError("expected 410 Gone")
    except ApiException as error:
        assert error.status == 410, error

    print("ok: %d nodes paginated, %d pod events, %d resumed, 410 on expiry" % (len(names), len(events), len(resumed)))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print("FAILED:", error)
        sys.exit(1)
