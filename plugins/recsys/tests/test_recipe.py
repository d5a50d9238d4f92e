"""`zoo train sasrec` / `gru4rec`: on planted walks the trained model beats popularity ranking, and its
checkpoint gives the same ranking quality when loaded back."""

import json

import pytest

import zoo
from zoo.cli import main
from zoo_recsys.ranking import recall_at_k
from zoo_recsys.recipe import K, NUM_ITEMS, planted_histories


def test_planted_data_is_mostly_in_cluster_walks():
    histories = planted_histories()
    step = (histories[:, 1:] - histories[:, :-1]) % (NUM_ITEMS // 10)
    assert 0.75 < (step == 1).float().mean() < 0.9  # 1 - noise, both neighbours in the walk (0.81)
    assert (planted_histories() == histories).all()


@pytest.mark.parametrize("name", ["sasrec", "gru4rec"])
def test_recipe_beats_popularity_and_its_checkpoint_loads(name, tmp_path, capsys):
    path = tmp_path / f"{name}.safetensors"
    assert main(["train", name, "--output", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index('{\n  "name"'):])["metrics"]
    assert metrics[f"recall@{K}"] >= 0.6 and metrics[f"recall@{K}"] >= 3 * metrics[f"popularity_recall@{K}"]
    assert metrics[f"ndcg@{K}"] > metrics[f"popularity_ndcg@{K}"]
    model = zoo.load(str(path))
    histories = planted_histories()
    ranked = model.recommend(histories[:, :-1], k=K, exclude=histories[:, :-1])
    assert recall_at_k(ranked, histories[:, -1:], NUM_ITEMS) == pytest.approx(metrics[f"recall@{K}"], abs=1e-6)
