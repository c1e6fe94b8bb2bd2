"""`python -m tinyreason.cli ...`"""

from tinyreason.cli import app

app()
