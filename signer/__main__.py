"""`python -m signer`: the same as the `blockhook-signer` console script."""

from signer.cli import main

if __name__ == "__main__":
    main()
