import keras
import pytest
from synthetic import tiny_splits

from mnistkit import recipes

ALL = {name: value for name, value in vars(recipes).items() if isinstance(value, recipes.Recipe)}


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_recipe_builds_a_compiled_model(name):
    recipe = ALL[name]
    model = recipe.build(train_size=1_000, epochs=2, seed=0)
    assert model.optimizer is not None and model.output_shape == (None, 10)
    assert model.name == recipe.name


def test_compact_cnn_stays_within_ten_thousand_weights():
    if "COMPACT_CNN" not in ALL:
        pytest.skip("no compact recipe")
    assert ALL["COMPACT_CNN"].build(train_size=1_000, epochs=1, seed=0).count_params() <= 10_000


def test_load_or_train_prefers_the_saved_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    data = tiny_splits()
    recipe = recipes.Recipe("tiny", "test", "mlp", {"hidden": (8,)}, epochs=1, patience=None)
    model, how = recipes.load_or_train(recipe, data, path=tmp_path / "missing.keras", epochs=1, seed=0)
    assert how == "trained now (run test to use its own)" and model.count_params() == 784 * 8 + 8 + 90
    saved = tmp_path / "saved.keras"
    model.save(saved)
    again, how = recipes.load_or_train(recipe, data, path=saved, epochs=1, seed=0)
    assert how == "loaded saved.keras" and isinstance(again, keras.Model)
