"""Exports in the background: the snapshot reader and line writer (snapshot), and the loop
that claims, runs, finishes and sweeps them (runner)."""
