"""Pictures: classification whose inputs are pictures (``image``), and who is who (``faces``).

Both read a folder with one sub-folder per class (or person), or a table with a column of
picture paths (relative to the table) and a label column. Each picture is opened once and
checked; files that cannot be used are named in the run's notes and left out. The
features are extracted inside the saved pipeline (``learnloop.estimators.ImageFeatures``,
``FaceEmbedding``), so ``learnloop predict`` takes new pictures.

``faces`` also learns a distance past which a face is nobody on file ("unknown"): on the
validation faces, the distance to the nearest training face of *another* person is what a
stranger looks like; the threshold is the distance at which at most ``FALSE_ACCEPT`` of
those are accepted (with too few validation faces to measure that rate, the smallest such
distance, and never looser than SFace's published threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from learnloop.data import TABLE_SUFFIXES, ColumnSpec, Schema, check_column, class_values
from learnloop.exceptions import DataError, UsageError
from learnloop.pictures import vision
from learnloop.tasks._base import Answer, Part
from learnloop.tasks.tabular import Classification

__all__ = ["Image", "Faces", "PictureAnswer"]

DEFAULT_TARGET = "label"
FALSE_ACCEPT = 0.01
UNKNOWN = "unknown"
_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json", ".feather")


@dataclass
class PictureAnswer(Answer):
    """An answer with extra columns per picture (its path, and for faces distance and box)."""

    columns: dict[str, list[Any]] = field(default_factory=dict)


def _is_picture_path(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(vision.PICTURE_SUFFIXES)


class Image(Classification):
    """A class per picture; features searched among HOG and pixels + PCA."""

    name = "image"
    default_metric = "accuracy"
    takes_pictures = True
    feature_kinds: ClassVar[tuple[str, ...]] = ("hog", "pixels_pca")
    inputs_are_columns: ClassVar[bool] = False  # the one input is the picture
    ensembles = False  # the answer reads the pipeline's own feature and model steps
    portfolio_order = (  # type: ignore[assignment]
        ("linear_hog", 0),
        ("knn_pixels_pca", 0),
        ("linear_pixels_pca", 0),
        ("mlp_hog", 0),
        ("knn_hog", 0),
        ("mlp_pixels_pca", 0),
    )

    # --------------------------------------------------------------- inference
    def claims_source(self, data: Any, options: dict[str, Any] | None) -> bool:
        """A folder (of class sub-folders of pictures)."""
        return not isinstance(data, pd.DataFrame) and Path(str(data)).is_dir()

    def claims_table(self, frame: pd.DataFrame, target: str | None) -> bool:
        return False  # a table of picture paths is pictures only when --task says so

    # ------------------------------------------------------------------ reading
    def read_data(
        self, data: Any, target: str | None, options: dict[str, Any] | None = None
    ) -> tuple[pd.DataFrame, str | None]:
        if isinstance(data, pd.DataFrame):
            frame = data.copy()
            base = None
        else:
            path = Path(data)
            if not path.exists():
                raise DataError(f"The data path '{path}' does not exist.")
            if path.is_dir():
                _refuse_a_folder_of_tables(path)
                target = target or DEFAULT_TARGET
                return self._checked(vision.read_folder(path, vision.IMAGE_COLUMN, target)), target
            frame = self._table(path)
            base = path.resolve().parent
        if target is None or target not in frame.columns:
            return frame, target  # read_schema names the problem
        column = self._picture_column(frame, target)
        paths = frame[column].map(
            lambda v: str(base / v) if base is not None and isinstance(v, str) else v
        )
        reasons = _reasons(paths)
        bad = [
            (f"{p} {r}" if r else f"row {i} has no picture path")
            for i, (p, r) in enumerate(zip(paths, reasons, strict=True))
            if r is not None
        ]
        frame = frame.assign(**{column: paths})[[r is None for r in reasons]]
        frame = frame.reset_index(drop=True)
        notes = [f"Read {len(frame)} pictures named in the column '{column}'."]
        if bad:
            notes.append(vision.skip_note(bad, "pictures"))
        frame.attrs["notes"] = notes
        return self._checked(frame), target

    def _table(self, path: Path) -> pd.DataFrame:
        from learnloop.data import load_table

        if path.suffix.lower() in vision.PICTURE_SUFFIXES:
            raise UsageError(
                f"'{path}' is one picture; train on a folder with one sub-folder per "
                f"{'person' if self.name == 'faces' else 'class'}, or a table of picture paths."
            )
        return load_table(path)

    def _checked(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Where more is to be checked of each picture (faces: exactly one face)."""
        return frame

    def _picture_column(self, frame: pd.DataFrame, target: str) -> str:
        columns = [
            c
            for c in frame.columns
            if c != target and frame[c].dropna().map(_is_picture_path).mean() > 0.5
        ]
        if not columns:
            raise DataError(
                "No column of the table holds picture paths (names ending in "
                f"{', '.join(vision.PICTURE_SUFFIXES[:4])}, ...)."
            )
        return str(columns[0])

    def read_schema(self, frame: pd.DataFrame, target: str | None, labels: str | None) -> Schema:
        self.check_options(target, labels)
        assert target is not None
        check_column(frame, target, "target")
        column = self._picture_column(frame, target)
        y = frame[target]
        if y.notna().sum() == 0:
            raise DataError(f"The target column '{target}' has no values.")
        classes = class_values(y)
        what = "person" if self.name == "faces" else "class"
        if len(classes) < 2:
            raise DataError(
                f"Only one {what} ({classes[0]!r}) has pictures; {self.name} needs at least two "
                f"(one sub-folder per {what})."
            )
        counts = y.value_counts()
        if counts.min() < 2:
            raise DataError(
                f"The {what} {counts.idxmin()!r} has only one picture; each {what} needs at "
                "least two (better ten or more)."
            )
        dropped = {
            c: "not used by a picture task" for c in frame.columns if c not in (target, column)
        }
        features = [ColumnSpec(column, "categorical", "object")]
        return Schema(target, self.name, features, dropped, classes)

    def read_inputs(self, data: Any, schema: Schema) -> pd.DataFrame:
        """Pictures to predict: a folder (searched through), one picture, or a table of paths."""
        column = schema.feature_names[0]
        path = Path(data)
        if not path.exists():
            raise DataError(f"The data path '{path}' does not exist.")
        if path.is_dir():
            kept, notes = vision.list_pictures(path)
            if not kept:
                raise DataError(f"The folder '{path}' holds no picture that can be read.")
            frame = pd.DataFrame({column: [str(p.resolve()) for p in kept]})
            frame.attrs["notes"] = [vision.skip_note(notes)] if notes else []
            return frame
        if path.suffix.lower() in _TABLE_SUFFIXES:
            return self._input_table(path, column)
        reason = vision.check_picture(path)
        if reason is not None:
            raise DataError(f"The file '{path}' {reason}; give pictures or a folder of them.")
        return pd.DataFrame({column: [str(path.resolve())]})

    def _input_table(self, path: Path, column: str) -> pd.DataFrame:
        from learnloop.data import load_table

        frame = load_table(path)
        check_column(frame, column, "picture")
        base = path.resolve().parent
        frame[column] = frame[column].map(lambda v: str(base / str(v)))
        for i, (p, reason) in enumerate(zip(frame[column], _reasons(frame[column]), strict=True)):
            if reason is not None:
                raise DataError(f"Row {i} names the picture '{p}', which {reason}.")
        return frame

    # --------------------------------------------------------------- features
    def build_features(self, kind: str, X: pd.DataFrame) -> Any:
        from learnloop.estimators import ImageFeatures

        column = str(X.columns[0])
        if kind == "hog":
            return Pipeline(
                [("pictures", ImageFeatures(column, "hog", 64)), ("scale", StandardScaler())]
            )
        if kind == "pixels_pca":
            n = max(1, min(60, len(X) - 1))
            return Pipeline(
                [
                    ("pictures", ImageFeatures(column, "pixels", 32)),
                    ("pca", PCA(n_components=n, whiten=True, random_state=0)),
                ]
            )
        return super().build_features(kind, X)

    # --------------------------------------------------------------- decisions
    def answer(self, pipeline: Any, X: pd.DataFrame, schema: Schema) -> Answer:
        base = super().answer(pipeline, X, schema)
        column = schema.feature_names[0]
        return PictureAnswer(
            base.predictions, base.classes, base.probabilities, {"image": X[column].tolist()}
        )

    def answer_frame(self, answer: Answer, index: pd.Index) -> pd.DataFrame:
        out = super().answer_frame(answer, index)
        extra = getattr(answer, "columns", {})
        for i, (name, values) in enumerate(extra.items()):
            out.insert(1 + i, name, values)
        return out


