"""Writing a table a chunk at a time, all or nothing: chunks go to a hidden temporary file
beside the target, renamed onto it when the last chunk is written; on any error the
temporary file is removed and the target is left as it was.

A column allowed to appear late (``late``: predict's ``_unreadable``, present only when a
row has an unreadable cell) is added to the rows already written when a later chunk first
brings it, and filled with '' in chunks without it, so the file equals the one written
from the whole table at once. Written without a path, the table goes to stdout as CSV, at
the end, from a temporary file: nothing partial is printed either.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from learnloop.exceptions import DataError, UsageError

__all__ = ["TableSink", "SINK_SUFFIXES"]

SINK_SUFFIXES = (".csv", ".parquet", ".jsonl")


class TableSink:
    """``with TableSink(path) as sink: sink.write(chunk) ...``: chunks written in order.

    ``path`` None writes CSV to stdout. UsageError, at once, for a suffix other than
    :data:`SINK_SUFFIXES` or a missing folder.
    """

    def __init__(self, path: str | Path | None, late: str | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.kind = ".csv" if self.path is None else self.path.suffix.lower()
        if self.kind not in SINK_SUFFIXES:
            raise UsageError(f"Cannot write '{path}'; use a .csv, .parquet or .jsonl file name.")
        if self.path is not None and not self.path.parent.exists():
            raise UsageError(f"The folder of '{self.path}' does not exist.")
        if self.path is not None and self.path.is_dir():
            raise UsageError(f"The output '{self.path}' is a folder; name a file in it.")
        self.late = late
        self.columns: list[str] | None = None
        self.rows = 0
        self._tmp: Path | None = None
        self._fh: Any = None  # an open text file (CSV, JSON lines) or a ParquetWriter
        self._schema: Any = None

    def __enter__(self) -> TableSink:
        folder = None if self.path is None else self.path.parent
        prefix = "learnloop-out." if self.path is None else f".{self.path.name}."
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        os.close(fd)
        self._tmp = Path(tmp)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tmp is not None
        try:
            self._close()
            if kind is None:
                self._finish(self._tmp)
        finally:
            self._tmp.unlink(missing_ok=True)

    # ----------------------------------------------------------------------- writing
    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows (its index is not written)."""
        names = [str(c) for c in frame.columns]
        if self.columns is None:
            self.columns = names
        elif names != self.columns:
            frame = self._align(frame, names)
        if self.kind == ".parquet":
            self._write_parquet(frame)
        else:
            self._write_text(frame)
        self.rows += len(frame)

    def _align(self, frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        """``frame`` in the columns written so far; the late column added to both if one
        of them lacks it; DataError for any other difference."""
        assert self.columns is not None
        late = self.late
        if late is not None and names == [*self.columns, late]:
            self._widen(frame)
            self.columns = names
            return frame
        if late is not None and self.columns == [*names, late]:
            return frame.assign(**{late: ""})
        raise DataError(
            f"A chunk of the output has the columns {names}, the rows before it {self.columns}."
        )

    def _write_text(self, frame: pd.DataFrame) -> None:
        assert self._tmp is not None
        if self._fh is None:
            self._fh = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        if self.kind == ".csv":
            frame.to_csv(self._fh, index=False, header=self.rows == 0)
        else:
            text = frame.to_json(orient="records", lines=True)
            self._fh.write(text if text.endswith("\n") or not text else text + "\n")

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._fh is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._schema = table.schema
            self._fh = pq.ParquetWriter(self._tmp, self._schema)
        else:
            try:
                table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                raise DataError(
                    f"Rows {self.rows + 1} on of the output do not fit the types of the rows "
                    f"before them ({e}); write a .csv file instead."
                ) from e
        self._fh.write_table(table)

    # ---------------------------------------------------------- the late column
    def _widen(self, frame: pd.DataFrame) -> None:
        """Add the late column, empty, to every row written so far (``frame``: the first
        chunk that brings it, whose types the file takes on)."""
        assert self._tmp is not None and self.late is not None
        self._close()
        wider = self._tmp.with_name(self._tmp.name + ".wide")
        try:
            if self.kind == ".parquet":
                self._widen_parquet(wider, frame)
            else:
                self._widen_text(wider)
                self._fh = open(wider, "a", encoding="utf-8", newline="")  # noqa: SIM115
        except BaseException:
            self._close()
            wider.unlink(missing_ok=True)
            raise
        self._tmp.unlink(missing_ok=True)
        self._tmp = wider

    def _widen_text(self, wider: Path) -> None:
        import csv

        assert self._tmp is not None and self.late is not None
        with (
            open(self._tmp, encoding="utf-8", newline="") as src,
            open(wider, "w", encoding="utf-8", newline="") as dst,
        ):
            if self.kind == ".csv":  # pandas writes CSV with the csv module's minimal quoting
                writer = csv.writer(dst, lineterminator="\n")
                for i, row in enumerate(csv.reader(src)):
                    writer.writerow([*row, self.late if i == 0 else ""])
                return
            tail = "," + json.dumps(self.late) + ':""}'
            for line in src:
                body = line.rstrip("\n")
                dst.write((body[:-1] + tail if body.endswith("}") else body) + "\n")

    def _widen_parquet(self, wider: Path, frame: pd.DataFrame) -> None:
        """Copy the rows written so far into a writer of the wider schema, left open."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self._tmp is not None
        schema = pa.Schema.from_pandas(frame, preserve_index=False)
        self._fh = pq.ParquetWriter(wider, schema)
        self._schema = schema
        with pq.ParquetFile(self._tmp) as source:
            for batch in source.iter_batches():
                rows = pa.Table.from_batches([batch])
                empty = pa.array([""] * batch.num_rows, pa.string())
                self._fh.write_table(rows.append_column(str(self.late), empty).cast(schema))

    # ------------------------------------------------------------------- the end
    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _finish(self, tmp: Path) -> None:
        """Put the written rows where they belong: renamed onto the target, or printed."""
        if self.path is None:
            with open(tmp, encoding="utf-8", newline="") as src:
                shutil.copyfileobj(src, sys.stdout)
            sys.stdout.flush()
            return
        os.replace(tmp, self.path)
