"""GET /compiler-build/{compiler}: the last build and the last success, however far back."""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib import aws, builds

START = datetime(2024, 1, 1, 3, 0, 0, tzinfo=UTC)


def put_history(dynamodb: Any, table: str, compiler: str, statuses: list[str], **extra: dict[str, Any]) -> list[str]:
    """Write one nightly item per status, oldest first; return their timestamps."""
    stamps = []
    requests = []
    for night, status in enumerate(statuses):
        stamp = (START + timedelta(days=night)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        item = {
            "compiler": {"S": compiler},
            "timestamp": {"S": stamp},
            "duration": {"N": str(100 + night)},
            "status": {"S": status},
            "github_run_id": {"S": f"run-{night}"},
            "path": {"S": f"s3://compiler-explorer/opt/{compiler}-{night}.tar.xz" if status == "OK" else ""},
        }
        item.update(extra)
        requests.append({"PutRequest": {"Item": item}})
        stamps.append(stamp)
    for start in range(0, len(requests), 25):
        dynamodb.batch_write_item(RequestItems={table: requests[start : start + 25]})
    return stamps


@pytest.fixture
def dynamodb_requests() -> list[dict[str, Any]]:
    """The parameters of every Query the app's own client sends."""
    sent: list[dict[str, Any]] = []
    aws.client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: sent.append(dict(params))
    )
    return sent


@pytest.mark.parametrize(
    "name", ["gcc", "clang_p2996", "clang.thephd.dev", "SPIRV-Tools", "clad-trunk-clang-21.1.0", "g++"]
)
def test_build_names_that_are_accepted(name: str) -> None:
    assert builds.parse_compiler(name) == name


@pytest.mark.parametrize(
    "name", ["", ".hidden", "-x", "gcc\n", "gcc/../x", "gcc x", "a" * 129, "caf\u00e9", "gcc;rm", "..", "gcc%2F.."]
)
def test_build_names_that_are_refused(name: str) -> None:
    with pytest.raises(builds.InvalidCompiler):
        builds.parse_compiler(name)


def test_a_percent_encoded_name_is_decoded_once() -> None:
    assert builds.parse_compiler("g%2B%2B") == "g++"


def test_the_first_query_reads_the_newest_page_without_a_filter() -> None:
    dynamodb = aws.client("dynamodb")
    with Stubber(dynamodb) as stubber:
        stubber.add_response(
            "query",
            {"Items": [], "Count": 0, "ScannedCount": 0},
            {
                "TableName": "compiler-builds",
                "KeyConditionExpression": "#compiler = :compiler",
                "ExpressionAttributeNames": {"#compiler": "compiler"},
                "ExpressionAttributeValues": {":compiler": {"S": "gcc"}},
                "ScanIndexForward": False,
                "Limit": builds.FIRST_PAGE,
            },
        )
        assert builds.build_status(dynamodb, "compiler-builds", "gcc") == {"last_success": None, "last_build": None}


def test_when_the_newest_build_is_ok_one_query_answers_both(
    client: Any, table: str, boto: Any, dynamodb_requests: list[Any]
) -> None:
    stamps = put_history(boto("dynamodb"), table, "gcc", ["FAILED", "OK", "SKIPPED", "OK"])

    response = client.http.get("/compiler-build/gcc")

    assert response.status_code == 200
    newest = {
        "path": "s3://compiler-explorer/opt/gcc-3.tar.xz",
        "github_run_id": "run-3",
        "timestamp": stamps[3],
        "duration": 103,
        "status": "OK",
    }
    assert json.loads(response.body) == {"last_success": newest, "last_build": newest}
    assert len(dynamodb_requests) == 1


