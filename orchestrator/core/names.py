r"""Model names: the one rule for the name of a model (its folder in the repository).

A name is matched in full (``re.fullmatch``: a ``$`` would also match before a final
newline, and ``"digits\n"`` would pass): 1 to 128 characters, letters, digits, ``_``,
``-`` and ``.``, starting with a letter, a digit or ``_``, and not all digits (a
number is a version folder). It is a folder name, part of a URL path and of a release
key, so nothing outside that set is accepted anywhere.
"""

from __future__ import annotations

import re

from orchestrator.errors import ConfigError

__all__ = ["MODEL_NAME_MAX_CHARS", "MODEL_NAME_RULE", "check_model_name", "is_model_name"]

MODEL_NAME_MAX_CHARS = 128
MODEL_NAME_RULE = (
    f"1 to {MODEL_NAME_MAX_CHARS} characters: letters, digits, '_', '-' or '.', starting "
    "with a letter, a digit or '_', and not all digits"
)
_MODEL_NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MODEL_NAME_MAX_CHARS - 1}}}")


def is_model_name(name: str) -> bool:
    r"""Whether ``name`` follows the model name rule, matched in full.

    Example:
        >>> [is_model_name(n) for n in ("digits_cnn", "digits\n", "", "42", ".hidden")]
        [True, False, False, False, False]
    """
    return _MODEL_NAME.fullmatch(name) is not None and not name.isdigit()


def check_model_name(name: str, where: str) -> str:
    """Return ``name`` when it is a usable model name, else raise saying the rule.

    Args:
        name: the candidate name.
        where: where it came from, for the message (``--model``, a file).

    Raises:
        ConfigError: the name breaks the rule.

    Example:
        >>> check_model_name("digits_cnn", "--model")
        'digits_cnn'
    """
    if not is_model_name(name):
        raise ConfigError(
            f"Model name {name!r} (from {where}) is not usable: expected {MODEL_NAME_RULE}. "
            "Pass --model NAME with such a name."
        )
    return name
