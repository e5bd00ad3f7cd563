"""`python -m service.cli`: the `buying-groups` command."""

from service.cli.main import main

main()
