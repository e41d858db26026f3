"""What a running app holds: the loaded model, its row validator and the limits on work.

One :class:`Serving` per app, filled by the app's lifespan when the model has loaded; the
routers read it (``model is None`` until then, so they answer 503).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learnloop.serving.body import BodyLimits
from learnloop.serving.rows import RowValidator
from learnloop.store.model_files import LoadedModel

__all__ = ["Serving"]


@dataclass
class Serving:
    """The loaded model and what every request is bounded by."""

    max_rows: int
    body: BodyLimits = field(default_factory=BodyLimits)
    model: LoadedModel | None = None
    validator: RowValidator | None = None
    compiled: Any = None  # serving.compiled.CompiledModel, where the model compiles
    limiter: Any = None  # anyio.CapacityLimiter: predictions run in at most this many threads
    uploads: Any = None  # anyio.Semaphore: picture uploads held in memory at once
    recorder: Any = None  # serving.recording.Recorder where predictions are recorded

    @property
    def ready(self) -> bool:
        return self.model is not None and self.validator is not None

    @property
    def takes_pictures(self) -> bool:
        """Whether /predict takes uploaded pictures (image, faces) instead of JSON rows."""
        return bool(getattr(getattr(self.model, "task_kind", None), "takes_pictures", False))

    @property
    def recommends(self) -> bool:
        """Whether the model answers /recommend, /similar and /audience."""
        from learnloop.tasks.recommendation import Recommendation

        return isinstance(getattr(self.model, "task_kind", None), Recommendation)
