"""aws-embedded-metrics without aiohttp, until something actually asks for EC2.

aiohttp is about 200 ms of the library's 250 ms import, and only its EC2 environment uses it: the
package's ``__init__`` imports ``metric_scope``, which imports the environment detector, which
imports ``EC2Environment`` from ``environment/ec2_environment.py`` and makes one at import time;
that module does ``import aiohttp`` and ``from aiohttp import ClientTimeout`` at its top. On
Lambda the detector never probes EC2 (``AWS_EMF_ENVIRONMENT`` names the environment, and the
Lambda environment is tried first anyway), so the API's cold start paid for a client it never used.

``install()``, called before the library's first import, puts a stand-in module where the detector
imports ``EC2Environment`` from. The stand-in's ``EC2Environment`` loads the library's own module
(and aiohttp) on first use, and from then on is the library's: the probe, the metadata, the agent
sink, all of it. The EMF record does not change (tests/test_metrics.py compares its bytes with and
without the stand-in), and a library version that imports aiohttp anywhere else, moves the module,
or gives the class a method the stand-in does not pass on fails those tests.
"""

import importlib.machinery
import importlib.util
import os.path
import sys
import threading
import types
from typing import Any

MODULE = "aws_embedded_metrics.environment.ec2_environment"
# Environment's abstract methods in aws-embedded-metrics 3.5.0, every one passed on below.
METHODS = ("probe", "get_name", "get_type", "get_log_group_name", "configure_context", "get_sink")

_lock = threading.Lock()
_spec: importlib.machinery.ModuleSpec | None = None
_real: types.ModuleType | None = None


def install() -> bool:
    """Stand in for the library's EC2 module, if the library is not imported yet; whether it now does."""
    global _spec
    with _lock:
        if isinstance(sys.modules.get(MODULE), _StandIn):
            return True
        if MODULE in sys.modules:
            return False  # the library's own module is loaded already: nothing left to save
        package = importlib.util.find_spec("aws_embedded_metrics")  # finds it without running its __init__
        locations = list(package.submodule_search_locations or []) if package else []
        path = os.path.join(locations[0], "environment", "ec2_environment.py") if locations else ""
        if not os.path.isfile(path):
            return False  # a version that moved the module: it is imported as the library wants
        _spec = importlib.util.spec_from_file_location(MODULE, path)
        sys.modules[MODULE] = _StandIn(MODULE, __doc__)
        return True


def loaded() -> bool:
    """Whether the library's own EC2 module (and so aiohttp) has been loaded through the stand-in."""
    return _real is not None


def real_module() -> types.ModuleType:
    """The library's own ``ec2_environment`` module, loaded on the first call."""
    global _real
    with _lock:
        if _real is None:
            if _spec is None or _spec.loader is None:
                raise ImportError(f"{MODULE} was never stood in for")
            module = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(module)
            _real = module
        return _real


class EC2Environment:
    """The library's ``EC2Environment``, made on first use."""

    def __init__(self) -> None:
        self._environment: Any = None

    def _real(self) -> Any:
        if self._environment is None:
            self._environment = real_module().EC2Environment()
        return self._environment

    async def probe(self) -> bool:
        return bool(await self._real().probe())

    def get_name(self) -> str:
        return str(self._real().get_name())

    def get_type(self) -> str:
        return str(self._real().get_type())

    def get_log_group_name(self) -> str:
        return str(self._real().get_log_group_name())

    def configure_context(self, context: Any) -> None:
        self._real().configure_context(context)

    def get_sink(self) -> Any:
        return self._real().get_sink()

    def __getattr__(self, name: str) -> Any:
        # Anything else (metadata, sink) is the real environment's.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)


class _StandIn(types.ModuleType):
    EC2Environment = EC2Environment

    def __getattr__(self, name: str) -> Any:
        # Any other name a library version imports from the module (a constant, a helper) is the real one.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(real_module(), name)
