"""deployment/gates.yaml: the shipped file, overrides, and clear errors naming file and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.deploy.gate_config import DEFAULT_GATES, ModelBudget, load_gate_config
from orchestrator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_gates_file_states_the_built_in_defaults() -> None:
    config = load_gate_config(ROOT / DEFAULT_GATES)

    # The file's comments say that what it leaves out comes from these same values.
    assert config.defaults == ModelBudget()
    assert config.budget("cancer_mlp") == ModelBudget()
    assert config.budget("digits_cnn") == ModelBudget(max_server_ms=200.0)
    assert config.text == (ROOT / DEFAULT_GATES).read_text()


def test_a_model_override_keeps_the_other_keys_from_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(
        "defaults:\n  concurrency: [2]\n  p99_ms: 10\nmodels:\n  alpha:\n    p99_ms: 20.5\n"
        "  beta:\n"
    )
    config = load_gate_config(path)

    assert config.budget("alpha") == ModelBudget(concurrency=(2,), p99_ms=20.5)
    assert config.budget("beta") == ModelBudget(concurrency=(2,), p99_ms=10.0)
    assert config.budget("gamma") == config.defaults
    config.check_models(["alpha", "beta", "gamma"], "r1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults:\n  p99: 5\n", "unknown key defaults.p99. Expected one of: concurrency,"),
        ("colours: {}\n", "unknown key colours. Expected one of: defaults, models."),
        ("models:\n  a:\n    windows: 3\n", "unknown key models.a.windows."),
        (
            "defaults:\n  p99_ms: fast\n",
            "defaults.p99_ms is 'fast'; expected milliseconds above 0.",
        ),
        ("defaults:\n  p99_ms: -1\n", "defaults.p99_ms is -1; expected milliseconds above 0."),
        ("defaults:\n  max_queue_us: -5\n", "defaults.max_queue_us is -5; expected microseconds"),
        ("defaults:\n  max_failures: 0.5\n", "defaults.max_failures is 0.5; expected an integer"),
        ("defaults:\n  max_failures: true\n", "defaults.max_failures is True; expected an integer"),
        ("defaults:\n  concurrency: 4\n", "defaults.concurrency is 4; expected a non-empty list"),
        ("defaults:\n  concurrency: [1, 0]\n", "defaults.concurrency is [1, 0]; expected"),
        ("defaults:\n  max_windows: 2\n", "defaults.max_windows is 2; expected an integer from 3"),
        ("defaults:\n  window_s: .nan\n", "defaults.window_s is nan; expected seconds"),
        ("models:\n  a:\n    min_throughput_ratio: 1.5\n", "models.a.min_throughput_ratio is 1.5"),
        ("models: [a, b]\n", "models is list, expected a mapping"),
        ("- 1\n", "the top level is list, expected a mapping"),
        ("defaults: {p99_ms: [\n", "is not valid YAML"),
        # hostile files: refused quickly, with a message that stays short
        # A few hundred bytes that expand to gigabytes through nested aliases.
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
                for i in range(8)
            )
            + "defaults:\n  p99_ms: *i\n",
            "uses the alias *a (line 2); aliases are not accepted",
        ),
        ("defaults:\n  p99_ms: 400\n  p99_ms: 4000\n", "has the key 'p99_ms' twice (line 3)"),
        ("models:\n  a: {}\n  a: {p99_ms: 1}\n", "has the key 'a' twice"),
        ("defaults:\n  p99_ms: " + "9" * 500 + "\n", "has 500 characters (at most 40)"),
        ("defaults:\n  p99_ms: 1.0e+400\n", "defaults.p99_ms is inf; expected milliseconds"),
        ("defaults: " + "[" * 5000 + "]" * 5000 + "\n", "nests deeper than 6 levels"),
        ("defaults:\n  concurrency: [" + ", ".join(["1"] * 400) + "]\n", "more than the 1800 s"),
        ("defaults:\n  window_s: 3600\n  max_windows: 100\n", "up to 2880030 s"),
        (
            "defaults:\n  concurrency: ["
            + ", ".join(["1"] * 40)
            + "]\n  throughput_attempts: 10\n",
            "up to 2210 s (levels x throughput_attempts x",
        ),
        ("defaults:\n  p99_ms: '" + "x" * 5000 + "'\n", "defaults.p99_ms is 'xxxxxxxx"),
    ],
    ids=[
        "unknown-key",
        "unknown-top-level-key",
        "unknown-model-key",
        "bad-type",
        "negative-budget",
        "negative-queue",
        "float-failures",
        "bool-failures",
        "scalar-concurrency",
        "zero-concurrency",
        "too-few-windows",
        "nan-window",
        "ratio-above-one",
        "models-list",
        "top-level-list",
        "not-yaml",
        "alias-bomb",
        "duplicate-budget",
        "duplicate-model",
        "huge-integer",
        "float-overflow",
        "deep-nesting",
        "too-many-levels",
        "absurd-windows",
        "absurd-attempts",
        "long-value-shortened",
    ],
)
def test_a_bad_or_hostile_gates_file_is_a_short_config_error_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_gate_config(path)

    assert str(caught.value).startswith(f"{path}")
    assert message in str(caught.value)
    assert len(str(caught.value)) < 600


def test_an_override_for_a_model_the_release_does_not_serve_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text("models:\n  digits_cnm:\n    p99_ms: 5\n")
    config = load_gate_config(path)

    with pytest.raises(ConfigError) as caught:
        config.check_models(["digits_cnn", "cancer_mlp"], "r1")

    assert str(caught.value) == (
        f"{path}: models.digits_cnm names a model that release r1 does not serve (it serves "
        "cancer_mlp, digits_cnn). Fix the name, or remove the entry."
    )


def test_only_a_small_regular_file_is_read_as_a_gates_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    link = tmp_path / "link.yaml"
    link.symlink_to(ROOT / DEFAULT_GATES)
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(64 << 20)  # sparse: the size is refused before a byte is read

    for path, says in [
        (fifo, "FIFO, socket or device"),
        (Path("/dev/zero"), "FIFO, socket or device"),
        (link, "symbolic link"),
        (big, "bytes"),
    ]:
        with pytest.raises(ConfigError, match="Cannot read the gates file") as caught:
            load_gate_config(path)
        assert says in str(caught.value), str(caught.value)
