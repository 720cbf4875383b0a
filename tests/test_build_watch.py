"""The build watch end to end: the scheduled function through the Chalice test client, against moto's
build and alert state tables, the GitHub fake and the Discord fake."""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

import app as stats_app
from tools.devkit.discord.fake import DiscordFake, Reply
from tools.devkit.github_fake import GitHubFake
from tools.devkit.lambda_events import LambdaContext, scheduled_event

DAY0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
WORKFLOWS = "compiler-explorer/compiler-workflows"
RUN_LINK = "https://github.com/compiler-explorer/compiler-workflows/actions/runs/"


class World:
    """compilers.yaml on the GitHub fake, the build table, and runs of the function on given days."""

    def __init__(self, client: Any, boto: Any, table: str, gh: GitHubFake, discord: DiscordFake) -> None:
        self.client, self.dynamodb, self.table, self.gh, self.discord = client, boto("dynamodb"), table, gh, discord
        self.runs = 0
        self.entries: list[str] = []

    def compilers(self, *entries: str) -> None:
        self.entries = list(entries)
        text = "compilers:\n  daily:\n" + "".join(f"    - {e}\n" for e in entries) + "  ad_hoc:\n    - { image: gcc }\n"
        self.gh.put_file(WORKFLOWS, "compilers.yaml", "main", text)

    def builds(self, compiler: str, *statuses: str, day: int = 0, run_ids: bool = True) -> None:
        """One build a night, newest first, the newest finishing at 02:00 on ``day``."""
        for age, status in enumerate(statuses):
            when = DAY0 + timedelta(days=day - age, hours=-4)
            item = {
                "compiler": {"S": compiler},
                "timestamp": {"S": when.isoformat(timespec="seconds")},
                "status": {"S": status},
                "duration": {"N": "100"},
                "path": {"S": ""},
            }
            if run_ids:
                item["github_run_id"] = {"S": f"{compiler}-{day - age + 1000}"}
            self.dynamodb.put_item(TableName=self.table, Item=item)

    def commit(self, repo: str, branch: str, days_before_day0: float) -> None:
        self.gh.add_commit(repo, branch, DAY0 - timedelta(days=days_before_day0))

    def run(self, day: int = 0, event_id: str | None = None, lambda_time: bool = False) -> Any:
        """Invoke the function through the Chalice test client (whose context says 3 s are left), or,
        with ``lambda_time``, as Lambda does with the function's 120 s (so GitHub's retries fit)."""
        self.runs += 1
        event = scheduled_event(
            event_id or f"run-{self.runs}", (DAY0 + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        if lambda_time:
            return stats_app.app.handler_map["watch_builds"](event, LambdaContext(timeout_seconds=120))
        return self.client.lambda_.invoke("watch_builds", event)

    # What reached Discord

    def posts(self) -> list[dict[str, Any]]:
        """Every message the channel saved (deleted ones too), as posted."""
        return [m.versions[0] if m.versions else m.payload for m in self.discord.messages.values()]

    def notifying(self) -> list[dict[str, Any]]:
        return [p for p in self.posts() if not int(p.get("flags") or 0) & 4096]

    def quiet(self) -> list[dict[str, Any]]:
        return [p for p in self.posts() if int(p.get("flags") or 0) & 4096]

    def open_list(self) -> str:
        """The open-problems message as the channel shows it now."""
        (shown,) = [
            m
            for m in self.discord.channel()
            if m.payload.get("embeds") and "Build watch:" in _title(m.payload) and ("open problem" in _title(m.payload))
        ]
        return _text(shown.payload)


def _title(payload: dict[str, Any]) -> str:
    return (payload.get("embeds") or [{}])[0].get("title", "")


def _text(payload: dict[str, Any]) -> str:
    embed = (payload.get("embeds") or [{}])[0]
    return f"{payload.get('content', '')}\n{embed.get('title', '')}\n{embed.get('description', '')}"


@pytest.fixture
def world(client: Any, boto: Any, table: str, alert_table: str, github: GitHubFake, webhook: DiscordFake) -> World:
    github.now = lambda: DAY0
    return World(client, boto, table, github, webhook)


HEALTHY = (
    "{ image: clang, name: clang }",
    "{ image: gcc, name: gcc, args: trunk }",
    "{ image: clang, name: clang_hana, repos: "
    '["https://github.com/hanickadot/llvm-project/tree/compiler-explorer/hana-clang"] }',
    '{ image: mads, name: madpascal, repos: ["https://github.com/tebe6502/Mad-Assembler/tree/master", '
    '"https://github.com/tebe6502/Mad-Pascal/tree/master"] }',
)


def healthy(world: World, *more: str) -> None:
    world.compilers(*more, *HEALTHY)
    world.builds("clang", "OK", "OK", "OK")
    world.builds("gcc", "", "OK", "OK")  # one failed night is not a problem
    world.gh.add_repo("hanickadot/llvm-project")
    world.commit("hanickadot/llvm-project", "compiler-explorer/hana-clang", 1)
    world.builds("clang_hana", "SKIPPED", "OK")
    # An idle fork: last built a year ago, nothing upstream since.
    world.commit("tebe6502/Mad-Assembler", "master", 400)
    world.commit("tebe6502/Mad-Pascal", "master", 380)
    world.builds("madpascal", "OK", day=-365)


def test_a_healthy_world_posts_nothing_and_reads_github_as_it_asks(world: World) -> None:
    healthy(world)

    world.run()

    assert world.posts() == []
    requests = world.gh.requests
    assert requests and all(r.header("Authorization") == "Bearer test-github-token" for r in requests)
    assert all(r.api_version == "2022-11-28" for r in requests)
    assert requests[0].path == f"/repos/{WORKFLOWS}/contents/compilers.yaml"
    assert requests[0].query == {"ref": "main"}
    # The budget: the file, one per repository (3), one per (repository, branch) (3), one per (entry, target) (3).
    assert len(requests) <= 1 + 3 + 3 + 3
    assert sum(1 for r in requests if r.path.count("/") == 3 and r.path.startswith("/repos/")) == 3


def test_every_rule_is_announced_in_one_notifying_post_with_its_evidence(world: World) -> None:
    healthy(
        world,
        "{ image: clang, name: clang_llvmflang, args: llvmflang-trunk }",
        "{ image: misc, name: tinycc }",
        '{ image: clang, name: clang_ir, repos: ["https://github.com/llvm/clangir"] }',
        '{ image: clang, name: clang_fork, repos: ["https://github.com/owner/fork/tree/ce/trunk"] }',
        '{ image: x, name: gone, repos: ["https://github.com/owner/gone"] }',
        '{ image: x, name: renamed, repos: ["https://github.com/old/name"] }',
        '{ image: x, name: nobranch, repos: ["https://github.com/owner/real/tree/no-such"] }',
        '{ image: x, name: elsewhere, repos: ["https://gitlab.com/owner/repo"] }',
    )
    world.builds("clang_llvmflang", "", "", "", "OK")  # rule 3: failing
    world.builds("tinycc", "OK", day=-3)  # rule 3: not running
    world.gh.add_repo("llvm/clangir", archived=True)  # rule 2: archived
    world.commit("llvm/clangir", "main", 300)
    world.builds("clang_ir", "OK", day=-200)
    world.commit("owner/fork", "ce/trunk", 10)  # rule 1: a commit after the last good, 10 days ago
    world.builds("clang_fork", "", "", "OK", day=-20)
    world.gh.add_repo("owner/gone")
    world.gh.remove("owner/gone")  # rule 2: 404
    world.builds("gone", "OK")
    world.gh.add_repo("new/name")
    world.gh.move("old/name", "new/name")  # rule 2: moved
    world.builds("renamed", "OK")
    world.gh.add_repo("owner/real")
    world.builds("nobranch", "OK")  # rule 2: no such branch
    world.builds("elsewhere", "OK")  # rule 2: not a GitHub URL

    world.run()

    assert len(world.notifying()) == 1, [(_title(p), p.get("content")) for p in world.posts()]
    (announced,) = world.notifying()
    text = _text(announced)
    assert _title(announced) == "Build watch: 8 new problems"
    for expected in (
        "**clang\\_llvmflang**: failing every night",
        "3 failed nights since; latest (" + RUN_LINK + "clang_llvmflang-1000)",
        "**tinycc**: not running",
        "no build at all since 2026-11-28",
        "llvm/clangir is archived: the gate can never fire",
        "owner/fork@ce/trunk has a commit of 2026-11-21, after the last good build",
        "last good build 2026-11-09 (" + RUN_LINK + "clang_fork-978)",
        "owner/gone answers 404",
        "old/name has moved (it is now new/name)",
        "owner/real has no branch no-such",
        "https://gitlab.com/owner/repo is not a GitHub repository URL",
    ):
        assert expected in text
    for untouched in ("clang_hana", "madpascal", "**gcc**", "**clang**:"):
        assert untouched not in text
    (listed,) = world.quiet()
    assert _title(listed) == "Build watch: 8 open problems"
    assert announced["allowed_mentions"] == {"parse": []}


def test_a_retry_of_the_run_and_a_second_run_over_the_same_data_post_nothing_new(world: World) -> None:
    world.compilers("{ image: clang, name: clang_llvmflang }")
    world.builds("clang_llvmflang", "", "", "")
    world.run(event_id="the-event")
    assert len(world.posts()) == 2  # the announcement and the open list

    world.run(event_id="the-event")  # Lambda's retry of the same event
    world.run()  # another run, same data, same day

    assert len(world.posts()) == 2
    assert world.discord.edits == []


def test_a_problem_pings_once_is_edited_while_it_lasts_resolved_quietly_and_pings_again_if_it_returns(
    world: World,
) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "", "OK")
    world.run(day=0)
    world.builds("gcc", "", day=1)
    world.run(day=1)
    assert len(world.notifying()) == 1
    assert "gcc**: failing every night, for 1 day" in world.open_list()
    assert "4 failed nights since" in world.open_list()

    world.builds("gcc", "OK", day=2)
    world.run(day=2)
    (resolution,) = [p for p in world.quiet() if "resolved" in _title(p)]
    assert "gcc**: failing every night, open 2 days: a good build arrived" in _text(resolution)
    assert "no open problems" in world.open_list()

    world.builds("gcc", "", day=3)
    world.builds("gcc", "", day=4)
    world.builds("gcc", "", day=5)
    world.run(day=5)

    assert len(world.notifying()) == 2
    assert "gcc**: failing every night" in _text(world.notifying()[1])
    assert len([p for p in world.posts() if "open problem" in _title(p)]) == 1  # edited, never posted again


def test_the_open_list_is_posted_again_if_someone_deleted_it(world: World) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    world.run(day=0)
    (listed,) = world.quiet()
    for message in world.discord.channel():
        if message.payload == listed:
            message.deleted = True

    world.run(day=1)

    assert len([p for p in world.quiet() if "open problem" in _title(p)]) == 2
    assert "for 1 day" in world.open_list()


def test_an_entry_that_leaves_compilers_yaml_is_closed_quietly(world: World) -> None:
    world.compilers("{ image: gcc, name: gcc }", "{ image: clang, name: clang }")
    world.builds("gcc", "", "", "")
    world.builds("clang", "OK")
    world.run(day=0)

    world.compilers("{ image: clang, name: clang }")
    world.builds("clang", "OK", day=1)
    world.run(day=1)

    assert len(world.notifying()) == 1
    (resolution,) = [p for p in world.quiet() if "resolved" in _title(p)]
    assert "the build left compilers.yaml" in _text(resolution)


def test_a_gated_build_that_never_ran_is_reported_after_its_first_nights(world: World) -> None:
    world.compilers('{ image: clang, name: newfork, repos: ["https://github.com/owner/fork"] }')
    world.commit("owner/fork", "main", 30)
    world.run(day=0)
    world.run(day=1)
    assert world.posts() == []

    world.run(day=2)

    (announced,) = world.notifying()
    assert "never run: no build at all since it appeared on 2026-12-01" in _text(announced)


def test_notifying_posts_ping_the_mention_role_and_quiet_ones_nobody(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_MENTION_ROLE", "987654321")
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")

    world.run()

    (announced,) = world.notifying()
    assert announced["content"].startswith("<@&987654321>")
    assert announced["allowed_mentions"] == {"roles": ["987654321"]}
    (listed,) = world.quiet()
    assert listed["allowed_mentions"] == {"parse": []}
    assert "<@&" not in listed.get("content", "")


# ---- failures --------------------------------------------------------------------------------------


def test_github_unreachable_is_said_once_per_outage_quietly_and_raises(world: World) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    world.run(day=0)
    world.gh.unreachable(True)

    for day in (1, 2):
        with pytest.raises(Exception, match="could not be read from GitHub"):
            world.run(day=day)

    outages = [p for p in world.quiet() if "could not check" in p.get("content", "")]
    assert len(outages) == 1
    assert len(world.notifying()) == 1  # the problem from day 0, nothing more
    assert not [p for p in world.posts() if "resolved" in _title(p)]  # and it stays open

    world.gh.unreachable(False)
    world.builds("gcc", "", "", "", day=3)
    world.run(day=3)
    assert len(world.posts()) == 3, [(_title(p), p.get("content")) for p in world.posts()]
    # The newest word on the watch's health tells it: the outage's note now says it is over, still quiet.
    (note,) = [m for m in world.discord.channel() if "could not check" in (m.versions or [{}])[0].get("content", "")]
    assert note.payload["content"].startswith("✅ Build watch checks the daily builds again since")
    assert "could not be read from GitHub" in note.payload["content"] and note.quiet
    world.run(day=4)
    assert len(note.versions) == 1, "edited once"
    # Discord edits no flag but SUPPRESS_EMBEDS: the note stays quiet by never being asked otherwise.
    assert all("flags" not in (r.payload or {}) for r in world.discord.requests if r.method == "PATCH")


def test_an_outage_whose_note_was_deleted_ends_with_a_quiet_post(world: World) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "OK")
    world.gh.unreachable(True)
    with pytest.raises(Exception, match="could not be read from GitHub"):
        world.run(day=0)
    (note,) = world.discord.channel()
    requests.delete(f"{world.discord.url}/messages/{note.id}", timeout=10).raise_for_status()
    world.gh.unreachable(False)

    world.run(day=1)

    (over,) = world.discord.channel()
    assert over.id != note.id and over.quiet and "checks the daily builds again" in over.payload["content"]


def test_a_lambda_retry_after_an_outage_checks_again(world: World) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    world.gh.unreachable(True)
    with pytest.raises(Exception, match="could not be read"):
        world.run(event_id="the-event")
    world.gh.unreachable(False)

    world.run(event_id="the-event")

    assert len(world.notifying()) == 1


def test_no_build_table_is_an_outage(world: World, boto: Any) -> None:
    world.compilers("{ image: gcc, name: gcc }", "{ image: clang, name: clang }", "{ image: x, name: x }")
    boto("dynamodb").delete_table(TableName=world.table)

    with pytest.raises(Exception, match="the build table compiler-builds could not be read"):
        world.run()

    (outage,) = world.posts()
    assert outage["flags"] & 4096
    assert "could not check" in outage["content"]


def test_a_state_table_that_cannot_be_read_posts_nothing_and_raises(world: World, boto: Any) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    boto("dynamodb").delete_table(TableName="compiler-explorer-alerts")

    with pytest.raises(Exception, match="DynamoDB"):
        world.run()

    assert world.discord.requests == []
    assert world.gh.requests == []


def test_discord_refusing_midway_loses_nothing_and_posts_nothing_twice(world: World) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    # The announcement goes through; the open list is refused (the webhook is gone, for a moment).
    gone = Reply(404, {"message": "Unknown Webhook", "code": 10015}, method="POST")
    world.discord.script.extend([Reply(200, method="POST"), gone])

    with pytest.raises(Exception, match="refused"):
        world.run(event_id="the-event")
    assert len(world.notifying()) == 1 and world.quiet() == []

    world.run(event_id="the-event")  # Lambda's retry
    world.run(day=0)  # and another run

    assert len(world.notifying()) == 1
    assert len(world.quiet()) == 1


def test_a_read_that_fails_for_one_target_opens_nothing_and_clears_nothing(world: World) -> None:
    world.compilers(
        '{ image: clang, name: clang_ir, repos: ["https://github.com/llvm/clangir"] }',
        '{ image: clang, name: other, repos: ["https://github.com/owner/other"] }',
    )
    world.gh.add_repo("llvm/clangir", archived=True)
    world.gh.add_repo("owner/other", archived=False)
    world.builds("clang_ir", "OK", day=-30)
    world.builds("other", "OK")
    world.run(day=0)
    assert "llvm/clangir is archived" in _text(world.notifying()[0])

    # Fixed upstream, and owner/other archived, but GitHub fails every request after compilers.yaml.
    world.gh.archive("llvm/clangir", False)
    world.gh.archive("owner/other", True)
    world.gh.rate_limit(after=1, reset_in=3600)
    world.run(day=1)

    assert len(world.notifying()) == 1
    assert not [p for p in world.posts() if "resolved" in _title(p)]
    assert "clang\\_ir**: the activity gate is broken" in world.open_list()


def test_a_short_rate_limit_is_waited_out(world: World) -> None:
    world.compilers('{ image: clang, name: clang_ir, repos: ["https://github.com/llvm/clangir"] }')
    world.gh.add_repo("llvm/clangir", archived=True)
    world.builds("clang_ir", "OK", day=-30)
    world.gh.rate_limit(after=1, reset_in=1, secondary=True, status=429)

    world.run()

    assert "llvm/clangir is archived" in _text(world.notifying()[0])
    assert 429 in [r.status for r in world.gh.requests]


def test_the_token_comes_from_ssm_and_is_never_logged(
    world: World, boto: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GITHUB_TOKEN_PARAMETER", "/admin/github_build_watch_token")
    boto("ssm").put_parameter(Name="/admin/github_build_watch_token", Value="test-github-token", Type="SecureString")
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    caplog.set_level(logging.DEBUG, logger="chalicelib")

    world.run()
    world.run(day=1)

    assert len(world.notifying()) == 1
    assert all(r.header("Authorization") == "Bearer test-github-token" for r in world.gh.requests)
    assert "test-github-token" not in caplog.text


def test_no_token_anywhere_is_an_outage_said_quietly(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    world.compilers("{ image: gcc, name: gcc }")

    with pytest.raises(Exception, match="token"):
        world.run()

    (outage,) = world.posts()
    assert "GitHub token" in outage["content"] and outage["flags"] & 4096
    assert world.gh.requests == []


def test_the_state_is_kept_under_the_watchs_own_keys(world: World, boto: Any) -> None:
    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")

    world.run(event_id="the-event")

    keys = sorted(i["pk"]["S"] for i in boto("dynamodb").scan(TableName="compiler-explorer-alerts")["Items"])
    assert keys == ["build-watch#state", "delivery#build-watch#run#the-event"]
    state = next(
        i
        for i in boto("dynamodb").scan(TableName="compiler-explorer-alerts")["Items"]
        if i["pk"]["S"] == "build-watch#state"
    )
    assert json.loads(state["state"]["S"])["owed"] == []
    assert "lock_owner" not in state


def test_a_missing_compilers_yaml_is_an_outage(world: World) -> None:
    with pytest.raises(Exception, match=r"GitHub has no compilers\.yaml in compiler-explorer/compiler-workflows"):
        world.run()

    (outage,) = world.posts()
    assert outage["flags"] & 4096


def test_github_failing_midway_stays_within_the_runs_budget_and_opens_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[str] = []

    def then_fail(request: Any) -> None:
        # Every rule-1 look-up (a commits request with `since`) answers 502, retried once each.
        answered.append(request.path)
        if request.path.endswith("/commits") and "since" not in request.query and len(answered) == 5:
            failing.fail(502, times=1000)

    with GitHubFake(token="test-github-token", echo=then_fail) as failing:
        monkeypatch.setenv("GITHUB_API_URL", failing.url)
        world.gh = failing
        world.compilers(
            '{ image: a, name: a, repos: ["https://github.com/o/a", "https://github.com/o/b/tree/x"] }',
            '{ image: b, name: b, repos: ["https://github.com/o/a"] }',
        )
        for repo, branch in (("o/a", "main"), ("o/b", "x")):
            world.commit(repo, branch, 1)  # recent commits: only the look-up can say if older ones wait
        world.builds("a", "OK", day=-30)
        world.builds("b", "OK", day=-30)

        world.run(lambda_time=True)

        # 1 file + 2 repositories + 2 (repository, branch) + 3 (entry, target) = 8, retries included:
        # without the budget the three failing look-ups and their retries would make 11.
        assert len(failing.requests) == 8
        assert [r.status for r in failing.requests[5:]] == [502, 502, 502]
    assert world.posts() == []


def test_a_run_that_finds_the_watch_held_by_another_posts_nothing_and_raises(world: World, boto: Any) -> None:
    from chalicelib.state_store import StateStore

    world.compilers("{ image: gcc, name: gcc }")
    world.builds("gcc", "", "", "")
    StateStore(boto("dynamodb"), "compiler-explorer-alerts").lock("build-watch#state", "another-run", 600)

    with pytest.raises(Exception, match="held by another invocation"):
        world.run(event_id="the-event")

    assert world.discord.requests == []
    # The claim was given back, so Lambda's retry, once the other run is done, does the work.
    StateStore(boto("dynamodb"), "compiler-explorer-alerts").unlock("build-watch#state", "another-run")
    world.run(event_id="the-event")
    assert len(world.notifying()) == 1


def test_a_token_github_refuses_is_an_outage_and_stops_asking(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "revoked-token")
    world.compilers("{ image: gcc, name: gcc }")

    with pytest.raises(Exception, match=r"401 Bad credentials"):
        world.run()

    (outage,) = world.posts()
    assert "GitHub refused the token" in outage["content"] and outage["flags"] & 4096
    assert [r.status for r in world.gh.requests] == [401]  # refused once: never retried
    assert "revoked-token" not in json.dumps(outage)
