"""The ClickHouse sink: writes versioned aggregate rows in batches, idempotently."""
