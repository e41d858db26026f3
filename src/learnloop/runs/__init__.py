"""A run from start to end: ``train`` (the front door: read, split, search, certify, save),
the worker that joins another process's run, the dataset a run reads and splits, the result
and its JSON form, progress on stderr, and stopping by hand (Ctrl-C, SIGTERM).

Runs sit above the search and the store: they own the test split and decide when to look."""
