"""An invalid escape in a config string: Triton's parser refuses it, so does ours.

Checked with Triton 2.51: a config.pbtxt with ``string_value: "a\\hb"`` fails to load
("failed to poll from model repository"); Python's protobuf only warns about it.
"""

from __future__ import annotations

import warnings

import pytest

from orchestrator.core.model_config import parse_config
from orchestrator.errors import ConfigSyntaxError


@pytest.mark.parametrize("escape", ["\\h", "\\q", "\\8"])
def test_an_invalid_escape_is_a_syntax_error_whatever_the_warning_filters(escape: str) -> None:
    text = f'name: "m" parameters {{ key: "k" value {{ string_value: "a{escape}b" }} }}'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as a user runs it: no -W error
        with pytest.raises(ConfigSyntaxError, match="invalid escape sequence"):
            parse_config(text, "m/config.pbtxt")


@pytest.mark.parametrize(
    ("escape", "expected"), [("\\\\", "a\\b"), ("\\n", "a\nb"), ("\\x41", "aAb")]
)
def test_valid_escapes_still_parse(escape: str, expected: str) -> None:
    text = f'name: "m" parameters {{ key: "k" value {{ string_value: "a{escape}b" }} }}'
    assert parse_config(text).parameters["k"].string_value == expected
