"""Loading the app as ``chalice local`` does: the project's ``app.py`` with a stage's config."""

from chalice import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config

from tools.devkit.process import PROJECT_DIR


def load(stage: str) -> tuple[Chalice, Config]:
    """The Chalice app and the stage's config, without touching ``os.environ``.

    ``chalice local`` copies the stage's variables into the environment while loading; the
    stack sets the environment itself (``stack.environment``), so the factory gets a
    throwaway mapping to write to.
    """
    config = CLIFactory(str(PROJECT_DIR), environ={}).create_config_obj(chalice_stage_name=stage)
    return config.chalice_app, config
