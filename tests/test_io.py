"""Gradient dumps: round trips in every format, lazy reads, refusal of pickle, corrupt files."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import matsign
from matsign.io import RECORDED_DUMP, DumpError, GradientRecord, load_gradients, write_manifest, write_step

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)

#: The ``pt`` format needs PyTorch; without it those cases skip with the reason.
PT = pytest.param("pt", marks=pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                                 reason="PyTorch is not installed"))


def _tensors(rng):
    return {
        "grad/blocks.0.attn.qkv.weight": rng.standard_normal((6, 4)).astype(np.float32),
        "momentum/blocks.0.attn.qkv.weight": rng.standard_normal((6, 4)),
        "grad/blocks.0.mlp.fc.weight": rng.standard_normal((3, 5)).astype(np.float32),
    }


def _records(path, **kwargs) -> dict[str, GradientRecord]:
    return {r.key: r for r in load_gradients(path, **kwargs)}


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["safetensors", "npz", PT])
def test_big_endian_arrays_round_trip(tmp_path, fmt):
    rng = np.random.default_rng(5)
    tensors = {
        "grad/f4": rng.standard_normal((3, 2)).astype(">f4"),
        "grad/f8": rng.standard_normal((2, 3)).astype(">f8"),
        "grad/i4": np.arange(6, dtype=">i4").reshape(2, 3),
    }
    write_step(tmp_path, 0, tensors, format=fmt)
    records = _records(tmp_path)
    for key, value in tensors.items():
        loaded = records[key].load()
        assert loaded.dtype.name == value.dtype.name and records[key].dtype == value.dtype.name
        np.testing.assert_array_equal(loaded, value)  # compares values, whatever the byte order


@pytest.mark.parametrize("fmt", ["safetensors", "npz", PT])
def test_round_trip_float32_float64(tmp_path, fmt):
    tensors = _tensors(np.random.default_rng(0))
    path = write_step(tmp_path, 42, tensors, format=fmt)
    assert path == tmp_path / f"step-000042.{fmt}"
    records = _records(tmp_path)
    assert set(records) == set(tensors)
    for key, expected in tensors.items():
        record = records[key]
        assert (record.step, record.kind, record.name) == (42, key.split("/")[0], key.split("/", 1)[1])
        assert record.shape == expected.shape and record.dtype == expected.dtype.name
        got = record.load()
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fmt", ["safetensors", "npz", PT])
def test_keys_that_look_like_arguments_round_trip(tmp_path, fmt):
    tensors = {"file": np.eye(2), "allow_pickle": np.ones((2, 3)), "format": np.zeros((3, 2))}
    write_step(tmp_path, 0, tensors, format=fmt)
    records = _records(tmp_path)
    assert set(records) == set(tensors)
    for key, expected in tensors.items():
        np.testing.assert_array_equal(records[key].load(), expected)
    if fmt == "npz":
        with np.load(tmp_path / "step-000000.npz", allow_pickle=False) as npz:  # NumPy reads it too
            np.testing.assert_array_equal(npz["allow_pickle"], tensors["allow_pickle"])


@pytest.mark.parametrize("fmt", ["safetensors", PT])
def test_bfloat16_round_trip_is_bit_exact(tmp_path, fmt):
    bits = np.random.default_rng(1).integers(0, 2**15, size=(7, 5), dtype=np.uint16)
    bits[bits & 0x7F80 == 0x7F80] = 0x3F80  # no Inf/NaN patterns: keep to finite values
    a = bits.view(BF16)
    write_step(tmp_path, 0, {"grad/w": a}, format=fmt)
    (record,) = load_gradients(tmp_path)
    assert record.dtype == "bfloat16"
    got = record.load()
    assert got.dtype == BF16
    np.testing.assert_array_equal(got.view(np.uint16), bits)


def test_torch_bfloat16_input_is_stored_bit_for_bit(tmp_path):
    torch = pytest.importorskip("torch")
    t = torch.randn(9, 4, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    write_step(tmp_path, 3, {"grad/w": t, "momentum/w": t.float()})
    records = _records(tmp_path)
    np.testing.assert_array_equal(records["grad/w"].load().view(np.int16), t.view(torch.int16).numpy())
    np.testing.assert_array_equal(records["momentum/w"].load(), t.float().numpy())


def test_npz_refuses_bfloat16_instead_of_changing_its_dtype(tmp_path):
    with pytest.raises(ValueError, match=r"grad/w.*bfloat16.*safetensors"):
        write_step(tmp_path, 0, {"grad/w": np.ones((2, 2), BF16)}, format="npz")
    assert not list(tmp_path.iterdir())


def test_written_safetensors_interoperate_with_the_reference_library(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = _tensors(np.random.default_rng(2))
    path = write_step(tmp_path, 1, tensors)
    loaded = safetensors_numpy.load_file(path)
    assert set(loaded) == set(tensors)
    for key, expected in tensors.items():
        np.testing.assert_array_equal(loaded[key], expected)


def test_reference_library_bfloat16_files_load_without_torch(tmp_path):
    """A bf16 file written by safetensors.torch is read bit-exactly in a process without torch."""
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    t = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    safetensors_torch.save_file({"grad/layer.weight": t, "grad/other": torch.ones(2, 2)}, tmp_path / "step-000007.safetensors")
    np.save(tmp_path / "expected.npy", t.view(torch.int16).numpy())
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now raises ImportError
        import numpy as np
        from matsign.io import load_gradients
        records = {{r.key: r for r in load_gradients({str(tmp_path)!r})}}
        r = records["grad/layer.weight"]
        assert (r.step, r.kind, r.name, r.dtype) == (7, "grad", "layer.weight", "bfloat16"), r
        got = r.load()
        assert str(got.dtype) == "bfloat16", got.dtype
        assert np.array_equal(got.view(np.int16), np.load({str(tmp_path / "expected.npy")!r})), "bits differ"
        print("ok")
        """
    )
    repo = Path(matsign.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_npy_files_load_through_a_memory_map(tmp_path, dtype):
    a = np.random.default_rng(3).standard_normal((4, 6)).astype(dtype)
    (tmp_path / "step-000005").mkdir()
    np.save(tmp_path / "step-000005" / "w.npy", a)
    (record,) = load_gradients(tmp_path)
    assert (record.step, record.kind, record.name, record.key) == (5, "unknown", "w", "w")
    got = record.load()
    assert type(got) is np.ndarray and got.dtype == a.dtype  # a copy, not a map left open
    np.testing.assert_array_equal(got, a)


# -- laziness ------------------------------------------------------------------------------------


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "npy"])
def test_listing_and_loading_one_tensor_reads_no_other_tensor(tmp_path, fmt):
    """Reading a 4×4 tensor next to an 8 MB one allocates far less than the big one's size."""
    small = np.arange(16.0).reshape(4, 4)
    big = np.ones((1024, 1024))  # 8 MB: NumPy reports its buffers to tracemalloc
    if fmt == "npy":
        np.save(tmp_path / "small.npy", small)
        np.save(tmp_path / "big.npy", big)
    else:
        write_step(tmp_path, 0, {"grad/small": small, "grad/big": big}, format=fmt)
    records = []
    listing_peak = _peak_bytes(lambda: records.extend(load_gradients(tmp_path)))
    by_name = {r.name: r for r in records}
    small_peak = _peak_bytes(by_name["small"].load)
    big_peak = _peak_bytes(by_name["big"].load)
    assert big_peak >= big.nbytes  # the measurement does see array buffers
    assert listing_peak < 1_000_000 and small_peak < 1_000_000, (listing_peak, small_peak)
    np.testing.assert_array_equal(by_name["small"].load(), small)


