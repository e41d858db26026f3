"""``python -m learnloop`` runs the command line."""

from learnloop.cli import main

main()
