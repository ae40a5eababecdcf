"""benchmarks/common.py: the CNN builder and the recipes the benchmark scripts build their variants from."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import common  # noqa: E402
from synthetic import assert_rejected_before_building  # noqa: E402

RECIPES = {name: value for name, value in vars(common).items() if isinstance(value, common.Recipe)}


BAD_CNN_ARGS = [
    ({"filters": ()}, "at least one block"),
    ({"filters": (32, 0)}, "positive integers"),
    ({"kernel_size": 0}, "from 1 to 7"),
    ({"kernel_size": 3.0}, "from 1 to 7"),
    ({"convs_per_block": 0}, "from 1 to 7"),
    ({"padding": "full"}, "choose one of: valid, same"),
    ({"pool": "min"}, "choose one of: max, avg, none"),
    ({"pool_padding": "full"}, "pool_padding.*choose one of: valid, same"),
    ({"dense": (-1,)}, "positive integers"),
    ({"dropout": 1.5}, r"\[0, 1\)"),
    ({"global_pool": 1}, "True or False"),
    ({"activation": "softplusx"}, "choose one of"),
    ({"filters": (8, 16, 32, 64, 128), "kernel_size": 5}, "shrink the 28x28 image to nothing"),
    ({"bn_momentum": 1.0}, r"\(0, 1\)"),
    ({"convs_per_block": (1, 2)}, "a tuple of 1 of them"),
    ({"convs_per_block": (0,)}, "from 1 to 7"),
    ({"stem": 0}, "stem's number of filters"),
    ({"stem": 16.5}, "stem's number of filters"),
    ({"filters": (8, 16, 32, 64), "padding": "same", "stem": 8}, "a stem shrink the 28x28 image to nothing by block 4"),
]


@pytest.mark.parametrize("kwargs,message", BAD_CNN_ARGS, ids=[str(k) for k, _ in BAD_CNN_ARGS])
def test_bad_cnn_arguments_raise_before_building(kwargs, message, monkeypatch):
    args = dict(kwargs)
    assert_rejected_before_building(common.build_cnn, args.pop("filters", (8,)), args, message, monkeypatch)


def test_keras_io_reference_cnn_has_its_documented_size():
    assert common.build_cnn((32, 64), dropout=0.5, seed=0).count_params() == 34_826


def test_cnn_blocks_follow_the_arguments():
    model = common.build_cnn((8, 16), convs_per_block=2, padding="same", batch_norm=True, global_pool=True,
                             dense=(32,), dropout=0.1, seed=0)
    names = [layer.name for layer in model.layers]
    assert names[:8] == ["image", "add_channel", "conv1_1", "bn1_1", "relu1_1", "conv1_2", "bn1_2", "relu1_2"]
    assert "global_pool" in names and "dense_1" in names and model.get_layer("pool2").output.shape[1:3] == (7, 7)
    assert model.predict(np.zeros((2, 28, 28), np.float32), verbose=0).shape == (2, 10)


def test_stem_halves_the_image_and_blocks_take_their_own_conv_counts():
    model = common.build_cnn((16, 32), stem=8, convs_per_block=(1, 2), padding="same", batch_norm=True, seed=0)
    assert model.get_layer("relu0_stem").output.shape[1:] == (14, 14, 8)
    assert model.get_layer("conv0_stem").kernel.shape == (5, 5, 1, 8)
    convs = [layer.name for layer in model.layers if layer.name.startswith("conv")]
    assert convs == ["conv0_stem", "conv1_1", "conv2_1", "conv2_2"]
    assert model.get_layer("pool2").output.shape[1:] == (3, 3, 32)
    assert model.predict(np.zeros((2, 28, 28), np.float32), verbose=0).shape == (2, 10)


def test_same_pool_padding_keeps_the_last_row_and_column_of_odd_maps():
    """A 2x2 pool of a 7x7 map gives 3x3 ("valid", its 7th row and column unread) or 4x4 ("same"); 3x3 gives 1x1
    from 4 of its 9 positions, or 2x2 from all of them."""
    shapes = {}
    for padding in ("valid", "same"):
        model = common.build_cnn((8, 16, 32), stem=4, padding="same", pool_padding=padding, seed=0)
        shapes[padding] = [model.get_layer(f"pool{i}").output.shape[1:3] for i in (1, 2, 3)]
        assert model.predict(np.zeros((2, 28, 28), np.float32), verbose=0).shape == (2, 10)
    assert shapes == {"valid": [(7, 7), (3, 3), (1, 1)], "same": [(7, 7), (4, 4), (2, 2)]}
    # the 4x4 maps of "same" reach one block deeper before the image is used up
    common.build_cnn((8, 8, 8, 8), stem=4, padding="same", pool_padding="same", seed=0)
    with pytest.raises(ValueError, match="nothing by block 4"):
        common.build_cnn((8, 8, 8, 8), stem=4, padding="same", seed=0)



def test_cnn_computes_in_bfloat16_under_mixed_precision_but_gives_float32_probabilities():
    import keras
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = common.build_cnn((4,), batch_norm=True, seed=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("conv1_1").compute_dtype == "bfloat16"
    assert model.get_layer("softmax").compute_dtype == "float32"
    assert model.predict(np.zeros((2, 28, 28), np.float32), verbose=0).dtype == np.float32


def test_the_recipes_build_the_models_the_notebooks_write():
    """Each recipe is a notebook's model as one line of settings: the same sizes as the notebooks print
    (02's baseline, 05's best MLP, 07's CNNs), each compiled and named for its run."""
    sizes = {name: RECIPES[name].build(train_size=1_000, epochs=2, seed=0) for name in RECIPES}
    assert all(m.optimizer is not None and m.output_shape == (None, 10) for m in sizes.values())
    assert all(sizes[name].name == RECIPES[name].name for name in RECIPES)
    params = {name: m.count_params() for name, m in sizes.items()}
    assert params["BASELINE"] == 7_850 and params["KERASIO_CNN"] == 34_826
    assert params["BEST_MLP"] == 672_778 and params["MODERN_CNN"] == 878_842
    assert params["COMPACT_CNN"] == 9_202 and params["FAST_CNN"] == 29_658


def test_cosine_schedule_warms_up_then_anneals():
    import keras
    schedule = common.cosine_schedule(1e-2, epochs=10, train_size=1000, batch_size=100, warmup_fraction=0.2)
    def rate(step):
        return float(keras.ops.convert_to_numpy(schedule(step)))

    assert rate(0) == pytest.approx(4e-4) and rate(20) == pytest.approx(1e-2, rel=1e-3)
    assert rate(60) < rate(20) and rate(99) < 1e-4
    plain = common.cosine_schedule(1e-2, epochs=10, train_size=1000, batch_size=100)
    assert float(keras.ops.convert_to_numpy(plain(0))) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="warmup_fraction"):
        common.cosine_schedule(1e-2, epochs=1, train_size=10, batch_size=1, warmup_fraction=1)


def test_benchmarks_readme_shows_each_committed_result_as_the_report_renders_it():
    import report  # benchmarks/report.py: the tables, from results/<script>.json

    folder = Path(common.__file__).parent
    readme = (folder / "README.md").read_text()
    committed = sorted((folder / "results").glob("*.json"))
    assert committed, "benchmarks/results/ holds no results"
    for path in committed:
        assert report.render(path.stem) in readme, f"README.md lacks {path.name}: see python benchmarks/report.py"
