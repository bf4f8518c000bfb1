"""Hostile and broken dump files: every failure is a DumpError that names the file.

Each case is a file another tool (or an attacker) could write: JSON nested past the parser's
recursion limit, repeated or overlapping header entries, headers that claim more data than the
file holds, integer tensors beside gradients, truncated archives, pickles.
"""

import json
import warnings
import zipfile

import numpy as np
import pytest

from matsign.io import DumpError, load_gradients
from matsign.io import formats
from matsign.io.formats import list_tensors, read_tensor


def _safetensors(path, header: bytes, data: bytes = b""):
    path.write_bytes(len(header).to_bytes(8, "little") + header + data)
    return path


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_a_header_nested_past_the_recursion_limit_is_a_dump_error(tmp_path):
    path = _safetensors(tmp_path / "deep.safetensors", b'{"a": ' + _deep(100_000) + b"}")
    with pytest.raises(DumpError, match=r"deep\.safetensors: safetensors header is nested too deeply"):
        list_tensors(path)


def test_a_manifest_nested_too_deeply_is_a_dump_error_and_skip_bad_skips_it(tmp_path):
    np.savez(tmp_path / "step-000001.npz", w=np.ones((2, 3)))
    (tmp_path / "manifest.json").write_bytes(b'{"files": ' + _deep(100_000) + b"}")
    with pytest.raises(DumpError, match=r"manifest\.json: manifest is nested too deeply"):
        list(load_gradients(tmp_path))
    with pytest.warns(UserWarning, match="skipped: .*nested too deeply"):
        records = list(load_gradients(tmp_path, skip_bad=True))
    assert [r.name for r in records] == ["w"]


def test_repeated_header_keys_are_refused(tmp_path):
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    path = _safetensors(tmp_path / "twice.safetensors", f'{{"w": {entry}, "w": {entry}}}'.encode(), bytes(4))
    with pytest.raises(DumpError, match=r"twice\.safetensors: safetensors header repeats the key 'w'"):
        list_tensors(path)


def test_overlapping_data_offsets_are_refused(tmp_path):
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    path = _safetensors(tmp_path / "overlap.safetensors", json.dumps(header).encode(), bytes(12))
    with pytest.raises(DumpError, match=r"overlap\.safetensors: tensors 'a' and 'b' overlap"):
        list_tensors(path)


def test_adjacent_and_empty_tensors_are_not_overlaps(tmp_path):
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "e": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
    }
    data = np.array([1.0, 2.0, 3.0], dtype="<f4").tobytes()
    path = _safetensors(tmp_path / "fine.safetensors", json.dumps(header).encode(), data)
    np.testing.assert_array_equal(read_tensor(path, "b"), [3.0])


def test_an_npz_member_claiming_more_than_it_holds_fails_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("w.npy", "w") as fp:
            np.lib.format.write_array_header_1_0(fp, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
            fp.write(bytes(16))
    assert list_tensors(path)[0].shape == (10**6, 10**6)  # listing reads headers only
    with pytest.raises(DumpError, match=r"huge\.npz: array 'w' claims 4000000000000 bytes but its member holds 16"):
        read_tensor(path, "w")


def test_a_tensor_larger_than_the_available_memory_is_refused_by_name(tmp_path, monkeypatch):
    nbytes = 512 * 1024 * 4  # 2 MiB: claims under 1 MiB are not checked
    header = {"w": {"dtype": "F32", "shape": [512, 1024], "data_offsets": [0, nbytes]}}
    path = _safetensors(tmp_path / "big.safetensors", json.dumps(header).encode(), bytes(nbytes))
    monkeypatch.setattr(formats, "available_memory", lambda: nbytes - 1)
    with pytest.raises(DumpError, match=rf"big\.safetensors: tensor 'w' needs {nbytes} bytes, more than the "
                                        rf"{nbytes - 1} bytes"):
        read_tensor(path, "w")
    monkeypatch.setattr(formats, "available_memory", lambda: nbytes)
    assert read_tensor(path, "w").shape == (512, 1024)
    small = tmp_path / "small.safetensors"
    _safetensors(small, json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode(),
                 bytes(64))
    monkeypatch.setattr(formats, "available_memory", lambda: 0)
    assert read_tensor(small, "w").shape == (4, 4)


def test_a_memory_error_while_reading_names_the_file(tmp_path, monkeypatch):
    np.save(tmp_path / "w.npy", np.ones((2, 2)))

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "array", no_memory)
    with pytest.raises(DumpError, match=r"w\.npy: not enough memory to read 'w'"):
        read_tensor(tmp_path / "w.npy", "w")


def test_integer_and_bool_tensors_are_skipped_by_the_spectra_with_a_reason(tmp_path):
    pytest.importorskip("pandas")
    from matsign.experiments.spectra import analyse_dump

    np.savez(tmp_path / "step-000003.npz", **{"grad/w": np.random.default_rng(0).standard_normal((4, 6)),
                                               "grad/count": np.arange(6).reshape(2, 3),
                                               "grad/mask": np.ones((2, 3), dtype=bool)})
    with pytest.warns(UserWarning) as caught:
        table, _ = analyse_dump(tmp_path, progress=False)
    assert list(table["name"]) == ["w"]
    reasons = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert any("'grad/count' is int64, not floating point" in r for r in reasons)
    assert any("'grad/mask' is bool, not floating point" in r for r in reasons)


def test_a_truncated_pt_file_is_reported_as_truncated_not_as_pickle(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "state.pt"
    torch.save({"w": torch.ones(64, 64)}, path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DumpError, match=r"state\.pt: truncated or corrupt \.pt file"):
        list_tensors(path)


def test_a_pickled_object_is_refused_and_its_global_named(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "obj.pt"
    torch.save({"w": torch.ones(2, 2), "when": np.datetime64("2026-01-01")}, path)
    with pytest.raises(DumpError, match=r"obj\.pt: needs pickle beyond weights_only=True; refused"):
        list_tensors(path)


def test_a_file_that_is_not_a_tensor_file_is_not_echoed(tmp_path):
    pytest.importorskip("torch")
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2 very secret\n")
    link = tmp_path / "weights.pt"
    link.symlink_to(secret)
    with pytest.raises(DumpError) as info:
        list_tensors(link)
    assert "weights.pt: not a PyTorch tensor file" in str(info.value)
    assert "hunter2" not in str(info.value) and "'h'" not in str(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert list(load_gradients(tmp_path, skip_bad=True)) == []
