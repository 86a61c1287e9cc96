"""The ``#`` comment block at the top of a config.pbtxt, kept or dropped when publish rewrites it.

* ``orchestrator tune --write`` writes the measurement behind a config's batching there
  (``performance.trials.measurement_comment``); ``publish --update-config`` parses the
  config into Triton's ``ModelConfig`` and renders it again, which would lose it.
* ``leading_comment`` takes the block back out of the config text, which comes from the
  repository and is untrusted: at most ``COMMENT_MAX_LINES`` lines of at most
  ``COMMENT_LINE_MAX_CHARS`` characters, ``COMMENT_MAX_CHARS`` in all, with control
  characters (ANSI escapes, BEL, carriage returns, bidi overrides) removed; a longer block is
  cut, and a last line says so.
* ``batching_changed`` says whether the rewrite changed ``dynamic_batching``: then the
  measurement no longer describes the config and publish drops the comment.
"""

from __future__ import annotations

import re

from orchestrator.core.model_config import ModelConfig

__all__ = [
    "COMMENT_LINE_MAX_CHARS",
    "COMMENT_MAX_CHARS",
    "COMMENT_MAX_LINES",
    "batching_changed",
    "leading_comment",
]

# measurement_comment writes 3 lines plus one per compared config (a handful): room to spare.
COMMENT_MAX_LINES = 64
COMMENT_LINE_MAX_CHARS = 300
COMMENT_MAX_CHARS = 8 << 10
# C0 and C1 controls (tab, CR and ESC included), DEL, zero-width and bidi marks, the Unicode
# line and paragraph separators, and the BOM: nothing that moves a terminal's cursor,
# reorders text, or starts a new line in a config.pbtxt.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def leading_comment(text: str) -> str:
    r"""The block of ``#`` lines that ``text`` starts with, bounded and cleaned, or "".

    The block ends at the first line that is not a comment. Each kept line ends in a
    newline, so the result goes above a rendered config as it is.

    Example:
        >>> leading_comment("# tuned\x1b[31m\r\n# p99 <= 20 ms\nname: \"m\"\n")
        '# tuned[31m\n# p99 <= 20 ms\n'
    """
    # maxsplit bounds the work on a huge file: only the lines that can be kept are split off.
    lines = text.split("\n", COMMENT_MAX_LINES + 1)[: COMMENT_MAX_LINES + 1]
    block = []
    for line in lines:
        if not line.lstrip(" \t").startswith("#"):
            break
        block.append(line)
    kept: list[str] = []
    size = 0
    for number, line in enumerate(block):
        raw = line[: 4 * COMMENT_LINE_MAX_CHARS]  # a longer line is cut whatever it holds
        cleaned = _CONTROL.sub("", raw.replace("\t", " ")).strip()
        if number == COMMENT_MAX_LINES or len(cleaned) > COMMENT_LINE_MAX_CHARS:
            break
        if size + len(cleaned) + 1 > COMMENT_MAX_CHARS:
            break
        kept.append(cleaned)
        size += len(cleaned) + 1
    else:
        return "".join(f"{line}\n" for line in kept)
    kept.append(
        f"# (cut by orchestrator publish: {len(kept)} lines kept; a config's leading comment "
        f"keeps at most {COMMENT_MAX_LINES} lines of {COMMENT_LINE_MAX_CHARS} characters)"
    )
    return "".join(f"{line}\n" for line in kept)


def batching_changed(existing: ModelConfig, updated: ModelConfig) -> bool:
    """Whether ``updated`` has another ``dynamic_batching`` block than ``existing`` (or none).

    Example:
        >>> batching_changed(ModelConfig(max_batch_size=8), ModelConfig(max_batch_size=16))
        False
    """
    if existing.HasField("dynamic_batching") != updated.HasField("dynamic_batching"):
        return True
    return bool(existing.dynamic_batching != updated.dynamic_batching)
