"""Golden files are read by one rule: every .npy header checked before any allocation.

The core reader (``core.npz``, used by publish, validate, smoke, swap, infer and bench)
and the startup probe's stdlib twin (``serving/golden_probe/``) share their limits and
must accept and refuse the same files: a table of hostile archives, and a property test
over generated headers. The CLI case runs under a 4 GB address-space limit.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core import golden, npz, untrusted
from orchestrator.errors import ConfigError
from orchestrator.serving import golden_probe
from orchestrator.serving.golden_probe import check
from orchestrator.serving.golden_probe import npz as probe_npz
from orchestrator.serving.golden_probe.tensor import Numbers
from tests.support.onnx_models import make_affine_onnx

pytestmark = pytest.mark.timeout(120)


def npy(header: dict[str, Any] | str, data: bytes, version: int = 1) -> bytes:
    """An .npy member with the header given as is (not what numpy would write)."""
    text = (header if isinstance(header, str) else repr(header)).encode("latin-1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + data


def archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


def golden_with(array_member: bytes) -> bytes:
    ok = io.BytesIO()
    np.save(ok, np.ones((2, 4), np.float32))
    return archive({"inputs/x.npy": array_member, "outputs/y.npy": ok.getvalue()})


def header(shape: Any, descr: Any = "<f4", fortran: Any = False) -> dict[str, Any]:
    return {"descr": descr, "fortran_order": fortran, "shape": shape}


BILLIONS = (50_000, 50_000)  # 2.5e9 elements: 10 GB of float32 if numpy allocated them

HOSTILE = [
    ("billions", npy(header(BILLIONS), b"\0" * 64), "declares"),
    ("over-elements", npy(header((4_000_001,), "|u1"), b"\0" * 4_000_001), "elements"),
    ("short-data", npy(header((8,)), b"\0" * 16), "declares"),
    ("long-data", npy(header((2,)), b"\0" * 64), "declares"),
    ("object", npy(header((2,), "|O"), b"\0" * 16), "pickle, which is refused"),
    ("unicode", npy(header((2,), "<U3"), b"\0" * 24), "pickle, which is refused"),
    ("complex", npy(header((2,), "<c8"), b"\0" * 16), "pickle, which is refused"),
    ("odd-size", npy(header((2,), "<f3"), b"\0" * 6), "pickle, which is refused"),
    ("negative", npy(header((-1, 4)), b""), "not a tuple of sizes"),
    ("bool-dim", npy(header((True, 4)), b"\0" * 16), "not a tuple of sizes"),
    ("huge-dim", npy(header((2**60,)), b""), "not a tuple of sizes"),
    ("list-shape", npy(header([2]), b"\0" * 8), "not a tuple of sizes"),
    ("fortran-str", npy(header((2,), "<f4", "yes"), b"\0" * 8), "not a bool"),
    ("extra-key", npy({**header((2,)), "x": 1}, b"\0" * 8), "not {descr"),
    ("not-a-dict", npy("[1, 2]", b""), "not {descr"),
    ("call", npy("__import__('os').system('true')", b""), "unreadable .npy header"),
    ("nested", npy("(" * 2000 + ")" * 2000, b""), "header"),
    ("long-header", npy("{" + " " * 5000 + "}", b"", version=2), "header"),
    ("bad-magic", b"NUMPY" + b"\0" * 64, "bad magic"),
    ("bad-version", b"\x93NUMPY\x09\x00" + b"\0" * 64, "format version 9"),
]


@pytest.mark.parametrize(
    ("member", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_core_and_probe_refuse_each_hostile_array_before_allocating_it(
    tmp_path: Path, member: bytes, expected: str
) -> None:
    raw = golden_with(member)
    with pytest.raises(ConfigError, match=expected):
        golden.parse_golden(raw, "golden.npz")
    path = tmp_path / "golden.npz"
    path.write_bytes(raw)
    with pytest.raises(golden_probe.ProbeError, match=expected):
        golden_probe.read_npz(path)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({f"m{i}.npy": b"" for i in range(257)}, "257 members"),
        ({"run.py": b"print()"}, "not an .npy array"),
    ],
    ids=["members", "not-npy"],
)
def test_the_archive_itself_is_checked_too(
    tmp_path: Path, members: dict[str, bytes], expected: str
) -> None:
    raw = archive(members)
    with pytest.raises(ConfigError, match=expected):
        golden.parse_golden(raw, "golden.npz")
    (tmp_path / "g.npz").write_bytes(raw)
    with pytest.raises(golden_probe.ProbeError, match=expected):
        golden_probe.read_npz(tmp_path / "g.npz")


def test_the_probe_and_core_share_one_set_of_limits() -> None:
    assert probe_npz.MAX_GOLDEN_BYTES == untrusted.GOLDEN_MAX_BYTES
    assert probe_npz.MAX_ELEMENTS == untrusted.GOLDEN_MAX_ELEMENTS
    assert probe_npz.MAX_MEMBERS == npz.MAX_MEMBERS
    assert probe_npz.MAX_NPY_HEADER == npz.MAX_NPY_HEADER
    assert (check.MAX_RTOL, check.MAX_ATOL) == (golden.MAX_RTOL, golden.MAX_ATOL)


def test_golden_data_over_the_byte_limit_is_refused_by_both(tmp_path: Path) -> None:
    count = untrusted.GOLDEN_MAX_BYTES // 8 + 1
    raw = golden_with(npy(header((count,), "<f8"), b""))  # declared only: never allocated
    with pytest.raises(ConfigError, match="declares|over"):
        golden.parse_golden(raw, "golden.npz")


DESCRS = ["<f4", ">f8", "|b1", "<i8", "|u1", "<f2", "|S3", "<u2", "|O", "<c8", "<U2", 7, None]
DIMS = st.one_of(st.integers(-2, 5), st.sampled_from([True, 2**50, 10**7]))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(DIMS, max_size=4).map(tuple),
    descr=st.sampled_from(DESCRS),
    fortran=st.sampled_from([False, True, 0, "no"]),
    slack=st.sampled_from([0, 0, 0, -1, 1, 8]),
)
def test_core_and_probe_agree_on_every_generated_header(
    tmp_path: Path, shape: tuple[Any, ...], descr: Any, fortran: Any, slack: int
) -> None:
    try:
        size = int(str(descr)[2:]) * int(np.prod([d for d in shape if isinstance(d, int)]))
    except ValueError:
        size = 8
    size = max(0, min(size, 4096) + slack)
    raw = golden_with(npy(header(shape, descr, fortran), b"\x01" * size))
    path = tmp_path / "golden.npz"
    path.write_bytes(raw)
    try:
        golden.parse_golden(raw, "golden.npz")
        core_ok = True
    except ConfigError:
        core_ok = False
    try:
        golden_probe.read_npz(path)
        probe_ok = True
    except golden_probe.ProbeError:
        probe_ok = False
    assert core_ok == probe_ok, (shape, descr, fortran, slack)


@pytest.mark.parametrize(
    "array",
    [
        np.asfortranarray(np.arange(60, dtype=np.float32).reshape(3, 4, 5)),
        np.asfortranarray(np.arange(6, dtype=np.int64).reshape(6, 1)),
        np.asfortranarray(np.arange(24, dtype=">f8").reshape(2, 3, 4)),
        np.asfortranarray(np.array([[b"ab", b"c"], [b"", b"def"]])),
        np.asfortranarray(np.arange(12, dtype=np.uint8).reshape(1, 12)),
    ],
    ids=["3d", "column", "big-endian", "bytes", "row"],
)
def test_fortran_order_is_reordered_exactly(tmp_path: Path, array: Any) -> None:
    path = tmp_path / "golden.npz"
    np.savez(path, x=array)
    (tensor,) = golden_probe.read_npz(path).values()
    if array.dtype.kind == "S":
        assert list(tensor.values) == array.ravel().tolist()
    else:
        assert list(tensor.values) == np.ascontiguousarray(array).ravel().tolist()


def test_the_probe_keeps_numbers_as_bytes_not_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "golden.npz"
    np.savez(path, x=np.zeros((1000, 1000), np.float32))
    (tensor,) = golden_probe.read_npz(path).values()
    assert isinstance(tensor.values, Numbers)
    assert len(tensor.values.raw) == 4_000_000


def test_the_probe_does_not_open_a_fifo_or_follow_a_link(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "golden.npz")
    with pytest.raises(golden_probe.ProbeError, match="not a regular file"):
        golden_probe.read_npz(tmp_path / "golden.npz")
    (tmp_path / "target.npz").write_bytes(b"x")
    (tmp_path / "link.npz").symlink_to(tmp_path / "target.npz")
    with pytest.raises(golden_probe.ProbeError, match="symbolic link"):
        golden_probe.read_npz(tmp_path / "link.npz")


def _limited(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a child with a 4 GB address-space limit, as the issue's done-when asks."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({4 << 30}, {4 << 30}))
        sys.argv = ["orchestrator", *{list(args)!r}]
        from orchestrator.cli import cli
        cli()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=90, cwd=cwd
    )


def test_publish_and_validate_refuse_a_1kb_golden_file_that_declares_billions(
    tmp_path: Path,
) -> None:
    assert resource.getrlimit(resource.RLIMIT_AS)  # the limit is set in the child
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    make_affine_onnx(bundle / "model.onnx")
    (bundle / "export.json").write_text(json.dumps({"model_name": "bomb"}))
    bomb = golden_with(npy(header(BILLIONS), b"\0" * 64))
    assert len(bomb) < 2048
    (bundle / "golden.npz").write_bytes(bomb)
    repo = tmp_path / "repo"
    done = _limited("publish", str(bundle), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "declares shape [50000, 50000]" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (repo / "bomb").exists()

    # The same file put in place by hand: validate reports it, as every pod would.
    (bundle / "golden.npz").write_bytes(golden_with(npy(header((2, 4)), b"\0" * 32)))
    assert _limited("publish", str(bundle), "--repo", str(repo), cwd=tmp_path).returncode == 0
    (repo / "bomb" / "1" / "golden.npz").chmod(0o644)
    (repo / "bomb" / "1" / "golden.npz").write_bytes(bomb)
    done = _limited("validate", "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "golden-unreadable" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("text", ["abc", "1e308", "-1", "nan"])
def test_validate_and_publish_refuse_a_tolerance_every_pod_would_refuse(
    tmp_path: Path, text: str
) -> None:
    from orchestrator.repository.publish import publish
    from orchestrator.repository.validation.validate import validate_repository
    from tests.support.onnx_models import make_bundle

    repo = tmp_path / "repo"
    publish(make_bundle(tmp_path / "b1"), repo)
    config = repo / "affine" / "config.pbtxt"
    config.write_text(
        config.read_text()
        + f'\nparameters {{ key: "smoke_atol" value {{ string_value: "{text}" }} }}\n'
    )
    codes = [f.code for f in validate_repository(repo) if f.is_error]
    assert codes == ["golden-tolerance"]
    with pytest.raises(ConfigError, match="smoke_atol|atol is"):
        publish(make_bundle(tmp_path / "b2", features=4), repo, new_version=True)
