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
