"""Start-up times: ``learnloop --help`` and ``import learnloop``, two source trees side by side.

Each command runs ``--runs`` times in a fresh interpreter, the two trees interleaved (a busy
moment of the machine falls on both), and the median and fastest wall times are kept: the
median is what a user waits, the fastest what the code costs on an idle machine.
``python -c pass`` is the interpreter's own start, the floor of every row.

    .venv/bin/python -m bench.startup --before /path/to/old/src --after src --runs 10

Installed copies instead of source trees (a core install without extras, say): give the
interpreters of two virtual environments, each running the learnloop installed in it.

    python3 -m bench.startup --before-python /tmp/a/bin/python --after-python /tmp/b/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import learnloop": ["-c", "import learnloop"],
    "learnloop.train on first use": ["-c", "import learnloop; learnloop.train"],
    "learnloop --help": ["-m", "learnloop", "--help"],
    "learnloop train --help": ["-m", "learnloop", "train", "--help"],
    "learnloop runs show --help": ["-m", "learnloop", "runs", "show", "--help"],
}


Tree = tuple[str, Path | None]  # an interpreter, and the src folder it imports (None: its own)


def _seconds(tree: Tree, args: list[str]) -> float:
    python, src = tree
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    started = time.perf_counter()
    subprocess.run([python, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(before: Tree, after: Tree, runs: int) -> list[tuple[str, list[float], list[float]]]:
    """Per command: the before and after times of ``runs`` interleaved runs each."""
    rows = []
    for name, args in COMMANDS.items():
        _seconds(before, args), _seconds(after, args)  # warm the file cache
        old, new = [], []
        for _ in range(runs):
            old.append(_seconds(before, args))
            new.append(_seconds(after, args))
        rows.append((name, old, new))
    return rows


def table(rows: list[tuple[str, list[float], list[float]]], runs: int) -> str:
    """The results as a Markdown table (seconds; ratio of the medians)."""
    lines = [
        f"| command ({runs} runs each) | before median | before fastest | after median "
        "| after fastest | before / after |",
        "|---|---|---|---|---|---|",
    ]
    for name, old, new in rows:
        mo, mn = statistics.median(old), statistics.median(new)
        lines.append(
            f"| `{name}` | {mo:.3f} | {min(old):.3f} | {mn:.3f} | {min(new):.3f} | {mo / mn:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the old tree's src folder")
    parser.add_argument("--after", type=Path, help="the new src folder")
    parser.add_argument("--before-python", default=sys.executable, help="the old interpreter")
    parser.add_argument("--after-python", default=sys.executable, help="the new interpreter")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, help="also write the table here (.md)")
    opts = parser.parse_args()
    if opts.before is None and opts.before_python == sys.executable:
        parser.error("give --before (a src folder) or --before-python (an installed copy)")
    after = opts.after if opts.after or opts.after_python != sys.executable else Path("src")
    before_tree, after_tree = (opts.before_python, opts.before), (opts.after_python, after)
    text = table(measure(before_tree, after_tree, opts.runs), opts.runs)
    print(text)
    if opts.out is not None:
        opts.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
