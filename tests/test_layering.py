"""The layout's promises (docs/ARCHITECTURE.md), checked on the source: no import cycle
between modules, and no import from a lower layer into a higher one. Every import counts,
also those inside functions."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
DOORS = ("agora.api", "agora.web", "agora.cli", "agora.federation", "agora.webpush")
APPLICATION = ("agora.app", "agora.job_registry")
SERVICES = ("agora.social", "agora.ai", "agora.data", "agora.auth")
# package -> what it may never import
FORBIDDEN = {
    "agora.http": (*DOORS, *APPLICATION),
    # the API may ask federation to resolve a remote account (search with resolve=true)
    "agora.api": ("agora.web", "agora.cli", *APPLICATION),
    "agora.web": ("agora.api", "agora.cli", "agora.federation", "agora.webpush", *APPLICATION),
    "agora.federation": ("agora.api", "agora.web", "agora.cli", "agora.webpush", *APPLICATION),
    # Web Push sends through federation's guarded client
    "agora.webpush": ("agora.api", "agora.web", "agora.cli", *APPLICATION),
    "agora.social": (*DOORS, "agora.http", *APPLICATION),
    "agora.ai": (*DOORS, "agora.http", *APPLICATION),
    "agora.data": (*DOORS, "agora.http", *APPLICATION),
    "agora.auth": (*DOORS, "agora.http", *APPLICATION),
    "agora.social.rules": (
        "agora.social.people",
        "agora.social.posts",
        "agora.social.media",
        "agora.social.reading",
        "agora.social.live",
        "agora.social.search",
        "agora.ai",
        "agora.data",
    ),
    "agora.jobs": (*DOORS, "agora.http", *SERVICES, *APPLICATION),
    "agora.mail": (*DOORS, "agora.http", *SERVICES, *APPLICATION),
    "agora.events": (*DOORS, "agora.http", *SERVICES, *APPLICATION, "agora.jobs"),
    "agora.db": (*DOORS, "agora.http", *SERVICES, *APPLICATION, "agora.jobs", "agora.events"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the agora modules it imports (a `from package import module` counts as the
    module; `from module import name` as the module)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                hits = [s for s in subs if s in modules] or [node.module]
            elif isinstance(node, ast.Import):
                hits = [a.name for a in node.names]
            else:
                continue
            edges[name].update(h for h in hits if h in modules and h != name)
    return edges


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_goes_up_a_layer() -> None:
    modules = _modules()
    wrong = []
    for source, targets in _imports(modules).items():
        for package, forbidden in FORBIDDEN.items():
            if not _within(source, package):
                continue
            wrong += [(source, t) for t in targets if any(_within(t, f) for f in forbidden)]
    assert wrong == []


def test_no_import_cycle() -> None:
    edges = _imports(_modules())
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_checks_see_the_tree() -> None:
    """The walk finds the layers it checks (a moved tree would make the tests above vacuous)."""
    modules = _modules()
    for package in FORBIDDEN:
        assert any(_within(m, package) for m in modules), package
    edges = _imports(modules)
    assert "agora.social.rules.visibility" in edges["agora.social.posts.hydrate"]
