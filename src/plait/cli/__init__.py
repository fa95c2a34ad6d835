"""What the user sees: the plait command, live progress, the run document."""
