"""Preprocessing of digit image files, and `python -m mnistkit predict` end to end."""
import os

import numpy as np
import pytest
from commands import run_mnistkit
from PIL import Image
from synthetic import tiny_cnn

from mnistkit import data, images


def synthetic_digit(size=60, thickness=6):
    """A dark '7' on white paper."""
    img = np.ones((size, size), np.float32)
    img[10:10 + thickness, 12:48] = 0.0
    for r in range(10, 52):
        c = 48 - (r - 10) // 2
        img[r, c - thickness // 2: c + thickness // 2] = 0.0
    return img


def test_to_mnist_fits_a_20px_box_centred_by_mass_light_on_dark():
    out = images.to_mnist(synthetic_digit())
    assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    rows, cols = np.nonzero(out > 0.1)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 21
    from scipy.ndimage import center_of_mass
    assert np.allclose(center_of_mass(out), (14, 14), atol=1.0)
    assert out[0].max() == 0 and out[:, 0].max() == 0  # dark background


def test_polarity_is_detected_and_can_be_forced():
    dark_on_light = synthetic_digit()
    auto = images.to_mnist(dark_on_light)
    assert np.allclose(images.to_mnist(1 - dark_on_light), auto, atol=1e-5)
    assert np.allclose(images.to_mnist(dark_on_light, invert="yes"), auto, atol=1e-5)
    light_on_dark = 1 - dark_on_light
    assert np.allclose(images.to_mnist(light_on_dark, invert="no"), auto, atol=1e-5)
    with pytest.raises(ValueError, match="blank"):    # forced, though wrong: the digit becomes the paper
        images.to_mnist(light_on_dark, invert="yes")
    with pytest.raises(ValueError, match="auto, yes, no"):
        images.to_mnist(dark_on_light, invert="maybe")


def test_blank_and_malformed_images_are_refused():
    with pytest.raises(ValueError, match="blank"):
        images.to_mnist(np.ones((40, 40)))
    with pytest.raises(ValueError, match="2-d"):
        images.to_mnist(np.ones((4, 4, 3)))
    with pytest.raises(ValueError, match="the image is 1x500 pixels: too thin to hold a digit"):
        images.to_mnist(np.eye(500, 1))


def test_mnist_digits_survive_preprocessing(mnist):
    (_, _), (x_test, _) = mnist
    for x in x_test[:50]:
        x = x.astype(np.float32) / 255
        again = images.to_mnist(x)
        assert np.corrcoef(again.ravel(), x.ravel())[0, 1] > 0.8


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory, mnist):
    """A small CNN trained for a few seconds on real MNIST, saved as .keras: with mnistkit's augmentation layer
    and a learning-rate schedule, as the notebooks save their best models."""
    (x, y), (x_test, y_test) = mnist
    import keras

    from mnistkit import models, training
    training.set_seed(0)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=2 * 12_000 // 128)
    model = tiny_cnn((16, 32), dropout=0.25, augment=models.augmentation(seed=0), learning_rate=schedule,
                             seed=0)
    assert any(isinstance(layer, models.RandomShiftRotate) for layer in model.layers)
    model.fit(data.scale(x[:12_000]), y[:12_000], epochs=2, batch_size=128, verbose=0)
    path = tmp_path_factory.mktemp("model") / "cnn.keras"
    model.save(path)
    return model, path, x_test, y_test


@pytest.mark.slow
def test_predict_command_matches_predictions_on_the_arrays(small_cnn, tmp_path, mnistkit_in_process):
    model, model_path, x_test, _ = small_cnn
    digits = x_test[:20]
    paths = []
    for i, digit in enumerate(digits):
        picture = Image.fromarray(255 - digit if i % 3 == 0 else digit)   # every third: dark on light
        if i % 2 == 1:
            picture = picture.resize((100, 100), Image.Resampling.BILINEAR)
        paths.append(tmp_path / f"digit{i:02d}.{'jpg' if i == 7 else 'png'}")
        picture.save(paths[-1], quality=98) if i == 7 else picture.save(paths[-1])
    expected = model.predict(data.scale(digits), verbose=0).argmax(1)
    bad = [tmp_path / "missing.png", tmp_path / "notes.png"]
    bad[1].write_text("not an image")
    done = mnistkit_in_process("predict", "--model", model_path, *paths, *bad)
    assert done.returncode == 1
    lines = dict(line.rsplit(": ", 1) for line in done.stdout.strip().splitlines())
    got = [int(lines[str(p)].split()[0]) for p in paths]
    assert got == expected.tolist()
    assert f"{bad[0]}: error:" in done.stderr and f"{bad[1]}: error:" in done.stderr


