"""Dev tooling: the embedded stack, the demo, local chain tools and test contracts."""
