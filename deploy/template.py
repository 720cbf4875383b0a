"""A stage as one CloudFormation stack: resources/stateful.yaml, merged with resources/wiring.yaml
into Chalice's SAM template, and cfn-lint over both (`make package-stack STAGE=...`).

    .venv/bin/python -m deploy.template --stage dev [OUTDIR]
    .venv/bin/python -m deploy.template --stage prod --import [OUTDIR]

The first writes OUTDIR-merge.yaml (the two files merged), runs ``chalice package
--merge-template`` into OUTDIR (default build/stack), and lints the stateful template and the
merged one. Deploy the result with ``aws cloudformation package``/``deploy`` (README, "Deploying").

The second is for a stage whose queue, table, bucket and topic exist already (production):
OUTDIR/import.yaml and OUTDIR/resources-to-import.json, what ``aws cloudformation
create-change-set --change-set-type IMPORT`` needs to adopt them into a stack of
resources/stateful.yaml (default OUTDIR build/import).
"""

import argparse
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STATEFUL = ROOT / "resources" / "stateful.yaml"
WIRING = ROOT / "resources" / "wiring.yaml"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
BIN = Path(sys.executable).parent

# What production has had since before there was a stack: a resource import adopts these four
# (by logical id), and the update that follows creates the rest of resources/stateful.yaml.
EXISTING = ("StatsQueue", "BuildTable", "ArchiveBucket", "AlertTopic")
# What an import template keeps of each: the name, and what the type cannot be declared without.
# Everything else is added by the update, so CloudFormation applies it rather than assuming it.
IMPORT_PROPERTIES = {
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::DynamoDB::Table": ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode"),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SNS::Topic": ("TopicName",),
}
NAME_PROPERTY = {"AWS::SQS::Queue": "QueueName", "AWS::DynamoDB::Table": "TableName"}
NAME_PROPERTY |= {"AWS::S3::Bucket": "BucketName", "AWS::SNS::Topic": "TopicName"}


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def deep_merge(base: Any, overlay: Any) -> Any:
    """``overlay`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {**base, **{key: deep_merge(base.get(key), value) for key, value in overlay.items()}}
    return overlay


def for_stage(node: Any, stage: str) -> Any:
    """``node`` (from resources/) with its Stage parameter and IsProd condition worked out for ``stage``."""
    if isinstance(node, list):
        return [for_stage(item, stage) for item in node]
    if not isinstance(node, dict):
        return node
    if list(node) == ["Fn::If"] and node["Fn::If"][0] == "IsProd":
        return for_stage(node["Fn::If"][1 if stage == "prod" else 2], stage)
    if node == {"Ref": "Stage"}:
        return stage
    if list(node) == ["Fn::Sub"]:
        text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        text = text.replace("${Stage}", stage)
        variables = for_stage(variables, stage)
        for name in [name for name, value in variables.items() if isinstance(value, str)]:
            text = text.replace(f"${{{name}}}", variables.pop(name))
        if "${" not in text:
            return text
        return {"Fn::Sub": [text, variables] if variables else text}
    return {key: for_stage(value, stage) for key, value in node.items()}


def merge_template(stage: str) -> dict[str, Any]:
    """The template for ``chalice package --merge-template``: stateful resources plus wiring.

    Its names are literal: the packaged stack is ``stage``'s alone and can be deployed as no other.
    """
    merged = for_stage(deep_merge(load(STATEFUL), load(WIRING)), stage)
    del merged["Parameters"]["Stage"], merged["Conditions"]["IsProd"]
    return {key: value for key, value in merged.items() if value != {}}


def create_stateful_stack(
    cloudformation: Any, name: str = "compiler-explorer-stats-resources", stage: str = "prod"
) -> dict[str, str]:
    """Create resources/stateful.yaml as a stack (in moto, for the tests); its outputs.

    In AWS only a new stage's resources can be created; production's are imported (README).
    """
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=STATEFUL.read_text(),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def package(stage: str, outdir: Path, project_dir: Path = ROOT) -> Path:
    """``chalice package`` with the merge template; the path of the SAM template it wrote."""
    outdir.mkdir(parents=True, exist_ok=True)
    merge = outdir.parent / f"{outdir.name}-merge.yaml"
    merge.write_text(yaml.safe_dump(merge_template(stage), sort_keys=False))
    result = subprocess.run(  # noqa: S603 (our own venv tools, fixed arguments)
        [str(BIN / "chalice"), "package", "--stage", stage, "--merge-template", str(merge), str(outdir)],
        cwd=project_dir,
        env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"chalice package --stage {stage} failed:\n{result.stdout}{result.stderr}")
    # A YAML merge template makes Chalice write YAML.
    return outdir / "sam.yaml"


def import_template(stage: str) -> dict[str, Any]:
    """The four EXISTING resources alone, under ``stage``'s literal names, ready to be imported.

    CloudFormation imports only resources that keep their data when removed (DeletionPolicy) and
    lets an import neither create nor output anything; the update afterwards adds the rest.
    """
    stateful = for_stage(load(STATEFUL)["Resources"], stage)
    resources: dict[str, Any] = {}
    for logical_id in EXISTING:
        resource = stateful[logical_id]
        kept = {key: resource["Properties"][key] for key in IMPORT_PROPERTIES[resource["Type"]]}
        resources[logical_id] = {
            "Type": resource["Type"],
            "DeletionPolicy": resource["DeletionPolicy"],
            "UpdateReplacePolicy": resource["UpdateReplacePolicy"],
            "Properties": kept,
        }
    description = f"Compiler Explorer stats and alerts ({stage}) - the existing resources, for a resource import"
    return {"AWSTemplateFormatVersion": "2010-09-09", "Description": description, "Resources": resources}


def resources_to_import(stage: str) -> list[dict[str, Any]]:
    """``--resources-to-import`` for :func:`import_template`: each resource's type, logical id, identifier.

    Account and region come from the stage's SQS_STATS_QUEUE, the URL its API already sends to.
    """
    config = json.loads(CHALICE_CONFIG.read_text())["stages"][stage]
    queue_url = config["lambda_functions"]["api_handler"]["environment_variables"]["SQS_STATS_QUEUE"]
    url = urllib.parse.urlsplit(queue_url)
    region, account = (url.hostname or "").split(".")[1], url.path.split("/")[1]  # sqs.<region>.amazonaws.com
    resources = import_template(stage)["Resources"]
    names = {logical_id: r["Properties"][NAME_PROPERTY[r["Type"]]] for logical_id, r in resources.items()}
    if queue_url != f"https://{url.hostname}/{account}/{names['StatsQueue']}":
        raise ValueError(f"{CHALICE_CONFIG.name} sends the {stage} API to {queue_url}, not to {names['StatsQueue']}")
    identifiers = {
        "StatsQueue": {"QueueUrl": queue_url},
        "BuildTable": {"TableName": names["BuildTable"]},
        "ArchiveBucket": {"BucketName": names["ArchiveBucket"]},
        "AlertTopic": {"TopicArn": f"arn:aws:sns:{region}:{account}:{names['AlertTopic']}"},
    }
    return [
        {"ResourceType": resources[logical_id]["Type"], "LogicalResourceId": logical_id, "ResourceIdentifier": ids}
        for logical_id, ids in identifiers.items()
    ]


def write_import(stage: str, outdir: Path) -> Path:
    """import.yaml and resources-to-import.json in ``outdir``; the template's path."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "import.yaml").write_text(yaml.safe_dump(import_template(stage), sort_keys=False))
    (outdir / "resources-to-import.json").write_text(json.dumps(resources_to_import(stage), indent=2) + "\n")
    return outdir / "import.yaml"


def lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "cfn-lint"), *map(str, paths)], capture_output=True, text=True, check=False)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--import", dest="adopt", action="store_true", help="write what a resource import needs")
    parser.add_argument("outdir", nargs="?", type=Path)
    args = parser.parse_args(argv)
    if args.adopt:
        template = write_import(args.stage, args.outdir or ROOT / "build" / "import")
        result = lint(template)
    else:
        template = package(args.stage, args.outdir or ROOT / "build" / "stack")
        result = lint(STATEFUL, template)
    print(result.stdout + result.stderr, end="")
    print(f"{template}: {'passes' if result.returncode == 0 else 'FAILS'} cfn-lint")
    if args.adopt:
        print(f"{template.parent / 'resources-to-import.json'}: what --resources-to-import takes")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
