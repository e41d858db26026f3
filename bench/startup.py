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
import tempfile
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
# bad input (exit 2, one line): the commands check what they can before their heavy imports
_NO_MODEL = ["nosuch.skops", "--store", "s.db"]
BAD_INPUT = {
    "learnloop feedback: no such model file": ["feedback", *_NO_MODEL, "labels.csv"],
    "learnloop explain: no such model file": ["explain", "nosuch.skops", "rows.csv"],
    "learnloop retrain --budget abc": ["retrain", *_NO_MODEL, "--data", "x", "--budget", "abc"],
    "learnloop retrain: no such model": ["retrain", *_NO_MODEL, "--data", "x.csv"],
    "learnloop monitor: no such model file": ["monitor", *_NO_MODEL],
}
COMMANDS |= {name: ["-m", "learnloop", *args] for name, args in BAD_INPUT.items()}


Tree = tuple[str, Path | None]  # an interpreter, and the src folder it imports (None: its own)


def _seconds(tree: Tree, args: list[str], cwd: str | None = None, code: int = 0) -> float:
    python, src = tree
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    started = time.perf_counter()
    done = subprocess.run([python, *args], env=env, capture_output=True, cwd=cwd)
    if done.returncode != code:
        raise RuntimeError(f"{args} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return time.perf_counter() - started


def measure(
    before: Tree, after: Tree, runs: int, only: str = ""
) -> list[tuple[str, list[float], list[float]]]:
    """Per command (those whose name holds ``only``): the before and after times of ``runs``
    interleaved runs each, in a scratch folder (the bad-input rows' store is made there)."""
    rows = []
    with tempfile.TemporaryDirectory() as cwd:
        for name, args in COMMANDS.items():
            if only not in name:
                continue
            code = 2 if name in BAD_INPUT else 0
            _seconds(before, args, cwd, code), _seconds(after, args, cwd, code)  # warm the cache
            old, new = [], []
            for _ in range(runs):
                old.append(_seconds(before, args, cwd, code))
                new.append(_seconds(after, args, cwd, code))
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
    parser.add_argument("--only", default="", help="only the commands whose name holds this")
    opts = parser.parse_args()
    if opts.before is None and opts.before_python == sys.executable:
        parser.error("give --before (a src folder) or --before-python (an installed copy)")
    after = opts.after if opts.after or opts.after_python != sys.executable else Path("src")
    before_tree, after_tree = (opts.before_python, opts.before), (opts.after_python, after)
    text = table(measure(before_tree, after_tree, opts.runs, opts.only), opts.runs)
    print(text)
    if opts.out is not None:
        opts.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
