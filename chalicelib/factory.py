"""What the engines that post to Discord run on, built in one place: the webhook, the state store,
the graph budget and the clocks.

``app.py`` keeps one ``Factory`` a process (so warm invocations reuse the webhook's connection,
its jump-link look-up, the SSM read and the graph budget) and asks it for a store each invocation.
Tests build their own with the clocks and clients they want; nothing here is a module-level
variable to patch. Importing this module loads nothing heavy: boto3 and requests come with the
first client and the first post.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib import aws, settings
from chalicelib.state_store import LOCK_WAIT_SECONDS, StateStore

if TYPE_CHECKING:
    from chalicelib.graphs import RenderBudget
    from chalicelib.webhook import Webhook


class Factory:
    def __init__(
        self,
        *,
        client: Callable[..., Any] = aws.client,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        session: Any = None,
        graph_budget: "RenderBudget | None" = None,
        store_wait_seconds: float = LOCK_WAIT_SECONDS,
        webhook_options: dict[str, Any] | None = None,
    ) -> None:
        """``client(service, region=None)`` gives boto3 clients (``chalicelib.aws.client``);
        ``monotonic`` times Discord's deadline, ``wall_clock`` the store's locks and expiries."""
        self._client = client
        self.sleep = sleep
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self._session = session
        self._graph_budget = graph_budget
        self._store_wait_seconds = store_wait_seconds
        self._webhook_options = webhook_options or {}
        self._webhooks: dict[str, Webhook] = {}
        self._urls_from_ssm: dict[str, str] = {}
        self._tokens_from_ssm: dict[str, str] = {}

    def webhook_url(self) -> str:
        """WEBHOOK_URL, or else the SSM SecureString WEBHOOK_URL_PARAMETER names (read once a factory)."""
        parameter = settings.webhook_url_from_ssm()
        if parameter is None:
            url = settings.webhook_url()
            if not url:
                raise settings.ConfigurationError(
                    "neither WEBHOOK_URL nor WEBHOOK_URL_PARAMETER is set: alerts cannot be delivered"
                )
            return url
        if parameter not in self._urls_from_ssm:
            response = self._client("ssm").get_parameter(Name=parameter, WithDecryption=True)
            url = str(response["Parameter"]["Value"]).strip()
            if not url.startswith(("https://", "http://")):
                # Retrying cannot mend a bad value; say so without echoing it (it is a secret).
                raise settings.ConfigurationError(f"SSM parameter {parameter} does not hold a webhook URL")
            self._urls_from_ssm[parameter] = url
        return self._urls_from_ssm[parameter]

    def webhook(self) -> "Webhook":
        """The webhook (one per URL a process), retrying with this factory's sleep and clock."""
        from chalicelib.webhook import Webhook

        url = self.webhook_url()
        if url not in self._webhooks:
            self._webhooks[url] = Webhook(
                url, session=self._session, sleep=self.sleep, clock=self.monotonic, **self._webhook_options
            )
        return self._webhooks[url]

    def store(self) -> StateStore | None:
        """A state store for one invocation, or None (no state: every alert is a new post) when
        ALERT_STATE_TABLE is unset."""
        table = settings.alert_state_table()
        if not table:
            return None
        return StateStore(
            self._client("dynamodb-alerts"),
            table,
            clock=self.wall_clock,
            sleep=self.sleep,
            wait_seconds=self._store_wait_seconds,
        )

    def cloudwatch(self, region: str) -> Any:
        """The client that draws alarm graphs, in the alarm's region (``chalicelib.graphs``)."""
        return self._client("cloudwatch", region=region)

    @property
    def graph_budget(self) -> "RenderBudget":
        if self._graph_budget is None:
            from chalicelib.graphs import RenderBudget

            self._graph_budget = RenderBudget(clock=self.monotonic)
        return self._graph_budget

    def mention_role(self) -> str | None:
        return settings.alert_mention_role()

    def dynamodb(self) -> Any:
        """The build table's client (the build watch reads each compiler's builds with it)."""
        return self._client("dynamodb")

    def github_token(self) -> str:
        """GITHUB_TOKEN, or else the SSM SecureString GITHUB_TOKEN_PARAMETER names (read once a factory).

        Never logged: an error names the parameter, never the value.
        """
        token = settings.github_token()
        if token:
            return token
        parameter = settings.github_token_parameter()
        if parameter not in self._tokens_from_ssm:
            response = self._client("ssm").get_parameter(Name=parameter, WithDecryption=True)
            value = str(response["Parameter"]["Value"]).strip()
            if not value:
                raise settings.ConfigurationError(f"SSM parameter {parameter} holds no GitHub token")
            self._tokens_from_ssm[parameter] = value
        return self._tokens_from_ssm[parameter]
