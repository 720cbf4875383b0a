"""Security: least-privilege IAM exactly as specified, no secret in the repository, and CORS
that lets the browser clients in and nothing more."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chalice.config import Config
from chalice.local import LocalGateway

import app as stats_app
from chalicelib import settings
from tools.devkit import names
from tools.reliability import secrets

ROOT = Path(__file__).resolve().parent.parent
CHALICE = ROOT / ".chalice"
ACCOUNT, REGION = "052730242331", "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{settings.STATS_QUEUE_NAME}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/compiler-builds"
ALERT_STATE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/compiler-explorer-alerts"
ALERT_STATE_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
DEV_ALERT_STATE_ARN = f"{ALERT_STATE_ARN}-dev"
ARCHIVE_ARN = "arn:aws:s3:::compiler-explorer-logs/stats/*"
WEBHOOK_PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/admin/discord_webhook_url"
ALERT_FAILED_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{settings.ALERT_TOPIC_NAME}-failed"
# The dev stage's own resources: the same grants on other names, so a trial cannot touch production.
DEV_QUEUE_ARN = f"{QUEUE_ARN}-dev"
DEV_TABLE_ARN = f"{TABLE_ARN}-dev"
DEV_ARCHIVE_ARN = "arn:aws:s3:::compiler-explorer-logs-dev/stats/*"
DEV_WEBHOOK_PARAMETER_ARN = f"{WEBHOOK_PARAMETER_ARN}-dev"
DEV_ALERT_FAILED_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{settings.ALERT_TOPIC_NAME}-dev-failed"
GITHUB_TOKEN_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/admin/github_build_watch_token"
DEV_GITHUB_TOKEN_ARN = f"{GITHUB_TOKEN_ARN}-dev"
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
# GetMetricWidgetImage supports no resource-level permissions: "*" is the only Resource it takes.
GRAPH_GRANT = ("cloudwatch:GetMetricWidgetImage", "*")

# The grants issue 2 lists ("Deploying"), per function: (action, resource) pairs beyond logs.
EXPECTED_GRANTS = {
    "policy-api.json": {("sqs:SendMessage", QUEUE_ARN), ("dynamodb:Query", TABLE_ARN)},
    "policy-archiver.json": {
        ("s3:PutObject", ARCHIVE_ARN),
        ("sqs:ReceiveMessage", QUEUE_ARN),
        ("sqs:DeleteMessage", QUEUE_ARN),
        ("sqs:GetQueueAttributes", QUEUE_ARN),
    },
    # Lambda's on-failure destination sends an undeliverable alert with the function's own role.
    # The alert state: exactly the four item calls chalicelib/state_store.py makes, on its one table.
    "policy-forwarder.json": {
        ("ssm:GetParameter", WEBHOOK_PARAMETER_ARN),
        ("sqs:SendMessage", ALERT_FAILED_ARN),
        GRAPH_GRANT,
        *((f"dynamodb:{action}", ALERT_STATE_ARN) for action in ALERT_STATE_ACTIONS),
    },
    # The build watch (issue 16): its builds one Query at a time, its state as the forwarder keeps its
    # own, its GitHub token, and the webhook URL it posts with.
    "policy-watch.json": {
        ("dynamodb:Query", TABLE_ARN),
        *((f"dynamodb:{action}", ALERT_STATE_ARN) for action in ALERT_STATE_ACTIONS),
        ("ssm:GetParameter", GITHUB_TOKEN_ARN),
        ("ssm:GetParameter", WEBHOOK_PARAMETER_ARN),
    },
    "policy-api-dev.json": {("sqs:SendMessage", DEV_QUEUE_ARN), ("dynamodb:Query", DEV_TABLE_ARN)},
    "policy-archiver-dev.json": {
        ("s3:PutObject", DEV_ARCHIVE_ARN),
        ("sqs:ReceiveMessage", DEV_QUEUE_ARN),
        ("sqs:DeleteMessage", DEV_QUEUE_ARN),
        ("sqs:GetQueueAttributes", DEV_QUEUE_ARN),
    },
    "policy-forwarder-dev.json": {
        ("ssm:GetParameter", DEV_WEBHOOK_PARAMETER_ARN),
        ("sqs:SendMessage", DEV_ALERT_FAILED_ARN),
        GRAPH_GRANT,
        *((f"dynamodb:{action}", DEV_ALERT_STATE_ARN) for action in ALERT_STATE_ACTIONS),
    },
    "policy-watch-dev.json": {
        ("dynamodb:Query", DEV_TABLE_ARN),
        *((f"dynamodb:{action}", DEV_ALERT_STATE_ARN) for action in ALERT_STATE_ACTIONS),
        ("ssm:GetParameter", DEV_GITHUB_TOKEN_ARN),
        ("ssm:GetParameter", DEV_WEBHOOK_PARAMETER_ARN),
    },
}
POLICY_OF_FUNCTION = {
    "prod": {
        "api_handler": "policy-api.json",
        "archive_stats": "policy-archiver.json",
        "forward_alert": "policy-forwarder.json",
        "watch_builds": "policy-watch.json",
    },
    "dev": {
        "api_handler": "policy-api-dev.json",
        "archive_stats": "policy-archiver-dev.json",
        "forward_alert": "policy-forwarder-dev.json",
        "watch_builds": "policy-watch-dev.json",
    },
}
DEPLOYED_STAGES = ("dev", "prod")
WEBHOOK_PARAMETER = {"prod": "/admin/discord_webhook_url", "dev": "/admin/discord_webhook_url-dev"}
GITHUB_TOKEN_PARAMETER = {"prod": "/admin/github_build_watch_token", "dev": "/admin/github_build_watch_token-dev"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(policy: dict[str, Any]) -> tuple[set[tuple[str, str]], list[str]]:
    """(action, resource) pairs outside logs, and every problem with the policy's shape."""
    found: set[tuple[str, str]] = set()
    problems: list[str] = []
    for statement in policy["Statement"]:
        sid = statement.get("Sid", "?")
        if statement.get("Effect") != "Allow":
            problems.append(f"{sid}: only Allow statements are expected")
        for key in ("NotAction", "NotResource", "NotPrincipal", "Principal"):
            if key in statement:
                problems.append(f"{sid}: {key} grants more than it names")
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        for action in actions:
            if "*" in action:
                problems.append(f"{sid}: wildcard action {action}")
        if set(actions) <= LOG_ACTIONS:
            if any(not resource.startswith("arn:aws:logs:") for resource in resources):
                problems.append(f"{sid}: log actions on something other than logs")
            continue
        if any(action.startswith("logs:") for action in actions):
            problems.append(f"{sid}: logs mixed with other actions")
        for resource in resources:
            # The archive's object prefix is the one wildcard the spec asks for; the graph's "*" is
            # allowed only in a statement that grants nothing else.
            graph_only = actions == [GRAPH_GRANT[0]] and resources == [GRAPH_GRANT[1]]
            if "*" in resource and resource not in (ARCHIVE_ARN, DEV_ARCHIVE_ARN) and not graph_only:
                problems.append(f"{sid}: wildcard resource {resource}")
            found.update((action, resource) for action in actions)
    return found, problems


