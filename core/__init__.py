"""colony's kernel: the public API for plugin authors and embedders."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("colony")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from .budgets import BudgetError, BudgetExceeded, Budgets, RepeatedAction
from .config import Config, ConfigError, Option
from .context import PluginContext, Registrar, Registration, RegistrationError
from .events import Envelope, Event, Notice
from .heartbeat import Outcome, Step, Tick
from .hookspecs import hookimpl
from .http import Request, Response
from .manifest import Manifest
from .rpc import RPCError
from .store import Namespace
from .tools import ToolError, invoke, validate_arguments

__all__ = [
    "BudgetError",
    "BudgetExceeded",
    "Budgets",
    "Config",
    "ConfigError",
    "Envelope",
    "Event",
    "Manifest",
    "Namespace",
    "Notice",
    "Option",
    "Outcome",
    "PluginContext",
    "RPCError",
    "Request",
    "Response",
    "Registrar",
    "Registration",
    "RegistrationError",
    "RepeatedAction",
    "Step",
    "Tick",
    "ToolError",
    "__version__",
    "hookimpl",
    "invoke",
    "validate_arguments",
]
