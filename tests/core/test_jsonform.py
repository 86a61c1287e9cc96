from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from types import MappingProxyType

from orchestrator.core.jsonform import plain


@dataclass(frozen=True)
class _Pod:
    name: str
    waiting: tuple[str, ...] = ()
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)


def test_plain_turns_asdicts_tuples_into_lists_and_keeps_the_json_text() -> None:
    body = {
        "pods": (asdict(_Pod("a", ("CrashLoopBackOff",), {"k": ("v",)})),),
        "drift": ("x",),
        "n": 1,
    }
    assert plain(body) == {
        "pods": [{"name": "a", "waiting": ["CrashLoopBackOff"], "labels": {"k": ["v"]}}],
        "drift": ["x"],
        "n": 1,
    }
    assert json.dumps(plain(body)) == json.dumps(body, default=dict)
    assert json.loads(json.dumps(plain(body))) == plain(body)


def test_plain_makes_a_read_only_mapping_a_dict() -> None:
    view = MappingProxyType({"1": ("a", "b")})
    assert plain(view) == {"1": ["a", "b"]}
    assert type(plain(view)) is dict
