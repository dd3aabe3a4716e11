"""What the engine tells its operators: JSON log lines, OpenTelemetry traces, Prometheus metrics."""