class Faces(Image):
    """Who is who: faces found, aligned and embedded (YuNet + SFace), then classified; a
    face farther than the learned distance from everyone on file is "unknown"."""

    name = "faces"
    feature_kinds: ClassVar[tuple[str, ...]] = ("sface",)
    portfolio_order = (("knn_sface", 0), ("linear_sface", 0))  # type: ignore[assignment]
    # the unknown-person distance is learned on validation faces the model must not have seen
    refits_on_validation = False

    def claims_source(self, data: Any, options: dict[str, Any] | None) -> bool:
        return False  # a folder of pictures is the image task unless --task says faces

    def _checked(self, frame: pd.DataFrame) -> pd.DataFrame:
        column = next(c for c in frame.columns if frame[c].map(_is_picture_path).all())
        counts = [len(vision.picture_faces(p)) for p in frame[column]]
        bad = [
            f"{Path(p).parent.name}/{Path(p).name} has {'no face' if n == 0 else f'{n} faces'}"
            for p, n in zip(frame[column], counts, strict=True)
            if n != 1
        ]
        notes = list(frame.attrs.get("notes", []))
        kept = frame[[n == 1 for n in counts]].reset_index(drop=True)
        if bad:
            notes.append(vision.skip_note(bad, "pictures without exactly one face"))
        if kept.empty:
            raise DataError(_no_single_face(list(frame[column]), counts))
        kept.attrs["notes"] = notes
        return kept

    def read_inputs(self, data: Any, schema: Schema) -> pd.DataFrame:
        if Path(data).suffix.lower() in _TABLE_SUFFIXES:
            raise UsageError(
                f"A faces model names the people in pictures; '{data}' is a table. "
                "Give a folder of pictures or picture files."
            )
        return super().read_inputs(data, schema)

    def build_features(self, kind: str, X: pd.DataFrame) -> Any:
        from learnloop.estimators import FaceEmbedding

        if kind == "sface":
            return FaceEmbedding(str(X.columns[0]))
        return super().build_features(kind, X)

    def finish_model(self, pipeline: Any, train: Part, validation: Part) -> tuple[Any, dict]:
        """Wrap the classifier with the faces on file and the unknown-person threshold."""
        from learnloop.estimators import FaceEmbedding, OpenSetIdentifier

        features, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        if not isinstance(features, FaceEmbedding):
            return pipeline, {}  # the trivial model: no faces to compare with
        assert train.y is not None and validation.y is not None
        gallery, val = features.transform(train.X), features.transform(validation.X)
        threshold, facts = unknown_threshold(gallery, train.y, val, validation.y)
        wrapped = OpenSetIdentifier(model, threshold).set_gallery(
            model, gallery, train.y, threshold
        )
        return Pipeline([("features", features), ("model", wrapped)]), facts

    def answer(self, pipeline: Any, X: pd.DataFrame, schema: Schema) -> Answer:
        from learnloop.estimators import OpenSetIdentifier

        base = super().answer(pipeline, X, schema)
        assert isinstance(base, PictureAnswer)
        column = schema.feature_names[0]
        found = [vision.picture_faces(p) for p in X[column]]
        predictions = list(base.predictions)
        model = pipeline.steps[-1][1]
        distance: list[float | None] = [None] * len(X)
        if isinstance(model, OpenSetIdentifier):
            emb = pipeline.steps[0][1].transform(X)
            codes = np.asarray([schema.classes.index(p) for p in predictions])
            d = model.distances(emb, codes)
            distance = [round(float(v), 4) for v in d]
            predictions = [
                UNKNOWN if v > model.threshold_ else p for p, v in zip(predictions, d, strict=True)
            ]
        predictions = [p if f else None for p, f in zip(predictions, found, strict=True)]
        distance = [v if f else None for v, f in zip(distance, found, strict=True)]
        cols = dict(base.columns)
        cols["faces"] = [len(f) for f in found]
        cols["distance"] = distance
        for i, part in enumerate(("box_x", "box_y", "box_w", "box_h")):
            cols[part] = [f[0].box[i] if f else None for f in found]
        proba = base.probabilities
        if proba is not None:  # no face: no probabilities either
            proba = np.where(np.asarray([bool(f) for f in found])[:, None], proba, np.nan)
        return PictureAnswer(predictions, base.classes, proba, cols)

    def answer_frame(self, answer: Answer, index: pd.Index) -> pd.DataFrame:
        out = super().answer_frame(answer, index)
        for part in ("faces", "box_x", "box_y", "box_w", "box_h"):
            if part in out:
                out[part] = out[part].astype("Int64")
        return out

    def identify(self, pipeline: Any, schema: Schema, faces: list[vision.Face]) -> list[dict]:
        """Name faces found in a frame: person (or "unknown") and distance, per face."""
        model = pipeline.steps[-1][1]
        if not faces:
            return []
        emb = np.vstack([f.embedding for f in faces]).astype(np.float64)
        codes = np.argmax(model.predict_proba(emb), axis=1)
        d = model.distances(emb, codes)
        out = []
        for f, c, v in zip(faces, codes, d, strict=True):
            person = schema.classes[int(c)] if v <= model.threshold_ else UNKNOWN
            out.append({"box": list(f.box), "person": person, "distance": round(float(v), 4)})
        return out


