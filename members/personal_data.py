"""Personal data across apps: export for its owner, erasure on request.

`members` is at the bottom of the dependency chain, so other apps (events, matchmaking)
register what they hold about a person here, in their AppConfig.ready().
"""

from collections.abc import Callable
from typing import Any

from members.models import User

Exporter = Callable[[User], Any]
Eraser = Callable[[User], None]

_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}


def register_exporter(section: str, exporter: Exporter) -> None:
    _exporters[section] = exporter


def register_eraser(name: str, eraser: Eraser) -> None:
    _erasers[name] = eraser


def exporters() -> dict[str, Exporter]:
    return dict(_exporters)


def erasers() -> dict[str, Eraser]:
    return dict(_erasers)