@pytest.mark.parametrize("policy_file", sorted(EXPECTED_GRANTS))
def test_each_policy_grants_exactly_the_specified_actions_on_the_specified_resources(policy_file: str) -> None:
    policy = json.loads((CHALICE / policy_file).read_text())

    found, problems = grants(policy)

    assert problems == []
    assert found == EXPECTED_GRANTS[policy_file]
    log_statements = [s for s in policy["Statement"] if set(as_list(s["Action"])) <= LOG_ACTIONS]
    assert len(log_statements) == 1, "each function writes its own logs"


def test_the_dev_policies_grant_nothing_on_any_resource_prod_uses() -> None:
    # Stated apart from the list above, so a dev grant cannot be pointed at production by editing both.
    production = {resource for _, resource in grants_of_stage("prod")}
    dev = {resource for _, resource in grants_of_stage("dev")}

    assert production and dev
    # GetMetricWidgetImage takes only "*" and reads no data of production's: the one shared resource.
    assert dev & production == {GRAPH_GRANT[1]}


def grants_of_stage(stage: str) -> set[tuple[str, str]]:
    """Every (action, resource) the stage's policy files grant, beyond logs."""
    found: set[tuple[str, str]] = set()
    for policy_file in POLICY_OF_FUNCTION[stage].values():
        found |= grants(json.loads((CHALICE / policy_file).read_text()))[0]
    return found


