"""Output: every table, line and JSON document the CLI prints, one module per noun."""

__all__: list[str] = []