def test_safetensors_reads_only_the_requested_byte_range(tmp_path):
    """Garbage (NaN bytes) in another tensor's range does not reach the requested tensor."""
    a, b = np.arange(6.0).reshape(2, 3), np.zeros((3, 2))
    path = write_step(tmp_path, 0, {"grad/a": a, "grad/b": b})
    header_length = int.from_bytes(path.read_bytes()[:8], "little")
    begin, end = json.loads(path.read_bytes()[8 : 8 + header_length])["grad/b"]["data_offsets"]
    data = bytearray(path.read_bytes())
    data[8 + header_length + begin : 8 + header_length + end] = b"\xff" * (end - begin)
    path.write_bytes(bytes(data))
    records = _records(tmp_path)
    np.testing.assert_array_equal(records["grad/a"].load(), a)
    assert np.isnan(records["grad/b"].load()).all()


# -- untrusted files -----------------------------------------------------------------------------


class Payload:
    """An arbitrary Python object: loading it would need pickle."""

    def __init__(self):
        self.note = "not a tensor"


def test_npz_with_an_object_array_is_refused(tmp_path):
    path = tmp_path / "step-000001.npz"
    np.savez(path, **{"grad/w": np.eye(2), "grad/evil": np.array([Payload()], dtype=object)})
    with pytest.raises(DumpError, match=rf"{path}.*pickle"):
        list(load_gradients(tmp_path))


