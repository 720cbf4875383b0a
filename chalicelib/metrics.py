"""The PageLoad metric, as a CloudWatch Embedded Metric Format record on stdout.

aws-embedded-metrics is imported only here, on the page-load path (or by the API's warm-up at
init on Lambda): an archive batch or an alert never pays for it. The aiohttp it would pull in for
its EC2 environment is left out until EC2 is asked for (chalicelib.lazy_ec2), which on Lambda is never.
"""

from collections.abc import Callable
from typing import Any

from chalicelib import lazy_ec2, settings

NAMESPACE = "CompilerExplorer"


def load_library() -> Callable[[], Any]:
    """aws-embedded-metrics' logger factory, imported on first call (chalicelib.warmup calls it at init)."""
    lazy_ec2.install()
    from aws_embedded_metrics.logger.metrics_logger_factory import create_metrics_logger

    return create_metrics_logger


def emit_pageload(sponsors: list[str]) -> None:
    """Print one EMF record: PageLoad = 1, with the sponsors shown as a property."""
    metrics = load_library()()
    metrics.set_namespace(NAMESPACE)
    metrics.set_dimensions(settings.metric_dimensions(), use_default=False)
    metrics.put_metric("PageLoad", 1, "None")
    metrics.set_property("sponsors", sponsors)
    metrics.flush_sync()
