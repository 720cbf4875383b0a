"""`chalice deploy` and `chalice delete` against moto's server, in a copy of the project.

The copy (app.py, chalicelib/, requirements.txt, .chalice/config.json and the policies) lives
in a temporary directory, so deployment records never touch the repository; its config gains
a stage ``reliability`` that is ``prod`` under another name. The deployment package is cached
in build/reliability/deployments (and seeded from .chalice/deployments) so that a deploy needs
no download once `chalice package` has run.

moto's API Gateway imports only OpenAPI 3 and needs a ``uri`` on every integration; Chalice
sends Swagger 2.0 with ``mock`` integrations for CORS preflights. The proxy in front of moto
keeps the document Chalice sent (``sent_api_documents``: what API Gateway would get) and hands
moto a translation. Everything else reaches moto as Chalice sent it.
"""

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tools.devkit import faultproxy, names, process

ROOT = Path(__file__).resolve().parents[2]
STAGE = "reliability"
CACHE = ROOT / "build" / "reliability" / "deployments"


def copy_project(destination: Path, base_stage: str = "prod") -> Path:
    """The deployable parts of the project in ``destination``, with a stage ``reliability``."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "app.py", destination / "app.py")
    shutil.copy2(ROOT / "requirements.txt", destination / "requirements.txt")
    shutil.copytree(ROOT / "chalicelib", destination / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    chalice_dir = destination / ".chalice"
    chalice_dir.mkdir(exist_ok=True)
    for policy in (ROOT / ".chalice").glob("policy-*.json"):
        shutil.copy2(policy, chalice_dir / policy.name)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["stages"][STAGE] = copy.deepcopy(config["stages"][base_stage])
    (chalice_dir / "config.json").write_text(json.dumps(config, indent=2))
    packages = chalice_dir / "deployments"
    packages.mkdir(exist_ok=True)
    for cached in [*(ROOT / ".chalice" / "deployments").glob("*.zip"), *CACHE.glob("*.zip")]:
        if not (packages / cached.name).exists():
            shutil.copy2(cached, packages / cached.name)
    return destination


def keep_packages(project: Path) -> None:
    """Remember the dependency packages Chalice built, for the next deploy."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for built in (project / ".chalice" / "deployments").glob("*.zip"):
        if not (CACHE / built.name).exists():
            shutil.copy2(built, CACHE / built.name)


def chalice(project: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The venv's ``chalice`` in ``project``, with every AWS call going to ``endpoint``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(names.aws_environment(endpoint))
    return process.chalice(*args, cwd=project, env=environment)


def _imports_an_api(exchange: faultproxy.Exchange) -> bool:
    path = exchange.path.split("?")[0]
    return (exchange.method == "POST" and path == "/restapis" and "mode=import" in exchange.path) or (
        exchange.method == "PUT" and path.startswith("/restapis/") and "mode=" in exchange.path
    )


def as_openapi3(document: dict[str, Any]) -> dict[str, Any]:
    """What moto can import of a Swagger 2.0 document from Chalice: same paths, methods, integrations."""
    translated = copy.deepcopy(document)
    translated.pop("swagger", None)
    translated["openapi"] = "3.0.1"
    translated.setdefault("info", {}).setdefault("description", "")
    for operations in translated.get("paths", {}).values():
        for operation in operations.values():
            integration = operation.get("x-amazon-apigateway-integration", {})
            if integration.get("type") == "mock":
                integration.setdefault("uri", "")
                integration.setdefault("httpMethod", "POST")
    return translated


class EmulatedAws:
    """A proxy in front of moto that lets Chalice's API import through and records it."""

    def __init__(self, moto_endpoint: str) -> None:
        self.proxy = faultproxy.FaultProxy(moto_endpoint)
        self.sent_api_documents: list[dict[str, Any]] = []

        def translate(document: Any) -> Any:
            self.sent_api_documents.append(copy.deepcopy(document))
            return as_openapi3(document)

        self.proxy.add(faultproxy.Rule(_imports_an_api, faultproxy.patch_json(translate)))

    @property
    def url(self) -> str:
        return self.proxy.url

    def __enter__(self) -> "EmulatedAws":
        self.proxy.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proxy.__exit__(*exc)
