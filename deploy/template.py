"""A stage as one CloudFormation stack: resources/stateful.yaml, merged with resources/wiring.yaml
into Chalice's SAM template, and cfn-lint over both (`make package-stack STAGE=...`).

    .venv/bin/python -m deploy.template [--stage prod] [OUTDIR]

writes OUTDIR-merge.yaml (the two files merged), runs ``chalice package --merge-template`` into
OUTDIR (default build/stack), and lints the stateful template and the merged one. Deploy the
result with ``aws cloudformation package``/``deploy`` as Chalice's docs describe (README,
"Deploying").
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STATEFUL = ROOT / "resources" / "stateful.yaml"
WIRING = ROOT / "resources" / "wiring.yaml"
BIN = Path(sys.executable).parent


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def deep_merge(base: Any, overlay: Any) -> Any:
    """``overlay`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {**base, **{key: deep_merge(base.get(key), value) for key, value in overlay.items()}}
    return overlay


def merge_template() -> dict[str, Any]:
    """The template for ``chalice package --merge-template``: stateful resources plus wiring."""
    return deep_merge(load(STATEFUL), load(WIRING))


def create_stateful_stack(cloudformation: Any, name: str = "compiler-explorer-stats-resources") -> dict[str, str]:
    """Create resources/stateful.yaml as a stack (in moto, for the tests); its outputs."""
    cloudformation.create_stack(StackName=name, TemplateBody=STATEFUL.read_text())
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def package(stage: str, outdir: Path, project_dir: Path = ROOT) -> Path:
    """``chalice package`` with the merge template; the path of the SAM template it wrote."""
    outdir.mkdir(parents=True, exist_ok=True)
    merge = outdir.parent / f"{outdir.name}-merge.yaml"
    merge.write_text(yaml.safe_dump(merge_template(), sort_keys=False))
    subprocess.run(  # noqa: S603 (our own venv tools, fixed arguments)
        [str(BIN / "chalice"), "package", "--stage", stage, "--merge-template", str(merge), str(outdir)],
        cwd=project_dir,
        env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
        check=True,
        capture_output=True,
        text=True,
    )
    # A YAML merge template makes Chalice write YAML.
    return outdir / "sam.yaml"


def lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "cfn-lint"), *map(str, paths)], capture_output=True, text=True, check=False)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("outdir", nargs="?", type=Path, default=ROOT / "build" / "stack")
    args = parser.parse_args(argv)
    template = package(args.stage, args.outdir)
    result = lint(STATEFUL, template)
    print(result.stdout + result.stderr, end="")
    print(f"{template}: {'passes' if result.returncode == 0 else 'FAILS'} cfn-lint (with {STATEFUL.name})")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
