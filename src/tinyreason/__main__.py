"""`python -m tinyreason ...` is the `tinyreason` command (also what `accelerate launch -m tinyreason` runs)."""

from tinyreason.cli import app

app()
