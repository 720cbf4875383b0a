"""Deploy wiring, offline: `chalice deploy` against moto's server creates the three functions,
the SQS event source mapping, the SNS subscription and the REST API as configured; `chalice
delete` takes them all away again. Runs in a copy of the project (``tools.reliability.deploy``)."""

import json
from pathlib import Path
from typing import Any

import pytest

from tools.reliability import FULL, deploy

# Two `chalice deploy`s and a delete through the API-import proxy (10 s or more): a check of
# Chalice's deployer against moto more than of this app, whose template `make test` pins.
pytestmark = pytest.mark.skipif(not FULL, reason="offline chalice deploy/delete to moto: `make reliability` runs it")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]
PREFIX = f"compiler-explorer-stats-{deploy.STAGE}"
FUNCTIONS = {
    "api_handler": PREFIX,
    "archive_stats": f"{PREFIX}-archive_stats",
    "forward_alert": f"{PREFIX}-forward_alert",
    "watch_builds": f"{PREFIX}-watch_builds",
}
HANDLERS = {"api_handler": "app.app", "archive_stats": "app.archive_stats", "forward_alert": "app.forward_alert"}
HANDLERS["watch_builds"] = "app.watch_builds"
POLICIES = {"api_handler": "policy-api.json", "archive_stats": "policy-archiver.json"}
POLICIES["forward_alert"] = "policy-forwarder.json"
POLICIES["watch_builds"] = "policy-watch.json"


@pytest.fixture
def prerequisites(boto: Any) -> tuple[str, str]:
    """The queue and topic the README says must exist before a deploy; their ARNs."""
    sqs = boto("sqs")
    url = sqs.create_queue(QueueName="CompilerExplorerStats")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return queue_arn, boto("sns").create_topic(Name="CompilerExplorerAlert")["TopicArn"]


def deployed_functions(lambda_: Any) -> dict[str, dict[str, Any]]:
    functions = lambda_.list_functions()["Functions"]
    return {f["FunctionName"]: f for f in functions if f["FunctionName"].startswith(PREFIX)}


def test_chalice_deploy_wires_everything_and_chalice_delete_removes_it(
    tmp_path: Path, moto_endpoint: str, boto: Any, prerequisites: tuple[str, str]
) -> None:
    queue_arn, topic_arn = prerequisites
    lambda_, iam, sns, apigateway = boto("lambda"), boto("iam"), boto("sns"), boto("apigateway")
    project = deploy.copy_project(tmp_path / "project")

    with deploy.EmulatedAws(moto_endpoint) as aws:
        first = deploy.chalice(project, aws.url, "deploy", "--stage", deploy.STAGE)
        assert first.returncode == 0, first.stdout + first.stderr
        deploy.keep_packages(project)
        # Deploying again updates in place: still one mapping, one subscription, one API.
        second = deploy.chalice(project, aws.url, "deploy", "--stage", deploy.STAGE)
        assert second.returncode == 0, second.stdout + second.stderr

        # The three functions, each with its handler, limits, variables and own policy.
        functions = deployed_functions(lambda_)
        assert set(functions) == set(FUNCTIONS.values())
        for name, function_name in FUNCTIONS.items():
            function = functions[function_name]
            settings = CONFIG["lambda_functions"][name]
            assert function["Handler"] == HANDLERS[name]
            assert function["Runtime"] == "python3.13"
            assert (function["Timeout"], function["MemorySize"]) == (
                settings["lambda_timeout"],
                settings["lambda_memory_size"],
            )
            variables = {**CONFIG["environment_variables"], **settings["environment_variables"]}
            assert function["Environment"]["Variables"] == variables
            role = function["Role"].rsplit("/", 1)[-1]
            (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
            document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            assert document == json.loads((ROOT / ".chalice" / POLICIES[name]).read_text())

        # The archiver reads the stats queue in batches of up to 100, gathered for up to 300 s.
        (mapping,) = lambda_.list_event_source_mappings()["EventSourceMappings"]
        assert mapping["FunctionArn"] == functions[FUNCTIONS["archive_stats"]]["FunctionArn"]
        assert mapping["EventSourceArn"] == queue_arn
        assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (100, 300)

        # The forwarder is subscribed to the alert topic, and SNS may invoke it.
        forwarder_arn = functions[FUNCTIONS["forward_alert"]]["FunctionArn"]
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("lambda", forwarder_arn)]
        (grant,) = json.loads(lambda_.get_policy(FunctionName=FUNCTIONS["forward_alert"])["Policy"])["Statement"]
        assert grant["Principal"] == {"Service": "sns.amazonaws.com"}
        assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == topic_arn

        # The REST API: the document Chalice sent, and what moto made of it.
        document = aws.sent_api_documents[-1]
        api_handler_arn = functions[FUNCTIONS["api_handler"]]["FunctionArn"]
        assert {path: set(operations) for path, operations in document["paths"].items()} == {
            "/pageload": {"post", "options"},
            "/compiler-build/{compiler}": {"get", "options"},
        }
        for path, method in (("/pageload", "post"), ("/compiler-build/{compiler}", "get")):
            integration = document["paths"][path][method]["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy" and api_handler_arn in integration["uri"]
        (api,) = apigateway.get_rest_apis()["items"]
        resources = {
            r["path"]: set(r.get("resourceMethods", {})) for r in apigateway.get_resources(restApiId=api["id"])["items"]
        }
        assert resources["/pageload"] == {"POST", "OPTIONS"}
        assert resources["/compiler-build/{compiler}"] == {"GET", "OPTIONS"}
        assert [stage["stageName"] for stage in apigateway.get_stages(restApiId=api["id"])["item"]] == ["api"]

        deleted = deploy.chalice(project, aws.url, "delete", "--stage", deploy.STAGE)
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr

    assert deployed_functions(lambda_) == {}
    assert lambda_.list_event_source_mappings()["EventSourceMappings"] == []
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
    assert apigateway.get_rest_apis()["items"] == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)] == []
    # The deployment record stayed in the copy; the repository has none for this stage.
    assert not (ROOT / ".chalice" / "deployed" / f"{deploy.STAGE}.json").exists()
