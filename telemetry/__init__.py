"""What the engine tells its operators: structured JSON log lines (traces and metrics to come)."""