def test_every_deployed_function_uses_its_own_hand_written_policy() -> None:
    config = json.loads((CHALICE / "config.json").read_text())

    assert config.get("autogen_policy") is False
    for stage in DEPLOYED_STAGES:
        functions = config["stages"][stage]["lambda_functions"]
        expected = POLICY_OF_FUNCTION[stage]
        assert {name: functions[name].get("iam_policy_file") for name in expected} == expected
        assert config["stages"][stage].get("autogen_policy", config["autogen_policy"]) is False


@pytest.fixture(scope="module")
def packaged(packaged_stack: Callable[[str], Path]) -> dict[str, Any]:
    """The prod stage's SAM template as `chalice package` writes it, merged with resources/."""
    import yaml

    path = packaged_stack("prod")
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_the_packaged_roles_carry_exactly_the_policy_files(packaged_stack: Callable[[str], Path], stage: str) -> None:
    import yaml

    resources = yaml.safe_load(packaged_stack(stage).read_text())["Resources"]
    policy_of = POLICY_OF_FUNCTION[stage]
    roles = {"ApiHandlerRole": policy_of["api_handler"], "ArchiveStatsRole": policy_of["archive_stats"]}
    roles["ForwardAlertRole"] = policy_of["forward_alert"]
    roles["WatchBuildsRole"] = policy_of["watch_builds"]
    for role, policy_file in roles.items():
        (inline,) = resources[role]["Properties"]["Policies"]
        assert inline["PolicyDocument"] == json.loads((CHALICE / policy_file).read_text()), role
    # The policy files are the only grants in the stack.
    assert [k for k, v in resources.items() if v["Type"] == "AWS::IAM::Policy"] == []


# ---- secrets ------------------------------------------------------------------------------------


def test_no_tracked_file_holds_a_secret() -> None:
    files = secrets.tracked_files(ROOT)
    assert CHALICE / "config.json" in files

    assert [str(finding) for finding in secrets.scan(files, ROOT)] == []


def test_the_scanner_finds_what_it_looks_for() -> None:
    # Assembled here so that this file itself holds no secret-shaped string.
    samples = {
        "Discord webhook URL": "https://discord.com/api/webhooks/" + "1234567890" + "/" + "a" * 68,
        "AWS access key id": "AKIA" + "Q" * 16,
        "AWS secret access key": "aws_secret_access_key = " + "Ab1/" * 10,
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
    }
    for kind, sample in samples.items():
        assert [f.kind for f in secrets.scan_text(f"x = '{sample}'")] == [kind]
    assert secrets.scan_text("AWS_SECRET_ACCESS_KEY = 'testing'  # moto's") == []