@pytest.mark.cli
def test_predict_on_good_files_exits_0_with_one_line_each_digit_and_confidence(small_cnn, tmp_path,
                                                                               mnistkit_in_process):
    """The documented output, ``path: digit (confidence)``, as ``predict_files`` computes it; ``--invert no`` is
    obeyed (a dark digit on white paper read as light on dark is a blank page)."""
    import re

    model, model_path, x_test, _ = small_cnn
    paths = []
    for i, digit in enumerate(x_test[:3]):
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(255 - digit).save(paths[-1])   # dark on white paper
    results, errors = images.predict_files(model, paths)
    assert not errors
    expected = [f"{path}: {digit} ({confidence:.1%})" for path, digit, confidence in results]
    done = run_mnistkit("predict", "--model", model_path, "--invert", "yes", *paths, timeout=300)  # auto: the others
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.strip().splitlines()
    assert all(re.fullmatch(r"\S+: \d \(\d+\.\d%\)", line) for line in lines), lines
    assert lines == expected
    done = mnistkit_in_process("predict", "--model", model_path, "--invert", "no", paths[0])
    assert done.returncode == 1 and done.stdout == "" and "no digit found" in done.stderr


@pytest.mark.cli
def test_predict_without_a_model_explains_what_to_do(tmp_path):
    done = run_mnistkit("predict", "x.png", env={"MNISTKIT_ARTIFACTS": str(tmp_path)}, timeout=120)
    assert done.returncode == 2 and f"no trained model found in {tmp_path}; pass --model" in done.stderr


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"hello"], ids=["empty", "bad-zip", "text"])
def test_a_damaged_model_file_is_one_error_line_and_exit_2(tmp_path, content, mnistkit_in_process):
    digit = tmp_path / "digit.png"
    Image.fromarray(np.eye(28, dtype=np.uint8) * 255).save(digit)
    bad = tmp_path / "model.keras"
    bad.write_bytes(content)
    done = mnistkit_in_process("predict", "--model", bad, digit)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {bad}: not a .keras archive (empty, cut")
    assert "Traceback" not in done.stderr and "save it again" in done.stderr


def test_a_model_path_that_is_not_a_keras_file_is_named(tmp_path, mnistkit_in_process):
    done = mnistkit_in_process("predict", "--model", tmp_path / "nowhere.keras", tmp_path / "x.png")
    assert done.returncode == 2 and "no such model file" in done.stderr and done.stderr.count("\n") == 1
    folder = tmp_path / "export"
    folder.mkdir()
    done = mnistkit_in_process("predict", "--model", folder, tmp_path / "x.png")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def exif_rotated_jpeg(digit: np.ndarray, path):
    """``digit`` stored turned a quarter left, with EXIF orientation 6 ("turn right to view"), as phones save photos."""
    stored = Image.fromarray(digit).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, quality=98, exif=exif)
    return path


def huge_png_header(path, side=20_000):
    """A PNG whose header says ``side`` x ``side`` pixels (the pixel data is not there: opening it reads the header)."""
    import struct
    import zlib

    Image.new("L", (8, 8)).save(path)
    blob = bytearray(path.read_bytes())
    blob[16:24] = struct.pack(">II", side, side)                       # IHDR width and height
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))     # IHDR's CRC over type + data
    path.write_bytes(bytes(blob))
    return path


def test_exif_orientation_is_applied(tmp_path):
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255            # a vertical bar: a "1", which would read as a "-" sideways
    path = exif_rotated_jpeg(digit, tmp_path / "photo.jpg")
    with Image.open(path) as raw:
        assert raw.size == (28, 28) and np.asarray(raw)[14, 4:24].mean() > 128, "stored sideways"
    loaded = images.load_image(path)
    assert loaded.shape == (28, 28) and np.corrcoef(loaded.ravel(), digit.ravel() / 255)[0, 1] > 0.95