def test_npy_with_an_object_array_is_refused(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.array([[Payload()]], dtype=object))
    with pytest.raises(DumpError, match=rf"{path}.*pickle"):
        list(load_gradients(path))


def test_pt_with_a_pickled_object_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "step-000001.pt"
    torch.save({"grad/w": torch.eye(3), "grad/evil": Payload()}, path)
    with pytest.raises(DumpError, match=rf"{path}.*weights_only"):
        list(load_gradients(tmp_path))


def test_pt_with_a_non_tensor_value_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "step-000001.pt"
    torch.save({"grad/w": torch.eye(3), "step": 4}, path)
    with pytest.raises(DumpError, match=rf"{path}.*'step' is a int, not a tensor"):
        list(load_gradients(tmp_path))


def test_pt_in_the_legacy_format_loads_and_still_refuses_pickle(tmp_path):
    # torch.save's pre-zip format cannot be memory mapped; it is read whole, still weights_only.
    torch = pytest.importorskip("torch")
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    torch.save({"grad/w": torch.from_numpy(expected)}, tmp_path / "step-000001.pt", _use_new_zipfile_serialization=False)
    (record,) = load_gradients(tmp_path)
    assert (record.key, record.step, record.dtype) == ("grad/w", 1, "float32")
    np.testing.assert_array_equal(record.load(), expected)
    evil = tmp_path / "evil" / "step-000001.pt"
    evil.parent.mkdir()
    torch.save({"grad/w": torch.eye(3), "grad/evil": Payload()}, evil, _use_new_zipfile_serialization=False)
    with pytest.raises(DumpError, match=rf"{evil}.*weights_only"):
        list(load_gradients(evil.parent))


def _valid_safetensors(tmp_path) -> Path:
    return write_step(tmp_path, 0, {"grad/a": np.ones((4, 4), np.float32), "grad/b": np.ones((2, 8), np.float32)})


def _with_header(path: Path, header) -> None:
    text = json.dumps(header).encode()
    data = path.read_bytes()
    buffer = data[8 + int.from_bytes(data[:8], "little") :]
    path.write_bytes(len(text).to_bytes(8, "little") + text + buffer)


def _header(path: Path) -> dict:
    data = path.read_bytes()
    return json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])


CORRUPTIONS = {
    "truncated data": (lambda p: p.write_bytes(p.read_bytes()[:-5]), "outside the"),
    "no header length": (lambda p: p.write_bytes(b"\x01\x02\x03"), "truncated"),
    "header length past the end": (
        lambda p: p.write_bytes((10**6).to_bytes(8, "little") + p.read_bytes()[8:]),
        "runs past the end",
    ),
    "header garbage": (
        lambda p: p.write_bytes(p.read_bytes()[:8] + b"\x00{garbage" + p.read_bytes()[17:]),
        "not valid JSON",
    ),
    "header not an object": (lambda p: _with_header(p, [1, 2]), "not an object"),
    "unknown dtype": (lambda p: _with_header(p, {**_header(p), "grad/a": {**_header(p)["grad/a"], "dtype": "F128"}}), "unknown dtype"),
    "offsets against shape": (
        lambda p: _with_header(p, {**_header(p), "grad/a": {**_header(p)["grad/a"], "shape": [4, 5]}}),
        "needs 80",
    ),
    "negative shape": (lambda p: _with_header(p, {**_header(p), "grad/a": {**_header(p)["grad/a"], "shape": [-4, -4]}}), "invalid shape"),
    "missing field": (lambda p: _with_header(p, {"grad/a": {"dtype": "F32"}}), "lacks"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_safetensors_raise_dump_error_naming_the_file(tmp_path, corruption):
    path = _valid_safetensors(tmp_path)
    corrupt, reason = CORRUPTIONS[corruption]
    corrupt(path)
    with pytest.raises(DumpError) as info:
        list(load_gradients(tmp_path))
    assert str(path) in str(info.value) and reason in str(info.value)


def test_truncated_npz_raises_dump_error(tmp_path):
    path = write_step(tmp_path, 0, {"grad/w": np.ones((50, 50))}, format="npz")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DumpError, match=str(path)):
        list(load_gradients(tmp_path))


def test_file_changed_after_listing_raises_on_load(tmp_path):
    path = write_step(tmp_path, 0, {"grad/w": np.ones((8, 8))})
    (record,) = load_gradients(tmp_path)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DumpError, match=str(path)):
        record.load()


