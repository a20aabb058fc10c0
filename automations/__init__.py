"""Stage automations: their settings and conditions (manage.py), one module per action, and the
runner that executes the runs the domain records at stage entry (workflow.stage_entry)."""