def test_the_response_keeps_the_old_functions_bytes_and_headers(client: Any, table: str, boto: Any) -> None:
    put_history(boto("dynamodb"), table, "gcc", ["OK"])

    response = client.http.get("/compiler-build/gcc")

    assert response.body.decode().startswith('{"last_success": {"path": "s3://compiler-explorer/opt/gcc-0.tar.xz", ')
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "max-age=180, must-revalidate"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/compiler-build/gcc", "/compiler-build/nosuch", "/compiler-build/.x"])
def test_head_answers_what_get_does_without_the_body(client: Any, table: str, boto: Any, path: str) -> None:
    put_history(boto("dynamodb"), table, "gcc", ["FAILED", "OK"])

    get = client.http.get(path)
    head = client.http.request("HEAD", path)

    assert get.body and head.body == b""
    assert head.status_code == get.status_code
    assert head.headers == get.headers


@pytest.mark.parametrize(
    ("failures", "requests"), [(1, 1), (5, 1), (19, 1), (20, 2), (150, 2), (199, 2), (200, 3), (999, 3)]
)
def test_the_last_success_is_found_behind_many_failures(
    client: Any, table: str, boto: Any, dynamodb_requests: list[Any], failures: int, requests: int
) -> None:
    stamps = put_history(boto("dynamodb"), table, "clang", ["FAILED", "OK"] + ["FAILED"] * failures)

    result = json.loads(client.http.get("/compiler-build/clang").body)

    assert result["last_success"]["timestamp"] == stamps[1]
    assert result["last_build"]["timestamp"] == stamps[-1]
    assert len(dynamodb_requests) == requests
    assert sum(r["Limit"] for r in dynamodb_requests) <= builds.MAX_ITEMS_READ


def test_the_search_stops_at_its_bound(client: Any, table: str, boto: Any, dynamodb_requests: list[Any]) -> None:
    put_history(boto("dynamodb"), table, "clang", ["OK"] + ["FAILED"] * builds.MAX_ITEMS_READ)

    result = json.loads(client.http.get("/compiler-build/clang").body)

    assert result["last_success"] is None
    assert result["last_build"]["status"] == "FAILED"
    assert sum(r["Limit"] for r in dynamodb_requests) == builds.MAX_ITEMS_READ


def test_pages_cut_short_by_the_1_mb_cap_end_the_search_after_max_requests(
    client: Any, table: str, boto: Any, dynamodb_requests: list[Any]
) -> None:
    # 300 KB items: DynamoDB (moto too) ends a page at 1 MB, three items in, whatever the Limit.
    failures = 3 * builds.MAX_REQUESTS + 3
    stamps = put_history(boto("dynamodb"), table, "big", ["OK"] + ["FAILED"] * failures, log={"S": "x" * 300_000})
    pages: list[tuple[int, bool]] = []
    aws.client("dynamodb").meta.events.register(
        "after-call.dynamodb.Query",
        lambda parsed, **_: pages.append((parsed["ScannedCount"], "LastEvaluatedKey" in parsed)),
    )

    response = client.http.get("/compiler-build/big")

    # The OK build is further back than MAX_REQUESTS short pages reach: null, not a longer search.
    assert response.status_code == 200
    assert json.loads(response.body)["last_success"] is None
    assert json.loads(response.body)["last_build"]["timestamp"] == stamps[-1]
    assert len(dynamodb_requests) == builds.MAX_REQUESTS
    assert pages == [(3, True)] * builds.MAX_REQUESTS
    assert sum(scanned for scanned, _ in pages) < builds.MAX_ITEMS_READ


def test_a_compiler_that_never_succeeded(client: Any, table: str, boto: Any, dynamodb_requests: list[Any]) -> None:
    stamps = put_history(boto("dynamodb"), table, "never", ["FAILED"] * 30)
    result = json.loads(client.http.get("/compiler-build/never").body)
    assert result["last_success"] is None
    assert result["last_build"]["timestamp"] == stamps[-1]
    assert len(dynamodb_requests) == 2  # the second page ends the history, with no more to read


def test_an_unknown_compiler_has_neither(client: Any, table: str, boto: Any) -> None:
    put_history(boto("dynamodb"), table, "gcc", ["OK"])
    response = client.http.get("/compiler-build/nosuch")
    assert response.status_code == 200
    assert json.loads(response.body) == {"last_success": None, "last_build": None}


