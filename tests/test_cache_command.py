"""Tests of ``seu cache list|verify|clear`` through the real ``seu`` entry point."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pytest

from seu_sensitivity import settings as paths
from seu_sensitivity.inference.cache import FitCache
from seu_sensitivity.cli import main


def tiny_idata(seed: int) -> az.InferenceData:
    rng = np.random.default_rng(seed)
    return az.from_dict(posterior={"mu": rng.normal(size=(2, 5))}, observed_data={"y": np.arange(3.0)})


@pytest.fixture
def filled(tmp_path: Path) -> tuple[FitCache, list[str]]:
    """A cache with three entries of different models and backends."""
    cache = FitCache(tmp_path / "fits")
    keys = []
    for i, (model, backend) in enumerate([("m_01", "cmdstanpy"), ("h_m01", "pystan"), ("m_02", "cmdstanpy")]):
        key = FitCache.make_key(model=model, seed=i)
        cache.store(key, tiny_idata(i), {"model": model, "backend": backend})
        keys.append(key)
    return cache, keys


def seu(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_shows_a_row_per_entry(filled: tuple[FitCache, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    cache, keys = filled
    status, out, _ = seu(capsys, "cache", "--dir", str(cache.root), "list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "MODEL", "BACKEND", "SIZE", "CREATED"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == {key[:12] for key in keys}
    assert rows[keys[1][:12]][1:3] == ["h_m01", "pystan"]
    assert "3 entries" in lines[4]


def test_dir_after_the_action_and_from_environment(
    filled: tuple[FitCache, list[str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, keys = filled
    _, out, _ = seu(capsys, "cache", "list", "--dir", str(cache.root))
    assert keys[0][:12] in out
    monkeypatch.setenv(paths.CACHE_ENV, str(cache.root))
    _, out, _ = seu(capsys, "cache", "list")
    assert keys[0][:12] in out
    monkeypatch.setenv(paths.CACHE_ENV, str(cache.root.parent / "empty"))
    _, out, _ = seu(capsys, "cache", "list")
    assert "no cached fits" in out


def test_verify_ok_then_names_the_corrupt_entry(
    filled: tuple[FitCache, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cache, keys = filled
    status, out, _ = seu(capsys, "cache", "--dir", str(cache.root), "verify")
    assert status == 0 and "3 checked, 0 corrupt" in out

    bad = cache.path(keys[2])
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    status, out, _ = seu(capsys, "cache", "--dir", str(cache.root), "verify")
    assert status == 1
    [line] = [line for line in out.splitlines() if line.startswith("corrupt")]
    assert keys[2] in line and "truncated" in line
    assert bad.exists()  # plain verify changes nothing

    # only the named (good) entry is checked
    status, _, _ = seu(capsys, "cache", "--dir", str(cache.root), "verify", keys[0][:8])
    assert status == 0

    status, out, _ = seu(capsys, "cache", "--dir", str(cache.root), "verify", "--remove")
    assert status == 1 and "(removed)" in out
    assert not bad.exists()
    assert [e.key for e in cache.entries()] == keys[:2]
    status, _, _ = seu(capsys, "cache", "--dir", str(cache.root), "verify")
    assert status == 0


def test_clear_named_then_all(filled: tuple[FitCache, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    cache, keys = filled
    status, out, _ = seu(capsys, "cache", "--dir", str(cache.root), "clear", keys[0][:10], keys[1])
    assert status == 0 and "removed 2 cache entries" in out
    assert [e.key for e in cache.entries()] == [keys[2]]
    status, out, _ = seu(capsys, "cache", "--dir", str(cache.root), "clear")
    assert status == 0 and "removed 1 cache entry " in out
    assert cache.entries() == []


def test_unknown_or_ambiguous_prefix_is_an_error(
    filled: tuple[FitCache, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cache, keys = filled
    status, _, err = seu(capsys, "cache", "--dir", str(cache.root), "clear", "zz")
    assert status == 2 and "no cache entry with key 'zz'" in err
    status, _, err = seu(capsys, "cache", "--dir", str(cache.root), "clear", "")  # a prefix of every key
    assert status == 2 and "3 cache entries" in err
    assert len(cache.entries()) == 3  # nothing removed


def test_an_action_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["cache", "--dir", str(tmp_path)])
    assert info.value.code == 2
    assert "ACTION" in capsys.readouterr().err
