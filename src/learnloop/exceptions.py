"""Every exception and warning learnloop raises.

Exception tree::

    LearnloopError
     +-- UsageError(LearnloopError, ValueError)      bad option or argument (CLI exit 2)
     |    +-- DataError                               unreadable, empty or unsuitable data
     |    +-- SchemaMismatchError                     prediction data does not match the model
     |    +-- UntrustedModelError                     model file untrusted, changed or too big
     |    +-- StoreError                              unusable store URL or unknown run
     |    |    +-- StoreFull                          the store's disk is full
     |    +-- ClusterUnreachable                      --cluster names no usable Dask scheduler
     |    +-- MissingExtraError(UsageError, ImportError)  an optional extra is not installed
     +-- ClusterError                                 the Dask scheduler went away mid-run (exit 1)
     +-- StoreUnavailable                             the store stayed away past its retries (1)
     +-- NotFittedError(LearnloopError, AttributeError)

Warnings: ``LearnloopWarning`` and its subclasses ``VersionMismatchWarning``,
``ModelFileWarning`` and ``TruncatedVideoWarning``.
"""

from __future__ import annotations


class LearnloopError(Exception):
    """Base class of every learnloop error."""


class UsageError(LearnloopError, ValueError):
    """An option or argument is invalid; the message names it and says what is allowed."""


class DataError(UsageError):
    """The data cannot be read or cannot be learned from."""


class SchemaMismatchError(DataError):
    """Prediction data does not match the schema the model was trained on."""


class UntrustedModelError(UsageError):
    """A model file is corrupt, tampered with, or asks to load types outside the trusted list."""


class StoreError(UsageError):
    """The experiment store cannot be opened or does not hold the requested run."""


class StoreFull(StoreError):
    """The experiment store's disk is full: nothing more can be recorded until space is freed."""


class ClusterUnreachable(UsageError):
    """The Dask scheduler named by ``--cluster`` cannot be reached or has no usable worker."""


class MissingExtraError(UsageError, ImportError):
    """A feature needs an optional extra of learnloop that is not installed; the message
    names the extra and the ``pip install`` line (CLI exit 2). An ImportError too, so code
    that guards an optional import with ``except ImportError`` keeps working."""


class ClusterError(LearnloopError):
    """The Dask cluster a run was using went away; the run can be resumed with ``--resume``."""


class StoreUnavailable(LearnloopError):
    """The experiment store stopped answering and did not come back within the retry window;
    a run it interrupted can be resumed with ``--resume`` once it is back."""


class NotFittedError(LearnloopError, AttributeError):
    """A model was used before it was fitted."""


class LearnloopWarning(UserWarning):
    """Base class of learnloop's warnings, so users can filter them."""


class VersionMismatchWarning(LearnloopWarning):
    """A model file was written by different library versions than the ones loading it."""


class TruncatedVideoWarning(LearnloopWarning):
    """A video ended before the number of frames its container declares."""


class ModelFileWarning(LearnloopWarning):
    """A model file was saved that loading would refuse as it stands (too big for the
    default limits, or holding a type off the trusted list: a learnloop bug)."""
