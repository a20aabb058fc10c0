"""Stage automations: the stage-entry hook (and, later, one module per action and the runner)."""
