"""Text blocks (e.g. the fault-injection summary) printed at the end of the pytest run."""

SUMMARIES: list[str] = []