def test_missing_and_odd_attributes_are_null(client: Any, table: str, boto: Any) -> None:
    boto("dynamodb").put_item(
        TableName=table,
        Item={
            "compiler": {"S": "old"},
            "timestamp": {"S": "2021-03-01T03:00:00+00:00"},
            "status": {"S": "OK"},
            "duration": {"N": "12.5"},
        },
    )
    boto("dynamodb").put_item(
        TableName=table,
        Item={"compiler": {"S": "odd"}, "timestamp": {"S": "2021-03-01T03:00:00+00:00"}, "path": {"N": "3"}},
    )

    old = json.loads(client.http.get("/compiler-build/old").body)
    odd = json.loads(client.http.get("/compiler-build/odd").body)

    assert old["last_success"] == {
        "path": None,
        "github_run_id": None,
        "timestamp": "2021-03-01T03:00:00+00:00",
        "duration": 12,
        "status": "OK",
    }
    assert odd["last_success"] is None
    assert odd["last_build"] == {
        "path": None,
        "github_run_id": None,
        "timestamp": "2021-03-01T03:00:00+00:00",
        "duration": None,
        "status": None,
    }


@pytest.mark.parametrize("path", ["/compiler-build/.x", "/compiler-build/" + "a" * 129, "/compiler-build/gcc%0A"])
def test_bad_names_get_a_json_400(client: Any, table: str, path: str, dynamodb_requests: list[Any]) -> None:
    response = client.http.get(path)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "invalid compiler name" in json.loads(response.body)["error"]
    assert dynamodb_requests == []


def test_a_missing_table_gives_a_503(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILER_BUILD_TABLE", "no-such-table")
    response = client.http.get("/compiler-build/gcc")
    assert response.status_code == 503
    assert b"Traceback" not in response.body


def test_a_missing_table_setting_gives_a_503_and_one_log_line_naming_it(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("COMPILER_BUILD_TABLE", raising=False)

    response = client.http.get("/compiler-build/gcc")

    assert response.status_code == 503
    assert json.loads(response.body) == {"error": "build status is temporarily unavailable"}
    assert response.headers["Cache-Control"] == "no-cache"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "environment variable COMPILER_BUILD_TABLE is not set"
    ]


def test_a_build_lookup_prints_no_metric(client: Any, table: str, capsys: Any) -> None:
    capsys.readouterr()
    client.http.get("/compiler-build/gcc")
    assert '"_aws"' not in capsys.readouterr().out


@pytest.mark.parametrize(("failures", "limits"), [(0, [20]), (5, [20]), (60, [20, 180]), (300, [20, 180, 800])])
def test_the_watchs_history_reads_the_newest_20_and_goes_on_only_to_find_a_good_build(
    table: str, boto: Any, dynamodb_requests: list[Any], failures: int, limits: list[int]
) -> None:
    put_history(boto("dynamodb"), table, "gcc", ["OK", *[""] * failures])

    found = builds.history(aws.client("dynamodb"), table, "gcc")

    assert [request["Limit"] for request in dynamodb_requests] == limits
    assert "FilterExpression" not in json.dumps(dynamodb_requests)
    assert found.last_good is not None and found.last_good.status == "OK"
    assert len(found.failed_since_good()) == failures
    assert found.oldest is None


def test_the_watchs_history_of_a_compiler_never_good_counts_from_its_first_build(
    table: str, boto: Any, dynamodb_requests: list[Any]
) -> None:
    stamps = put_history(boto("dynamodb"), table, "gcc", ["SKIPPED" if n == 0 else "" for n in range(3)])
    put_history(boto("dynamodb"), table, "clang", [""] * 1100)

    good = builds.history(aws.client("dynamodb"), table, "gcc").last_good
    assert good is not None and good.timestamp.isoformat() == stamps[0]
    never = builds.history(aws.client("dynamodb"), table, "clang")

    assert never.last_good is None and len(never.builds) == 1000
    assert never.oldest is not None and never.oldest.timestamp == START
    assert [r["Limit"] for r in dynamodb_requests[1:]] == [20, 180, 800, 1]
