"""Row 4: the deployment zip ``chalice package`` builds, and what it is made of.

Each file in the zip is put down to the distribution whose ``RECORD`` lists it; the rest is the
app itself (``app.py``, ``chalicelib/``) and Chalice's small runtime. The distributions found
are compared with what ``requirements.txt`` needs (its packages and their dependencies, as the
installed metadata declares them).
"""

import re
import tempfile
import time
import zipfile
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from tools.devkit import process

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "jmespath"}
APP = "app (app.py, chalicelib/)"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path = ROOT / "requirements.txt") -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def required_distributions(roots: list[Requirement]) -> set[str]:
    """These distributions and, transitively, their dependencies on this platform."""
    pending = list(roots)
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = _normalise(requirement.name)
        if name in found:
            continue
        found.add(name)
        for declared in metadata.requires(requirement.name) or []:
            dependency = Requirement(declared)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                pending.append(dependency)
    return found


def analyse(zip_path: Path) -> dict[str, Any]:
    """Total size, size per distribution (compressed and not), and the checks on its contents."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = archive.infolist()
        owner: dict[str, str] = {}
        for entry in entries:
            parts = entry.filename.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD":
                dist = _normalise(parts[0].removesuffix(".dist-info").rsplit("-", 1)[0])
                for line in archive.read(entry).decode().splitlines():
                    owner[line.split(",", 1)[0]] = dist
    groups: dict[str, dict[str, int]] = defaultdict(lambda: {"zipped_bytes": 0, "unzipped_bytes": 0, "files": 0})
    for entry in entries:
        if entry.is_dir():
            continue
        top = entry.filename.split("/", 1)[0]
        if entry.filename in owner:
            group = owner[entry.filename]
        elif entry.filename == "app.py" or top == "chalicelib":
            group = APP
        elif top == "chalice":
            group = "chalice (runtime)"
        else:
            group = f"unowned: {top}"
        groups[group]["zipped_bytes"] += entry.compress_size
        groups[group]["unzipped_bytes"] += entry.file_size
        groups[group]["files"] += 1
    distributions = {name for name in groups if name != APP and not name.startswith(("chalice", "unowned"))}
    required = required_distributions(requirements())
    # What each line of requirements.txt costs, with everything it pulls in (shared ones in each).
    by_requirement = {
        requirement.name: sum(
            groups[dist]["zipped_bytes"] for dist in required_distributions([requirement]) if dist in groups
        )
        for requirement in requirements()
    }
    tops = {entry.filename.split("/", 1)[0].removesuffix(".py") for entry in entries}
    return {
        "zip_bytes": zip_path.stat().st_size,
        "unzipped_bytes": sum(group["unzipped_bytes"] for group in groups.values()),
        "parts": dict(sorted(groups.items(), key=lambda item: -item[1]["zipped_bytes"])),
        "zipped_bytes_by_requirement": by_requirement,
        "aws_sdk_in_zip": sorted((tops | distributions) & RUNTIME_SDK),
        "beyond_requirements": sorted(distributions - required),
        "required_but_missing": sorted(required - distributions),
        "unowned_files": sorted(name for name in groups if name.startswith("unowned")),
    }


def package_row(stage: str = "dev", built_zip: Path | None = None) -> dict[str, Any]:
    """Run ``chalice package`` into a temporary folder and take the zip apart (or ``built_zip``, made already)."""
    if built_zip is not None:
        return {"stage": "given", "package_seconds": None} | analyse(built_zip)
    with tempfile.TemporaryDirectory(prefix="bench-package-") as out:
        started = time.perf_counter()
        built = process.chalice("package", "--stage", stage, out)
        if built.returncode != 0:
            raise RuntimeError(f"chalice package failed:\n{built.stdout[-2000:]}\n{built.stderr[-2000:]}")
        return {"stage": stage, "package_seconds": round(time.perf_counter() - started, 1)} | analyse(
            Path(out) / "deployment.zip"
        )
