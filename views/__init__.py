"""Read models: topics folded into memory so any worker answers any read."""
