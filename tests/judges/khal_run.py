"""Run several khal commands in one process (importing khal takes seconds; each command does
not): JSON on stdin, a list of argument lists; JSON on stdout, each command's output."""

import contextlib
import io
import json
import sys

from khal.cli import main_khal


def main() -> None:
    outputs = []
    for arguments in json.load(sys.stdin):
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            try:
                main_khal.main(arguments, prog_name="khal", standalone_mode=False)
            except SystemExit as stop:
                if stop.code:
                    raise
        outputs.append(captured.getvalue())
    json.dump(outputs, sys.stdout)


if __name__ == "__main__":
    main()
