"""Metrics: PromQL over the samples in the telemetry store, the Prometheus HTTP API, dashboards."""
