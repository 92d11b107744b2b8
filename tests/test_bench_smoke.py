"""The benchmark harness end to end, tiny: a small database and one-second wrk runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (apt-get install wrk)")
def test_benchmark_prints_the_table(tmp_path):
    output = tmp_path / "benchmark.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            *("--screenings", "150", "--rsvps", "600", "--outbox", "100"),
            *("--duration", "1", "--warmup", "0", "--connections", "4"),
            *("--output", str(output)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = output.read_text()
    for row in (
        "| screening .ics |",
        "| upcoming, first page |",
        "| screening page + RSVP form |",
        "| world map |",
        "| producer dashboard |",
        "| /calendar.ics (gzip) |",
        "| /calendar.ics, 304 |",
        "| worker peak RSS (VmHWM) |",
    ):
        assert row in table, table
    # The 100 queued by the harness, and whatever the demo data left queued (producer alerts).
    delivered = re.search(r"\| outbox deliver \(([\d,]+) sent, ([\d,]+) received\) \|", table)
    assert delivered, table
    assert delivered.group(1) == delivered.group(2)
    assert int(delivered.group(1).replace(",", "")) >= 100
    assert "| screening page, RSVPs at 1/s |" in table, table
    assert "| screening page, RSVPs at 10/s |" in table, table
    hit_rates = r"Page cache hit rates .*screening page, RSVPs at 10/s \d+\.\d %"
    assert re.search(hit_rates, table), table
    assert "Machine:" in table
    assert "errors)" not in table, table
