"""Output: every table, line and JSON line the CLI prints, one module per noun.

- ``jsondata``: ``echo_json``, the one printer of ``--format json`` for every command.
- The other modules print for people: tables, lines, Markdown and progress.
- Nothing here computes a result or its JSON form: result types own ``as_dict()``.
"""

__all__: list[str] = []
