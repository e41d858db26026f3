"""What a running app holds: the live model, its row validator and the limits on work.

One :class:`Serving` per app. The model a request answers with is one value, :class:`Live`
(the model, its validator, its version), replaced in one assignment when the server swaps
models (:mod:`learnloop.serving.swap`). A request pins the live value at its start
(:meth:`Serving.pin`, done by the swap middleware), so every read of ``model`` and
``validator`` during it sees the same model: in-flight requests finish on the model they
started with. ``model is None`` until the lifespan installs the first one (routers answer 503).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from learnloop.serving.body import BodyLimits
from learnloop.serving.rows import RowValidator
from learnloop.store.model_files import LoadedModel

__all__ = ["Live", "Serving"]


@dataclass(frozen=True)
class Live:
    """A model ready to answer: loaded, checked, its validator built, its version named."""

    model: LoadedModel
    validator: RowValidator
    version: str  # "NAME/N" for a registered version, "FILE@DIGEST12" for a plain file
    digest: str = ""  # SHA-256 of its file
    compiled: Any = None  # serving.compiled.CompiledModel, where the model compiles


class Serving:
    """The live model and what every request is bounded by."""

    def __init__(
        self, max_rows: int, body: BodyLimits | None = None, model: LoadedModel | None = None
    ) -> None:
        self.max_rows = max_rows
        self.body = body if body is not None else BodyLimits()
        self.limiter: Any = (
            None  # anyio.CapacityLimiter: predictions run in at most this many threads
        )
        self.uploads: Any = None  # anyio.Semaphore: picture uploads held in memory at once
        self.recorder: Any = None  # serving.recording.Recorder where predictions are recorded
        self.retrainer: Any = None  # serving.autoretrain.Retrainer of serve --retrain
        self.shadow: Any = None  # serving.shadow.Shadow: the challenger of serve --shadow
        self.figures: tuple[float, dict[str, Any]] | None = None  # the monitor's last, timed
        self.preloaded = model  # loaded before the app started; installed by the lifespan
        self._live: Live | None = None
        self._pinned: ContextVar[Live | None] = ContextVar("learnloop_pinned", default=None)

    @property
    def current(self) -> Live | None:
        """The model new requests get (not the one this request pinned)."""
        return self._live

    @property
    def live(self) -> Live | None:
        """The model this request answers with: the one it pinned, else the current one."""
        return self._pinned.get() or self._live

    def install(self, live: Live) -> Live | None:
        """Make ``live`` the model new requests get (one assignment); the one it replaces."""
        previous, self._live = self._live, live
        return previous

    def pin(self) -> tuple[Live | None, Token[Live | None]]:
        """Pin the current model for the rest of this request (its context)."""
        live = self._live
        return live, self._pinned.set(live)

    def unpin(self, token: Token[Live | None]) -> None:
        self._pinned.reset(token)

    @property
    def model(self) -> LoadedModel | None:
        live = self.live
        return live.model if live is not None else self.preloaded

    @property
    def validator(self) -> RowValidator | None:
        live = self.live
        return live.validator if live is not None else None

    @property
    def compiled(self) -> Any:
        """The live model's compiled prediction path (serving.compiled.CompiledModel), if any."""
        live = self.live
        return live.compiled if live is not None else None

    @property
    def ready(self) -> bool:
        return self.live is not None

    @property
    def takes_pictures(self) -> bool:
        """Whether /predict takes uploaded pictures (image, faces) instead of JSON rows."""
        return bool(getattr(getattr(self.model, "task_kind", None), "takes_pictures", False))

    @property
    def recommends(self) -> bool:
        """Whether the model answers /recommend, /similar and /audience."""
        from learnloop.tasks.recommendation import Recommendation

        return isinstance(getattr(self.model, "task_kind", None), Recommendation)
