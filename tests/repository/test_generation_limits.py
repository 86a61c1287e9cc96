"""Numbers that do not fit config.pbtxt's fields are refused with the limit, not a crash."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import ConfigError
from orchestrator.repository.generate import INT32_MAX, UINT64_MAX, GenerationOptions


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("max_batch_size", INT32_MAX + 1, INT32_MAX),
        ("instance_count", 10**23, INT32_MAX),
        ("max_queue_delay_microseconds", UINT64_MAX + 1, UINT64_MAX),
        ("preferred_batch_sizes", (4, INT32_MAX + 1), INT32_MAX),
    ],
)
def test_a_number_past_the_field_width_is_a_config_error(
    field: str, value: Any, limit: int
) -> None:
    with pytest.raises(ConfigError, match=f"does not fit config.pbtxt \\(at most {limit}\\)"):
        GenerationOptions(**{field: value})


def test_the_widest_numbers_still_fit() -> None:
    options = GenerationOptions(
        max_batch_size=INT32_MAX, instance_count=INT32_MAX, max_queue_delay_microseconds=UINT64_MAX
    )
    assert options.max_batch_size == INT32_MAX
