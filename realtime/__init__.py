"""Live boards: the broker (in-process or Redis pub/sub) and the replay-then-live event feeds;
and the background loop that the automation runner and the webhook sender share."""
