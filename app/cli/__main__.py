"""`python -m app.cli`: the same as the `custid` command."""

from app.cli import main

main()