def test_skip_bad_warns_with_the_file_and_keeps_the_good_ones(tmp_path):
    write_step(tmp_path, 1, {"grad/w": np.eye(3)})
    bad = tmp_path / "step-000002.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    with pytest.raises(DumpError, match=str(bad)):
        list(load_gradients(tmp_path))
    with pytest.warns(UserWarning, match=str(bad)):
        records = list(load_gradients(tmp_path, skip_bad=True))
    assert [(r.step, r.name) for r in records] == [(1, "w")]


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        load_gradients(tmp_path / "nothing")


def test_unknown_suffix_given_directly_is_a_dump_error(tmp_path):
    path = tmp_path / "grads.txt"
    path.write_text("1 2 3")
    with pytest.raises(DumpError, match=r"unknown dump format '\.txt'"):
        list(load_gradients(path))


# -- scanning, names, steps and kinds ------------------------------------------------------------


def test_directory_scan_order_is_natural_and_deterministic(tmp_path):
    for step in (100, 9, 10, 0):  # written out of order
        write_step(tmp_path / "run", step, {f"grad/blocks.{i}.w": np.eye(2) for i in (10, 2, 1)})
    write_step(tmp_path / "run" / "nested", 5, {"momentum/w": np.eye(2)})
    (tmp_path / "run" / ".hidden").mkdir()
    write_step(tmp_path / "run" / ".hidden", 1, {"grad/w": np.eye(2)})
    (tmp_path / "run" / "notes.txt").write_text("not a dump")
    first = [(r.step, r.name) for r in load_gradients(tmp_path / "run")]
    steps = [(s, f"blocks.{i}.w") for s in (0, 9, 10, 100) for i in (1, 2, 10)]
    assert first == [(5, "w")] + steps  # "nested/" sorts before "step-…"
    assert [(r.step, r.name) for r in load_gradients(tmp_path / "run")] == first


def test_steps_and_kinds_without_a_manifest(tmp_path):
    np.savez(tmp_path / "dump.npz", **{"w": np.eye(2), "update/v": np.eye(2), "grad/u": np.eye(2)})
    records = _records(tmp_path)
    assert {k: (r.step, r.kind, r.name) for k, r in records.items()} == {
        "w": (None, "unknown", "w"),
        "update/v": (None, "unknown", "update/v"),
        "grad/u": (None, "grad", "u"),
    }


def test_manifest_supplies_step_and_kind(tmp_path):
    np.savez(tmp_path / "first.npz", **{"layer.weight": np.eye(2)})
    np.savez(tmp_path / "step-000003.npz", **{"grad/layer.weight": np.eye(2)})
    write_manifest(tmp_path, {"model": {"n_layer": 1}, "files": {"first.npz": {"step": 12, "kind": "momentum"}}})
    records = [(r.step, r.kind, r.name) for r in load_gradients(tmp_path)]
    assert records == [(12, "momentum", "layer.weight"), (3, "grad", "layer.weight")]
    assert json.loads((tmp_path / "manifest.json").read_text())["model"] == {"n_layer": 1}


def test_a_file_gets_the_same_step_and_kind_alone_as_in_its_dump(tmp_path):
    file = write_step(tmp_path / "run", 7, {"w": np.eye(2)})
    write_manifest(tmp_path, {"files": {"run/step-000007.safetensors": {"step": 70, "kind": "momentum"}}})
    for path in (tmp_path, tmp_path / "run", file):
        assert [(r.step, r.kind, r.name) for r in load_gradients(path)] == [(70, "momentum", "w")]


def test_bad_manifest_is_a_dump_error_or_skipped(tmp_path):
    write_step(tmp_path, 4, {"grad/w": np.eye(2)})
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": {"step-000004.safetensors": {"step": -1}}}))
    with pytest.raises(DumpError, match=str(manifest)):
        list(load_gradients(tmp_path))
    with pytest.warns(UserWarning, match=str(manifest)):
        assert [r.step for r in load_gradients(tmp_path, skip_bad=True)] == [4]


