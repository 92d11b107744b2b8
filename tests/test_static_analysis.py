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
