"""Plain values every layer shares, importing nothing of learnloop's own but its exceptions.

:class:`Output` is the capability model families declare they produce and tasks declare they
need; :class:`Prediction` is a model's output on some rows, what metrics score.
"""

from __future__ import annotations

from learnloop.core.outputs import Needs, Output, Prediction

__all__ = ["Needs", "Output", "Prediction"]
