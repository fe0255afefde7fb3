"""The ground floor: errors, settings, time and JSON helpers, metrics; imports nothing of the
project, so every other package may build on it."""

__version__ = "0.1.0"