def with_chunk(png: bytes, kind: bytes, content: bytes) -> bytes:
    """``png`` with one more chunk before its end (IEND), CRC and all."""
    import struct
    import zlib

    end = png.rindex(b"IEND") - 4
    chunk = struct.pack(">I", len(content)) + kind + content + struct.pack(">I", zlib.crc32(kind + content))
    return png[:end] + chunk + png[end:]


def test_an_image_with_damaged_exif_is_read_as_stored_without_warnings(tmp_path):
    """A broken EXIF block (PIL cannot parse it) must not cost the whole predict batch: the pixels are read as
    stored, as a browser shows them, and PIL's 'Corrupt EXIF data' warning does not reach the user."""
    import io
    import warnings

    digit = (images.to_mnist(synthetic_digit()) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    path = tmp_path / "exif.png"
    path.write_bytes(with_chunk(buffer.getvalue(), b"eXIf", b"garbage"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(images.load_image(path), digit / 255.0, atol=1e-6)


def test_sixteen_bit_grey_levels_keep_their_shades(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (40, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    loaded = images.load_image(tmp_path / "ramp16.png")
    np.testing.assert_allclose(loaded, ramp / 65535, atol=1e-4)
    assert len(np.unique(loaded)) == 40, "not binarised"


def test_huge_images_folders_and_fifos_are_refused_without_reading_them(tmp_path):
    with pytest.raises(ValueError, match="over the limit of 50,000,000 pixels"):
        images.load_image(huge_png_header(tmp_path / "huge.png"))
    Image.new("L", (20, 20)).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match="20x20 pixels, over the limit of 100 pixels"):
        images.load_image(tmp_path / "small.png", max_pixels=100)
    with pytest.raises(ValueError, match="not a regular file"):
        images.load_image(tmp_path)
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ValueError, match="not a regular file"):
        images.load_image(tmp_path / "pipe.png")   # would block forever if opened


@pytest.mark.slow
def test_predict_reads_phone_photos_16_bit_pngs_and_skips_what_it_cannot_read(small_cnn, tmp_path,
                                                                              mnistkit_in_process):
    model, model_path, x_test, y_test = small_cnn
    right = np.flatnonzero(model.predict(data.scale(x_test[:50]), verbose=0).argmax(1) == y_test[:50])
    a, b, c = (int(i) for i in right[:3])
    good = [exif_rotated_jpeg(x_test[a], tmp_path / "photo.jpg"), tmp_path / "sixteen.png", tmp_path / "plain.png"]
    Image.fromarray(x_test[b].astype(np.uint16) * 257).save(good[1])
    Image.fromarray(x_test[c]).save(good[2])
    os.mkfifo(tmp_path / "pipe.png")
    bad = [huge_png_header(tmp_path / "huge.png"), tmp_path / "pipe.png"]
    done = mnistkit_in_process("predict", "--model", model_path, *good, *bad)
    assert done.returncode == 1, done.stderr
    lines = dict(line.rsplit(": ", 1) for line in done.stdout.strip().splitlines())
    assert [int(lines[str(p)].split()[0]) for p in good] == [y_test[a], y_test[b], y_test[c]]
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 2 and "over the limit" in errors[0] and "not a regular file" in errors[1]


def test_models_that_are_not_digit_classifiers_are_refused(tmp_path, mnistkit_in_process):
    import keras

    from mnistkit import deploy

    digit = images.to_mnist(synthetic_digit())
    logits = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    Image.fromarray((digit * 255).astype(np.uint8)).save(tmp_path / "seven.png")
    with pytest.raises(ValueError, match="not probabilities.*activation='softmax'"):
        images.predict_files(logits, [tmp_path / "seven.png"])
    five = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(5, activation="softmax")])
    with pytest.raises(deploy.ModelLoadError, match=r"maps \(28, 28\) to \(5,\)"):
        deploy.check_classifier(five)
    five.save(tmp_path / "five.keras")
    done = mnistkit_in_process("predict", "--model", tmp_path / "five.keras", tmp_path / "seven.png")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "10 probabilities" in done.stderr
    flat = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    deploy.check_classifier(flat)
    assert len(images.predict_files(flat, [tmp_path / "seven.png"])[0]) == 1, "a flat-input MLP is reshaped for"
    one = images.predict_files(flat, str(tmp_path / "seven.png"))   # one path, not a list: one file, not its letters
    assert len(one[0]) == 1 and one[1] == []