def _reasons(paths: pd.Series) -> list[str | None]:
    """Each row's reason to leave its picture out ("" for no path, None to keep it).

    A path that must not be read at all (a named pipe, a device, a folder, more bytes or
    pixels than a picture may have) is not left out quietly: DataError names its row.
    """
    out: list[str | None] = []
    for i, p in enumerate(paths):
        try:
            out.append(vision.check_picture(p) if isinstance(p, str) else "")
        except vision.PictureError as e:
            raise DataError(f"Row {i} names the picture '{p}', which {e.reason}.") from None
    return out


def _no_single_face(paths: list[str], counts: list[int]) -> str:
    """Why no picture can be learned from: which have several faces, which none."""

    def few(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    name = [f"{Path(p).parent.name}/{Path(p).name}" for p in paths]
    several = [n for n, c in zip(name, counts, strict=True) if c > 1]
    none = [n for n, c in zip(name, counts, strict=True) if c == 0]
    parts = [f"{len(several)} show several faces ({few(several)})"] if several else []
    parts += [f"{len(none)} show no face that can be found ({few(none)})"] if none else []
    return (
        f"No picture has exactly one face: {' and '.join(parts)}; each picture of a person "
        "must show that person alone."
    )


def unknown_threshold(
    gallery: np.ndarray, people: np.ndarray, val: np.ndarray, val_people: np.ndarray
) -> tuple[float, dict[str, Any]]:
    """The distance past which a face is nobody on file, and what it gives on validation."""
    d = 1.0 - val @ gallery.T
    same = people[None, :] == val_people[:, None]
    genuine = np.where(same, d, np.inf).min(axis=1)
    impostor = np.where(~same, d, np.inf).min(axis=1)
    impostor = impostor[np.isfinite(impostor)]
    if len(impostor) >= 1 / FALSE_ACCEPT:
        k = int(np.floor(FALSE_ACCEPT * len(impostor)))
        threshold = float(np.sort(impostor)[k]) - 1e-9
        rule = f"validation distance with at most {FALSE_ACCEPT:.0%} false accepts"
    else:
        threshold = min(float(impostor.min()) - 1e-9, vision.SFACE_DISTANCE)
        rule = "smallest validation distance to another person, capped at SFace's published"
    facts = {
        "unknown_threshold": round(threshold, 4),
        "threshold_rule": rule,
        "validation_faces": int(len(val)),
        "validation_false_accept_rate": float(np.mean(impostor <= threshold)),
        "validation_false_reject_rate": float(np.mean(genuine > threshold)),
    }
    return threshold, facts


def _refuse_a_folder_of_tables(path: Path) -> None:
    """DataError when a folder given as the data holds table files and no sub-folder: a
    folder is read as pictures, so say what it holds and what to give instead."""
    entries = [e for e in path.iterdir() if not e.name.startswith(".")]
    if any(e.is_dir() for e in entries):
        return
    tables = sorted(e.name for e in entries if e.suffix.lower() in TABLE_SUFFIXES)
    if tables:
        shown = ", ".join(tables[:3]) + (f" and {len(tables) - 3} more" if len(tables) > 3 else "")
        raise DataError(
            f"The folder '{path}' holds {'a table' if len(tables) == 1 else 'tables'} "
            f"({shown}), not pictures in class sub-folders, which is what a folder is read "
            f"as; give the table file itself, e.g. '{path / tables[0]}'."
        )
