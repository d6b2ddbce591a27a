"""Decoders for the telemetry ingest protocols: request bodies in, row batches out."""
