"""python -m blockhook."""

from blockhook.cli import main

main()