def test_the_webhook_url_comes_from_ssm_or_the_environment_never_the_config() -> None:
    config = json.loads((CHALICE / "config.json").read_text())
    for stage_name, stage in config["stages"].items():
        scopes = [stage, *stage.get("lambda_functions", {}).values()]
        for scope in scopes:
            variables = scope.get("environment_variables", {})
            assert "WEBHOOK_URL" not in variables, stage_name
            keys = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(variables)
            # Only the emulator's stage names credentials: the fake ones, which reach no account.
            allowed = names.CREDENTIALS if stage_name == "local" else {}
            assert {key: variables[key] for key in keys} == {k: v for k, v in allowed.items() if k in keys}, stage_name
    for stage_name in DEPLOYED_STAGES:
        forwarder = config["stages"][stage_name]["lambda_functions"]["forward_alert"]["environment_variables"]
        assert forwarder["WEBHOOK_URL_PARAMETER"] == WEBHOOK_PARAMETER[stage_name]
        watch = config["stages"][stage_name]["lambda_functions"]["watch_builds"]["environment_variables"]
        assert watch["WEBHOOK_URL_PARAMETER"] == WEBHOOK_PARAMETER[stage_name]
        assert watch["GITHUB_TOKEN_PARAMETER"] == GITHUB_TOKEN_PARAMETER[stage_name]
        assert "GITHUB_TOKEN" not in watch


# ---- CORS ---------------------------------------------------------------------------------------

# What the browser clients use: the front end's cross-origin POST, the status page's GET.
ROUTE_METHODS = {"/pageload": {"POST"}, "/compiler-build/{compiler}": {"GET", "HEAD"}}
CHALICE_DEFAULT_HEADERS = {"Authorization", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token", "X-Api-Key"}


def test_routes_allow_any_origin_without_credentials_and_only_the_methods_they_need() -> None:
    assert {path: set(methods) for path, methods in stats_app.app.routes.items()} == ROUTE_METHODS
    for path, methods in stats_app.app.routes.items():
        for method, entry in methods.items():
            cors = entry.cors
            assert cors is not None and cors is not True, (path, method)
            headers = cors.get_access_control_headers()
            assert headers.pop("Access-Control-Allow-Origin") == "*"
            assert set(headers.pop("Access-Control-Allow-Headers").split(",")) <= CHALICE_DEFAULT_HEADERS
            headers.pop("Access-Control-Max-Age", None)
            assert headers == {}, "no credentials, no exposed headers"
            assert entry.authorizer is None and not entry.api_key_required


def test_the_packaged_api_answers_preflights_for_exactly_those_methods(packaged: dict[str, Any]) -> None:
    swagger = packaged["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]

    assert set(swagger["paths"]) == set(ROUTE_METHODS)
    for path, methods in ROUTE_METHODS.items():
        operations = swagger["paths"][path]
        assert set(operations) == {m.lower() for m in methods} | {"options"}
        assert "security" not in json.dumps(operations)
        options = operations["options"]["x-amazon-apigateway-integration"]
        headers = options["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"
        allowed = headers["method.response.header.Access-Control-Allow-Methods"].strip("'").split(",")
        assert set(allowed) == methods | {"OPTIONS"}
        assert set(headers["method.response.header.Access-Control-Allow-Headers"].strip("'").split(",")) <= (
            CHALICE_DEFAULT_HEADERS
        )
        assert not any("Credentials" in name or "Expose" in name for name in headers)


@pytest.mark.parametrize(("path", "methods"), sorted(ROUTE_METHODS.items()))
def test_a_preflight_from_another_origin_is_answered_as_the_browser_needs(path: str, methods: set[str]) -> None:
    gateway = LocalGateway(stats_app.app, Config(chalice_stage="test"))
    concrete = path.replace("{compiler}", "gcc")

    response = gateway.handle_request(
        "OPTIONS",
        concrete,
        {"Origin": "https://godbolt.org", "Access-Control-Request-Method": next(iter(methods))},
        b"",
    )

    headers = response["headers"]
    assert response["statusCode"] == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert set(headers["Access-Control-Allow-Methods"].split(",")) == methods | {"OPTIONS"}
    assert "Access-Control-Allow-Credentials" not in headers
