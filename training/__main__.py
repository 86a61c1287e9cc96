"""``python -m training`` runs the training command line."""

from training.cli import main

main(prog_name="python -m training")
