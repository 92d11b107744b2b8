"""bandit reports nothing of medium or high severity in the application code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "screenings"


def test_bandit_finds_no_medium_or_high_severity_issue():
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", str(PACKAGE), "-ll", "-f", "json", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["metrics"]["_totals"]["loc"] > 1000  # it really scanned the package
    findings = [
        f"{item['filename']}:{item['line_number']} {item['test_id']} {item['issue_text']}"
        for item in report["results"]
    ]
    assert findings == []


def _untranslated_domain_errors() -> list[str]:
    """Where a service raises a domain error (its message reaches the user) with a literal
    string or an f-string rather than a gettext call."""
    import ast
    import importlib

    from screenings.services import DomainError

    for path in (PACKAGE / "services").glob("*.py"):  # every subclass, wherever defined
        importlib.import_module(f"screenings.services.{path.stem}".removesuffix(".__init__"))

    def kinds(cls):
        return {cls.__name__}.union(*(kinds(sub) for sub in cls.__subclasses__()))

    domain_errors = kinds(DomainError)
    assert {"NotAllowed", "BookingError"} <= domain_errors
    found = []
    for path in sorted((PACKAGE / "services").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
            if name not in domain_errors or not node.exc.args:
                continue
            if isinstance(node.exc.args[0], ast.Constant | ast.JoinedStr):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_every_message_a_service_raises_to_the_user_goes_through_gettext():
    assert _untranslated_domain_errors() == []


def test_no_template_title_block_holds_markup():
    """A page's <title> is text: markup there is a paste slip (it happened twice to the
    producer's privacy page, whose forms ended up in its title)."""
    import re

    templates = PACKAGE.parent / "templates"
    slips = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        for title in re.findall(r"{% block title %}(.*?){% endblock %}", path.read_text(), re.S)
        if "<" in title
    ]
    assert slips == []


def _web_layer_imports() -> list[str]:
    """Where a module outside the web layer (the blueprint packages, screenings/views.py and
    the app factory) imports a views module."""
    import ast

    web = {path.parent for path in PACKAGE.rglob("views.py")} - {PACKAGE}
    web |= {path.parent.parent for path in PACKAGE.rglob("views/__init__.py")}  # a package
    assert PACKAGE / "producer" in web
    shared = (PACKAGE / "views.py", PACKAGE / "__init__.py")
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if web.intersection(path.parents) or path in shared:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.split(".")[-1] == "views" for name in names):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_services_and_emails_never_import_the_web_layer():
    """Words for people live in screenings/formatting.py; services, e-mails and the other
    non-web modules import them from there, not from a module that registers pages."""
    assert _web_layer_imports() == []


def _import_graph(*, deferred: bool) -> dict[str, set[str]]:
    """Which screenings modules each screenings module imports: at the top level only (what
    runs on import), or with the imports inside functions too. A package importing its own
    submodules (to register routes) is left out: importing a submodule runs its package
    first anyway, so that is the registration, not a cycle."""
    import ast

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        nodes = ast.walk(tree) if deferred else iter(tree.body)
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                # `from . import x` names a submodule x, or a name defined in the package.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not target.startswith(f"{name}."):
                    graph[name].add(target)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        here = todo.pop()
        if here == goal:
            return True
        if here not in seen:
            seen.add(here)
            todo.extend(graph[here])
    return False


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each import that closes a cycle, as 'a -> b' (b leads back to a)."""
    return sorted(f"{a} -> {b}" for a in graph for b in graph[a] if _reaches(graph, b, a))


# Imports inside functions that still close a cycle, each to be cut, not added to. Run at call
# time they import nothing half-made, but each is a dependency running both ways.
# None left: the last (listings -> nearby, the lists' near-me filter) was cut by moving the
# rule of which screenings are near a town to services/radius.py, which both import.
DEFERRED_CYCLES: set[str] = set()


def test_no_module_imports_itself_back_at_import_time():
    assert _cycles(_import_graph(deferred=False)) == []


def test_the_only_import_cycles_are_the_listed_deferred_ones():
    """Every cycle, imports inside functions included, goes through one of DEFERRED_CYCLES,
    and each of those still closes one (cut it, and it leaves the list)."""
    graph = _import_graph(deferred=True)
    still = {edge for edge in DEFERRED_CYCLES if edge in _cycles(graph)}
    assert still == DEFERRED_CYCLES
    for edge in DEFERRED_CYCLES:
        a, b = edge.split(" -> ")
        graph[a].discard(b)
    assert _cycles(graph) == []


def test_emails_import_no_service_but_the_rule_of_who_learns_what():
    """Services send e-mail, so e-mails do not call services: the services pass what an
    e-mail needs (ticket, words, notes, links to act on), capability tokens come from
    screenings/capabilities.py, and the one service read is visibility (which place each
    reader may see; it imports no e-mail), imports inside functions included."""
    imported = _import_graph(deferred=True)["screenings.emails"]
    services = {name for name in imported if name.startswith("screenings.services")}
    assert services <= {"screenings.services", "screenings.services.visibility"}
    assert not _reaches(
        _import_graph(deferred=True), "screenings.services.visibility", "screenings.emails"
    )