def test_matrices_only_skips_vectors_and_scalars_and_splits_stacks(tmp_path):
    stack = np.arange(8.0).reshape(2, 2, 2)
    write_step(tmp_path, 0, {"grad/b": np.ones(3), "grad/w": np.ones((2, 3)), "grad/stack": stack, "grad/s": np.ones(())})
    listing = load_gradients(tmp_path)
    matrices = {r.name: r for r in listing}
    assert list(matrices) == ["stack[0]", "stack[1]", "w"]
    assert dict(listing.skipped) == {"vectors": 1, "scalars": 1}
    np.testing.assert_array_equal(matrices["stack[1]"].load(), stack[1])
    everything = {r.name: r for r in load_gradients(tmp_path, matrices_only=False)}
    assert {name: r.shape for name, r in everything.items()} == {"b": (3,), "s": (), "stack": (2, 2, 2), "w": (2, 3)}
    np.testing.assert_array_equal(everything["stack"].load(), stack)


def test_records_are_frozen(tmp_path):
    write_step(tmp_path, 0, {"grad/w": np.eye(2)})
    (record,) = load_gradients(tmp_path)
    with pytest.raises(AttributeError):
        record.step = 1


# -- writer arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": -1}, "step must be a non-negative integer"),
        ({"format": "hdf5"}, "format must be one of"),
        ({"tensors": {}}, "tensors must be a non-empty mapping"),
        ({"tensors": {3: np.eye(2)}}, "keys must be non-empty strings"),
        ({"tensors": {"grad/w": np.array([["a"]])}}, r"tensors\['grad/w'\] has unsupported dtype"),
        ({"tensors": {"grad/w": [[1.0]]}}, r"tensors\['grad/w'\] must be a NumPy, CuPy or PyTorch array"),
        # The safetensors header keeps its metadata under this key: a tensor there would be lost.
        ({"tensors": {"__metadata__": np.eye(2), "grad/w": np.eye(2)}}, "'__metadata__' is reserved"),
    ],
)
def test_write_step_rejects_bad_arguments(tmp_path, kwargs, message):
    arguments = {"step": 0, "tensors": {"grad/w": np.eye(2)}, "format": "safetensors", **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        write_step(tmp_path, arguments["step"], arguments["tensors"], format=arguments["format"])
    assert not any(tmp_path.iterdir())


def test_write_step_replaces_a_step_atomically(tmp_path):
    write_step(tmp_path, 1, {"grad/w": np.zeros((2, 2))})
    write_step(tmp_path, 1, {"grad/w": np.ones((2, 2))})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000001.safetensors"]
    (record,) = load_gradients(tmp_path)
    np.testing.assert_array_equal(record.load(), np.ones((2, 2)))


def test_write_manifest_rejects_what_json_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        write_manifest(tmp_path, {"shape": np.ones(2)})
    with pytest.raises(ValueError, match="manifest must be a mapping"):
        write_manifest(tmp_path, [1, 2])


def test_recorded_dump_lives_in_the_package_data():
    assert RECORDED_DUMP == Path(matsign.__file__).resolve().parent / "data" / "recorded"


def test_warnings_are_not_raised_for_good_dumps(tmp_path):
    write_step(tmp_path, 0, {"grad/w": np.eye(2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(load_gradients(tmp_path, skip_bad=True))) == 1


def test_recorded_source_is_one_matrix_of_a_dump_in_float64(tmp_path):
    from matsign.io.source import find_record
    from matsign.registry import get_source

    source = get_source("recorded")
    record = next(iter(load_gradients(RECORDED_DUMP)))
    params = {"tensor": record.name, "step": record.step, "kind": record.kind}
    assert source.shape(**source.resolve(params)) == record.shape
    A = source(*record.shape, rng=0, **params)
    assert A.dtype == np.float64
    np.testing.assert_array_equal(A, np.asarray(record.load(), dtype=np.float64))
    np.testing.assert_array_equal(A, source(*record.shape, rng=7, **params))  # the same for every seed
    # Another dump, by path.
    write_step(tmp_path, 3, {"momentum/w": np.arange(6.0).reshape(2, 3)})
    assert find_record("w", 3, "momentum", tmp_path).shape == (2, 3)
    # The check (a lookup, no data read) names what the dump holds instead.
    with pytest.raises(ValueError, match=r"no tensor 'w' of kind 'grad' at step 3 .* it holds w \(momentum, step 3\)"):
        source.check(2, 3, tensor="w", step=3, kind="grad", path=str(tmp_path))
    assert source.label({**params, "source": "recorded"}) == f"{record.name}\n{record.kind}, step {record.step}"
