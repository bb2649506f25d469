"""Route table: registered `"METHOD /path/{name}/{rest:path}"` keys compiled into regular expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from colony.core import Registration

PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")


@dataclass(frozen=True)
class Route:
    """One registered route, ready to match."""

    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Any
    price: int | None
    meta: dict[str, Any]
    owner: str


def compile_path(template: str) -> re.Pattern[str]:
    """A regular expression for a path template; `{x}` takes one segment, `{x:path}` the rest."""
    out, last = ["^"], 0
    for m in PARAM.finditer(template):
        out.append(re.escape(template[last : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        last = m.end()
    out.append(re.escape(template[last:]) + "$")
    return re.compile("".join(out))


class Router:
    """Finds the route for a method and path; literal paths win over templated ones."""

    def __init__(self, registrations: list[Registration]) -> None:
        self.routes: list[Route] = []
        for reg in registrations:
            method, _, path = reg.key.partition(" ")
            meta = {k: v for k, v in reg.meta.items() if k != "price"}
            self.routes.append(Route(method, compile_path(path), path, reg.value, reg.meta.get("price"), meta, reg.owner))
        self.routes.sort(key=lambda r: (PARAM.search(r.template) is not None, -len(r.template)))
        # Literal paths win anyway, so an exact (method, path) hit needs no scan.
        self.literal = {(r.method, r.template): r for r in self.routes if PARAM.search(r.template) is None}

    def find(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, whether the path exists under another method)."""
        route = self.literal.get((method, path))
        if route is not None:
            return route, {}, False
        elsewhere = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, m.groupdict(), False
            elsewhere = True
        return None, {}, elsewhere
