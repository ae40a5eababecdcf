"""The argument checks every module shares: what each accepts, and that a refusal names what is valid."""
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


def test_a_folder_may_be_made_but_a_file_in_the_way_is_named(tmp_path):
    assert checks.check_folder("directory", tmp_path / "new") == tmp_path / "new"
    (tmp_path / "notes").write_text("kept")
    with pytest.raises(ValueError, match="directory=.*notes' is a file; give a folder"):
        checks.check_folder("directory", tmp_path / "notes")
    with pytest.raises(ValueError, match="model files must end in .keras"):
        checks.check_keras_path(tmp_path / "model.h5")
