"""Faust agents, timers and the HTTP API: they read streams, call streams/ logic, send."""
