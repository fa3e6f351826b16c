#!/usr/bin/env python3
"""Derive Gantry's shipped GPU price table from the SkyPilot catalog excerpts.

Reads the three `*_gpu_vms.csv` files under the catalog directory (by default
`../shared/data/catalog` relative to the repository root) and writes
`deploy/prices/gpu-prices.csv` with the columns

    Cloud,InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,
    Price,SpotPrice,Region,AvailabilityZone

Upstream values are copied as text, unchanged, except for the documented fixes
(see PROVENANCE.md next to this file):

- GCP a2/a3/g2 machine rows carry the host-only price; the price of the GPUs
  the machine type comes with (the separate row with an empty InstanceType for
  that zone, GPU name and count) is added to both the on-demand and the spot
  price, with exact decimal arithmetic. The GPU name and count are filled in.
  When the zone has no such GPU row, or either side of the sum is empty, the
  sum is left empty so that the loader rejects it visibly.
- Azure Standard_ND96isr_H100_v5 is listed with AcceleratorCount 12; it has 8.

Dropped: TPU rows, the GCP GPU-only price rows (consumed by the addition
above), and rows of instances without GPUs (GCP n1-highmem-8, a TPU host;
Azure Standard_NP*, FPGA instances). Prices that are empty, zero or
placeholders are kept as they are: rejecting them is the loader's job.

Standard library only; Python 3.11. Output order is sorted and the file ends
with a newline, so running it twice gives the same bytes.

Usage: python3 deploy/prices/derive_price_table.py [CATALOG_DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

OUTPUT_COLUMNS = [
    "Cloud",
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "Price",
    "SpotPrice",
    "Region",
    "AvailabilityZone",
]

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CATALOG = REPO_ROOT / ".." / "shared" / "data" / "catalog"
DEFAULT_OUTPUT = REPO_ROOT / "deploy" / "prices" / "gpu-prices.csv"

# g2-standard-N machine types: L4 count by N. The catalog gives none; these are
# the G2 machine shapes GCP documents (4, 8, 12, 16 and 32 vCPUs have one L4).
G2_L4_COUNT = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}

# Azure instance types whose upstream AcceleratorCount is wrong, and the right one.
AZURE_COUNT_FIXES = {"Standard_ND96isr_H100_v5": ("12", "8")}

# Instance types without a GPU that the excerpts happen to contain.
GCP_NON_GPU_TYPES = {"n1-highmem-8"}
AZURE_NON_GPU_PREFIXES = ("Standard_NP",)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def is_tpu(accelerator_name: str) -> bool:
    return accelerator_name.lower().startswith("tpu")


def gcp_machine_gpus(instance_type: str) -> tuple[str, str] | None:
    """The (GPU row name, count) a GCP accelerator-optimized machine type comes with."""
    patterns = [
        (r"a2-highgpu-(\d+)g", "A100"),
        (r"a2-megagpu-(\d+)g", "A100"),
        (r"a2-ultragpu-(\d+)g", "A100-80GB"),
        (r"a3-highgpu-(\d+)g", "H100"),
        (r"a3-megagpu-(\d+)g", "H100-MEGA"),
    ]
    for pattern, gpu_name in patterns:
        match = re.fullmatch(pattern, instance_type)
        if match:
            return gpu_name, match.group(1)
    match = re.fullmatch(r"g2-standard-(\d+)", instance_type)
    if match:
        count = G2_L4_COUNT.get(int(match.group(1)))
        if count is None:
            return None
        return "L4", str(count)
    return None


def add_prices(host: str, gpu: str) -> str:
    """Exact decimal sum of two price texts; empty if either is empty or not a number."""
    if host.strip() == "" or gpu.strip() == "":
        return ""
    try:
        total = Decimal(host) + Decimal(gpu)
    except InvalidOperation:
        return ""
    # Plain notation, no exponent, trailing zeros trimmed (but keep one decimal).
    text = format(total.normalize(), "f")
    if "." not in text:
        text += ".0"
    return text


def aws_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for row in rows:
        name = row["AcceleratorName"]
        if name == "" or is_tpu(name):
            continue
        out.append(
            {
                "Cloud": "aws",
                "InstanceType": row["InstanceType"],
                "AcceleratorName": name,
                "AcceleratorCount": row["AcceleratorCount"],
                "vCPUs": row["vCPUs"],
                "MemoryGiB": row["MemoryGiB"],
                "Price": row["Price"],
                "SpotPrice": row["SpotPrice"],
                "Region": row["Region"],
                "AvailabilityZone": row["AvailabilityZone"],
            }
        )
    return out


def gcp_rows(rows: list[dict[str, str]], warnings: list[str]) -> list[dict[str, str]]:
    gpu_prices: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in rows:
        if row["InstanceType"] == "" and not is_tpu(row["AcceleratorName"]):
            key = (row["AvailabilityZone"], row["AcceleratorName"], row["AcceleratorCount"])
            gpu_prices[key] = row
    out = []
    for row in rows:
        instance_type = row["InstanceType"]
        if instance_type == "" or is_tpu(row["AcceleratorName"]):
            continue  # GPU-only price rows (consumed below) and TPU rows
        if instance_type in GCP_NON_GPU_TYPES:
            continue
        name, count = row["AcceleratorName"], row["AcceleratorCount"]
        price, spot_price = row["Price"], row["SpotPrice"]
        machine_gpus = gcp_machine_gpus(instance_type)
        if machine_gpus is not None:
            name, count = machine_gpus
            gpu_row = gpu_prices.get((row["AvailabilityZone"], name, count))
            if gpu_row is None:
                warnings.append(
                    f"gcp {instance_type} in {row['AvailabilityZone']}: no {name} x{count} "
                    "price row in that zone; prices left empty"
                )
                price, spot_price = "", ""
            else:
                price = add_prices(price, gpu_row["Price"])
                spot_price = add_prices(spot_price, gpu_row["SpotPrice"])
        elif name == "":
            warnings.append(f"gcp {instance_type}: no GPU known for this machine type; dropped")
            continue
        out.append(
            {
                "Cloud": "gcp",
                "InstanceType": instance_type,
                "AcceleratorName": name,
                "AcceleratorCount": count,
                "vCPUs": row["vCPUs"],
                "MemoryGiB": row["MemoryGiB"],
                "Price": price,
                "SpotPrice": spot_price,
                "Region": row["Region"],
                "AvailabilityZone": row["AvailabilityZone"],
            }
        )
    return out


def azure_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for row in rows:
        instance_type = row["InstanceType"]
        name, count = row["AcceleratorName"], row["AcceleratorCount"]
        if is_tpu(name) or instance_type.startswith(AZURE_NON_GPU_PREFIXES):
            continue
        fix = AZURE_COUNT_FIXES.get(instance_type)
        if fix is not None and count == fix[0]:
            count = fix[1]
        out.append(
            {
                "Cloud": "azure",
                "InstanceType": instance_type,
                "AcceleratorName": name,
                "AcceleratorCount": count,
                "vCPUs": row["vCPUs"],
                "MemoryGiB": row["MemoryGiB"],
                "Price": row["Price"],
                "SpotPrice": row["SpotPrice"],
                "Region": row["Region"],
                "AvailabilityZone": "",
            }
        )
    return out


def sort_key(row: dict[str, str]) -> tuple[str, ...]:
    return (row["Cloud"], row["InstanceType"], row["Region"], row["AvailabilityZone"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "catalog_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_CATALOG,
        help="directory holding aws_gpu_vms.csv, gcp_gpu_vms.csv and azure_gpu_vms.csv",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    warnings: list[str] = []
    table = (
        aws_rows(read_rows(args.catalog_dir / "aws_gpu_vms.csv"))
        + gcp_rows(read_rows(args.catalog_dir / "gcp_gpu_vms.csv"), warnings)
        + azure_rows(read_rows(args.catalog_dir / "azure_gpu_vms.csv"))
    )
    table.sort(key=sort_key)
    keys = [sort_key(row) for row in table]
    if len(set(keys)) != len(keys):
        print("error: duplicate (cloud, instance type, region, zone) rows", file=sys.stderr)
        return 1

    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    counts = {cloud: sum(1 for row in table if row["Cloud"] == cloud) for cloud in ("aws", "gcp", "azure")}
    summary = ", ".join(f"{cloud} {count}" for cloud, count in counts.items())
    print(f"wrote {len(table)} rows ({summary}) to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
