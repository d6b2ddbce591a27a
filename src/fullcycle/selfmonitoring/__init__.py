"""fullcycle watching itself: JSON logs, Prometheus metrics and health checks."""
