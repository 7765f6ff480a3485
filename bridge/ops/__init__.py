"""What operators see and run: dashboard, metrics exposition, CLI verbs, demo, local Redis."""
