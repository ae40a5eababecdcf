"""The argument checks every module shares: what each accepts, and that a refusal names what is valid."""
import dataclasses

import keras
import pytest

from mnistkit import checks


@pytest.mark.parametrize("value, allow_zero, expected", [
    (80, False, 80), ("8080", False, 8080), ("65535", False, 65535), (0, True, 0), ("0", True, 0),
    (0, False, None), ("0", False, None), (65536, False, None), (-1, True, None), ("-1", True, None),
    ("80 ", False, None), ("٨٠", False, None), ("http", False, None), (True, False, None), (80.0, False, None),
])
def test_port_number_accepts_ports_and_their_digits_only(value, allow_zero, expected):
    assert checks.port_number(value, allow_zero=allow_zero) == expected


def test_layer_sizes_fractions_flags_and_rates():
    assert checks.check_units(128) == (128,) and checks.check_units([256, 128]) == (256, 128)
    assert checks.check_units(()) == ()
    for bad in ("128", (128, 0), (1.5,), None):
        with pytest.raises(ValueError, match=r"tuple of positive integers such as \(256, 128\)"):
            checks.check_units(bad)
    assert checks.check_fraction("dropout", 0) == 0.0
    for bad in (1, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match=r"dropout=.* use a number in \[0, 1\)"):
            checks.check_fraction("dropout", bad)
    with pytest.raises(ValueError, match="l2=-1 .* >= 0"):
        checks.check_l2(-1)
    with pytest.raises(ValueError, match="batch_norm=1 .* True or False"):
        checks.check_flag("batch_norm", 1)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)
    assert checks.check_learning_rate(schedule) is schedule and checks.check_learning_rate(1) == 1.0
    for bad in (0, -1e-3, float("inf"), "1e-3"):
        with pytest.raises(ValueError, match="learning_rate=.* number > 0 .* LearningRateSchedule"):
            checks.check_learning_rate(bad)


def test_your_turn_settings_are_checked_by_their_names():
    """What a learner types in a Your turn cell: (256) without its comma, "False" in quotes."""
    checks.check_sizes(HIDDEN=(256,), FILTERS=[32, 64])
    checks.check_flags(BATCH_NORM=True, AUGMENT=False)
    with pytest.raises(ValueError, match=r"^HIDDEN=256 is a number, not a tuple: write \(256,\), with the comma"):
        checks.check_sizes(HIDDEN=(256))
    with pytest.raises(ValueError, match=r"^FILTERS='32, 64' is not valid; give a tuple of positive integers"):
        checks.check_sizes(FILTERS="32, 64")
    with pytest.raises(ValueError, match=r"^INTEGER_ONLY='False' is not valid; use True or False"):
        checks.check_flags(BATCH_NORM=True, INTEGER_ONLY="False")


def test_a_folder_may_be_made_but_a_file_in_the_way_is_named(tmp_path):
    assert checks.check_folder("directory", tmp_path / "new") == tmp_path / "new"
    (tmp_path / "notes").write_text("kept")
    with pytest.raises(ValueError, match="directory=.*notes' is a file; give a folder"):
        checks.check_folder("directory", tmp_path / "notes")
    with pytest.raises(ValueError, match="model files must end in .keras"):
        checks.check_keras_path(tmp_path / "model.h5")


def test_images_with_nan_are_refused_and_unscaled_ones_are_named_before_training():
    import warnings

    import numpy as np
    from synthetic import tiny_splits

    from mnistkit import training

    good = tiny_splits()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks.check_images(good)  # [0, 1]: silent
    raw = dataclasses.replace(good, x_train=(good.x_train * 255).astype(np.uint8))
    with pytest.warns(UserWarning, match=r"x_train's pixels run from 0 to 25\d; .*divide 0-255 images by 255"):
        training.split_batches(raw, batch_size=32)
    twice = dataclasses.replace(good, x_val=good.x_val / 255)
    with pytest.warns(UserWarning, match=r"x_val's pixels run from .* to 0.00392; .*divided by 255 twice\?"):
        checks.check_images(twice)
    broken = good.x_train.copy()
    broken[3, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"x_train has 1 image\(s\) with NaN or infinite pixels"):
        training.split_batches(dataclasses.replace(good, x_train=broken), batch_size=32)
