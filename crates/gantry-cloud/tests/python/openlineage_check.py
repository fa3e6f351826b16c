#!/usr/bin/env python3
"""Reads one provenance record (an OpenLineage RunEvent as Gantry writes it)
from a URL and rebuilds it with the openlineage-python client's classes, whose
validators check it; prints a JSON summary. Exit 3: openlineage-python is not
installed. Used by gantry-cloud's and gantryd's tests."""
import json, sys, urllib.request
try:
    from openlineage.client.event_v2 import RunEvent, Run, Job, InputDataset, RunState
    from openlineage.client.facet_v2 import BaseFacet, RunFacet, JobFacet, DatasetFacet, InputDatasetFacet
    from openlineage.client.facet_v2 import job_type_job, input_statistics_input_dataset, dataset_version_dataset, processing_engine_run
    from openlineage.client.serde import Serde
except ImportError as error:
    print(error, file=sys.stderr)
    sys.exit(3)

url = sys.argv[1]
raw = urllib.request.urlopen(url).read()
data = json.loads(raw)

def custom(cls, facet):
    fields = {k: v for k, v in facet.items() if not k.startswith("_")}
    built = cls(producer=facet["_producer"]).with_additional_properties(**fields) if fields else cls(producer=facet["_producer"])
    return built

def run_facet(name, facet):
    if name == "processing_engine":
        return processing_engine_run.ProcessingEngineRunFacet(version=facet["version"], name=facet.get("name"), producer=facet["_producer"])
    return custom(RunFacet, facet)

def dataset_facet(name, facet):
    if name == "version":
        return dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=facet["datasetVersion"], producer=facet["_producer"])
    return custom(DatasetFacet, facet)

def input_facet(name, facet):
    if name == "inputStatistics":
        return input_statistics_input_dataset.InputStatisticsInputDatasetFacet(size=facet.get("size"), fileCount=facet.get("fileCount"), producer=facet["_producer"])
    return custom(InputDatasetFacet, facet)

job_facets = {}
for name, facet in data["job"]["facets"].items():
    if name == "jobType":
        job_facets[name] = job_type_job.JobTypeJobFacet(processingType=facet["processingType"], integration=facet["integration"], jobType=facet.get("jobType"), producer=facet["_producer"])
    else:
        job_facets[name] = custom(JobFacet, facet)

# Constructing the classes runs the client's validators: runId a UUID,
# eventTime an ISO date-time with a time, URLs parse, the event type known.
event = RunEvent(
    eventType=RunState[data["eventType"]],
    eventTime=data["eventTime"],
    run=Run(runId=data["run"]["runId"], facets={n: run_facet(n, f) for n, f in data["run"]["facets"].items()}),
    job=Job(namespace=data["job"]["namespace"], name=data["job"]["name"], facets=job_facets),
    inputs=[InputDataset(namespace=i["namespace"], name=i["name"],
                         facets={n: dataset_facet(n, f) for n, f in i["facets"].items()},
                         inputFacets={n: input_facet(n, f) for n, f in i["inputFacets"].items()})
            for i in data["inputs"]],
    outputs=[],
    producer=data["producer"],
)
assert event.schemaURL == data["schemaURL"], (event.schemaURL, data["schemaURL"])
back = json.loads(Serde.to_json(event))
for key in ("eventType", "eventTime", "producer", "schemaURL"):
    assert back[key] == data[key], key
assert back["run"]["runId"] == data["run"]["runId"]
for read, written in zip(back["inputs"], data["inputs"]):
    if "inputStatistics" in written["inputFacets"]:
        assert read["inputFacets"]["inputStatistics"]["size"] == written["inputFacets"]["inputStatistics"]["size"]
# The client stamps a generic facet with its own _schemaURL; every other
# field of Gantry's facets comes back as written.
def without_schema(facet):
    return {k: v for k, v in facet.items() if k != "_schemaURL"}
for name in ("gantry_spec", "gantry_image", "gantry_placement", "gantry_submitter", "gantry_finalState"):
    if name not in data["run"]["facets"]:
        continue
    assert without_schema(back["run"]["facets"][name]) == without_schema(data["run"]["facets"][name]), (name, back["run"]["facets"][name])
print(json.dumps({"eventType": back["eventType"], "runId": back["run"]["runId"], "job": back["job"]["name"], "facets": sorted(back["run"]["facets"]), "inputs": [i["name"] for i in back["inputs"]]}))
