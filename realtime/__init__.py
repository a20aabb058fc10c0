"""Live boards: the broker (in-process or Redis pub/sub) and the replay-then-live event feeds."""
