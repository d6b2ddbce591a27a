"""Alerting: rules evaluated in the background, alerts with their states, notifications."""
