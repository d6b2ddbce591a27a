"""The telemetry store: logs, metric samples, spans and markers in ClickHouse (embedded chDB or a
server/cluster), written through a durable write-ahead log."""
