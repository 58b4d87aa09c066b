"""The benchmark scripts' data handling (the scripts themselves run in CI's smoke runs)."""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from .conftest import mnist_home, needs_mnist

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
likelihood = pytest.importorskip("likelihood")


@pytest.fixture
def grey_mnist(monkeypatch):
    rng = np.random.default_rng(0)
    images = {"train": rng.random((50, 12)), "test": rng.random((20, 12))}

    def fake_load(subset, data_home=None, as_float=True):
        return images[subset].copy(), np.zeros(len(images[subset]), dtype=int)

    monkeypatch.setattr(likelihood, "load_mnist", fake_load)
    return images


def test_extra_training_draws_leave_the_single_draw_data_sets_unchanged(grey_mnist):
    train1, test1 = likelihood.load_binarised(None, 50, 0, "sample", train_draws=1)
    train3, test3 = likelihood.load_binarised(None, 50, 0, "sample", train_draws=3)
    assert train3.shape == (150, 12) and train3.dtype == np.float32
    np.testing.assert_array_equal(train3[:50], train1)
    np.testing.assert_array_equal(test3, test1)
    assert set(np.unique(train3)) <= {0.0, 1.0}
    # Independent draws of the same images: they differ, and each pixel's mean follows its grey value.
    assert not np.array_equal(train3[50:100], train3[:50])
    assert not np.array_equal(train3[100:], train3[50:100])
    train200, _ = likelihood.load_binarised(None, 50, 0, "sample", train_draws=200)
    means = train200.reshape(200, 50, 12).mean(axis=0)
    # 200 draws: standard error at most 0.035 per pixel.
    assert np.abs(means - grey_mnist["train"]).mean() < 0.04
    assert np.abs(means - grey_mnist["train"]).max() < 0.2


def test_extra_draws_need_sampled_binarisation():
    with pytest.raises(SystemExit):
        likelihood.parse_args(["--train-draws", "2"])
    with pytest.raises(SystemExit):
        likelihood.parse_args(["--train-draws", "0", "--binarise", "sample"])
    assert likelihood.parse_args(["--train-draws", "2", "--binarise", "sample"]).train_draws == 2


def test_results_markdown_states_the_settings_above_the_table():
    record = {
        "config": {
            "binarise": "sample",
            "train_draws": 4,
            "n_hidden": 500,
            "centred_weight_decay": 1e-4,
            "seed": 1,
            "ais_runs": 200,
            "ais_betas": 50000,
            "raise_runs": 5,
            "raise_betas": 5000,
            "raise_images": 200,
        },
        "environment": {"blas_threads": [["openblas", 2]]},
    }
    text = likelihood.results_markdown(record, "| table |")
    first, _, rest = text.partition("\n\n")
    assert "4 draws of each training image" in first and "seed 1" in first
    assert "weight decay 0.0001" in first and "200 runs x 50000" in first
    assert rest == "| table |\n"
    record["config"]["train_draws"] = 1
    assert "draws" not in likelihood.results_markdown(record, "")


def test_mnist_overrides_change_only_the_named_settings():
    import argparse

    mnist = pytest.importorskip("mnist")
    parser = argparse.ArgumentParser()
    base = mnist.MODES["record"]
    cfg = mnist.apply_overrides(
        base, ["dropout=0.5", "finetune_epochs=300", "max_norm=None"], parser
    )
    assert (cfg["dropout"], cfg["finetune_epochs"], cfg["max_norm"]) == (0.5, 300, None)
    assert isinstance(cfg["finetune_epochs"], int)
    assert {
        k: v for k, v in cfg.items() if k not in ("dropout", "finetune_epochs", "max_norm")
    } == {k: v for k, v in base.items() if k not in ("dropout", "finetune_epochs", "max_norm")}
    assert base["dropout"] == 0.3  # the mode itself is left as it was
    for bad in ("dropout", "no_such_setting=1"):
        with pytest.raises(SystemExit):
            mnist.apply_overrides(base, [bad], parser)


def test_mnist_fits_keep_their_convergence_warnings_and_say_what_they_found():
    mnist = pytest.importorskip("mnist")
    from dbn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.random((60, 8)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    net = MLPClassifier([4], max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning that escaped would raise here
        notes = mnist.fit_noting_convergence(net, X, y)
    assert notes and "Maximum iterations (2) reached" in notes[0]
    assert net.n_iter_ == 2  # the fit itself ran as asked
    assert mnist.convergence_note([]) == ""
    assert "fixed budget" in mnist.convergence_note(["Maximum iterations (2) reached"])
    assert "has not learnt" in mnist.convergence_note(["... the network has not learnt. ..."])

    class Noisy(MLPClassifier):
        def fit(self, X, y):
            warnings.warn("something else", UserWarning, stacklevel=2)
            return super().fit(X, y)

    with pytest.warns(UserWarning, match="something else"):  # other warnings are shown
        mnist.fit_noting_convergence(Noisy([4], max_iter=2, random_state=0), X, y)


@pytest.mark.parametrize(
    "argv",
    [
        ["--parts", "retrain", "--retrain-epochs", "best"],
        ["--parts", "reproduce,retrain", "--retrain-epochs", "0"],
        ["--parts", "reproduce,retrain", "--retrain-epochs", "many"],
        ["--parts", "reproduce", "--retrain-epochs", "5"],
    ],
)
def test_mnist_rejects_inconsistent_retrain_requests_before_any_work(argv, tmp_path):
    mnist = pytest.importorskip("mnist")
    with pytest.raises(SystemExit):
        mnist.main(["--record", "--output", str(tmp_path), *argv])
    assert not (tmp_path / "results.json").exists()


def test_mnist_summary_holds_each_result_against_its_target(tmp_path):
    mnist = pytest.importorskip("mnist")
    results = {
        "wall_seconds": 400.0,
        "config": mnist.MODES["default"],
        "plots": ["learning_curves.png"],
        # 1 - 0.984 is 0.016000000000000014: the error of 160 images in 10,000 meets 1.6 %.
        "reproduce": {"test_error": 1 - 0.984},
        "inits": {
            name: {"test_error": error}
            for name, error in [("zeros", 0.9), ("he (relu)", 0.03), ("dbn pretrained", 0.025)]
        },
    }
    lines = mnist.summary(results, "default", tmp_path)
    assert lines[1] == "  test error 1.60 % (target <= 1.6 %): met"
    assert "dbn pretrained 2.50 %, best of the others he (relu) 3.00 %" in lines[2]
    assert "short budget" in lines[2]  # the default mode's 2 epochs, against the full mode's 10
    assert lines[-1].endswith(
        f"{tmp_path.resolve()}: results.md, results.json, learning_curves.png"
    )
    results["reproduce"]["test_error"] = 0.0161
    results["retrain"] = {"test_error": 0.0108}
    results["config"] = mnist.MODES["full"]
    lines = mnist.summary(results, "full", tmp_path)
    assert lines[1] == "  test error 1.61 % (target <= 1.2 %): missed; stretch <= 1.1 %: missed"
    assert lines[2].endswith("1.08 % (target <= 1.2 %): met; stretch <= 1.1 %: met")
    assert "full budget" in lines[3]


def _dbm_benchmark():
    import importlib.util

    # By path: as a plain import, "dbm" is the standard library's module.
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "dbm.py"
    spec = importlib.util.spec_from_file_location("dbm_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dbm_benchmark_on_random_images(monkeypatch, n_train, n_test, n_features):
    """The DBM benchmark with MNIST replaced by uniform random images and 3 random classes."""
    bench = _dbm_benchmark()
    rng = np.random.default_rng(0)
    images = {"train": rng.random((n_train, n_features)), "test": rng.random((n_test, n_features))}

    def fake_load(subset, data_home=None, as_float=True):
        return images[subset].copy(), rng.integers(0, 3, len(images[subset]))

    monkeypatch.setattr(bench, "load_mnist", fake_load)
    return bench


def test_dbm_benchmark_runs_every_stage_and_reruns_one(monkeypatch, tmp_path):
    bench = _dbm_benchmark_on_random_images(monkeypatch, 300, 60, 20)
    argv = [
        "--n-train", "300", "--hidden", "6", "8", "--pretrain-epochs", "1", "--epochs", "1",
        "--n-test", "60", "--ais-runs", "10", "--ais-betas", "50", "--finetune-epochs", "2",
        "--no-dropout", "--reverse-gibbs-sweeps", "5", "--output", str(tmp_path),
    ]  # fmt: skip
    bench.main(argv)
    record = __import__("json").loads((tmp_path / "results.json").read_text())
    forward, reverse = record["likelihood"], record["reverse"]
    assert np.isfinite(forward["test_log_likelihood_bound"]) and reverse["runs"] == 100
    # Both bounds share the test images' mean unnormalised bound: they differ by the two log Z.
    assert reverse["test_log_likelihood_bound"] - forward["test_log_likelihood_bound"] == (
        pytest.approx(forward["log_z"] - reverse["log_z"])
    )
    assert "reverse AIS" in (tmp_path / "results.md").read_text()
    # One stage again: the others' results stay.
    bench.main([*argv, "--stages", "reverse", "--reverse-gibbs-sweeps", "6"])
    again = __import__("json").loads((tmp_path / "results.json").read_text())
    assert again["likelihood"] == forward and again["reverse"]["gibbs_sweeps"] == 6


def test_dbm_benchmark_keeps_a_record_from_before_a_setting_was_added(monkeypatch, tmp_path):
    """A staged rerun keeps a record whose settings lack one added to the script later, when
    the rerun leaves it at its default; another setting is refused by the model's checkpoint."""
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 200, 40, 12)
    argv = [
        "--n-train", "200", "--hidden", "5", "6", "--pretrain-epochs", "1", "--epochs", "1",
        "--n-test", "40", "--ais-runs", "10", "--ais-betas", "20", "--output", str(tmp_path),
    ]  # fmt: skip
    bench.main([*argv, "--stages", "train", "likelihood"])
    path = tmp_path / "results.json"
    record = json.loads(path.read_text())
    del record["config"]["centering"]  # as recorded before the option existed
    path.write_text(json.dumps(record))
    bench.main([*argv, "--stages", "reverse", "--reverse-gibbs-sweeps", "3"])
    again = json.loads(path.read_text())
    assert again["likelihood"] == record["likelihood"] and "reverse" in again
    # Another model in the same folder: refused before anything saved there is overwritten.
    with pytest.raises(ValueError, match=r"written by a DBM with other parameters"):
        bench.main([*argv, "--centering", "--stages", "reverse"])
    assert json.loads(path.read_text()) == again


def test_dbm_benchmark_interrupted_saves_nothing_but_the_checkpoint(monkeypatch, tmp_path):
    """Ctrl-C in joint training: no model file or record that a rerun would take for the trained
    model (fit returns the last whole epoch); the same command then resumes and finishes. A model
    file of an unfinished run, as written before this check, is not loaded as the trained one."""
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 100, 30, 12)
    argv = [
        "--n-train", "100", "--hidden", "5", "6", "--pretrain-epochs", "1", "--epochs", "3",
        "--n-test", "30", "--stages", "train", "--output", str(tmp_path),
    ]  # fmt: skip
    step, calls = bench.DBM._joint_step, []

    def interrupt_in_epoch_2(self, v, lr, y=None):
        calls.append(1)
        if len(calls) == 2:  # one minibatch per epoch of 100 rows
            raise KeyboardInterrupt
        return step(self, v, lr, y)

    monkeypatch.setattr(bench.DBM, "_joint_step", interrupt_in_epoch_2)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        with pytest.raises(SystemExit, match="after 1 of 3 joint epochs"):
            bench.main(argv)
    assert not (tmp_path / "dbm.safetensors").exists()
    assert not (tmp_path / "results.json").exists()
    assert (tmp_path / "checkpoint").is_dir()
    monkeypatch.setattr(bench.DBM, "_joint_step", step)
    bench.main(argv)  # resumes from the checkpoint
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["history"]["epoch"] == [1, 2, 3]
    assert bench.DBM.load(tmp_path / "dbm.safetensors").n_iter_ == 3
    # An unfinished model file (as an interrupted run wrote before) is trained again, not loaded.
    args, X = bench.parse_args(argv), bench.load_data(None, 100, 0)[0]
    unfinished = bench.make_model(args).set_params(verbose=0).fit(X)
    unfinished.n_iter_ = 1
    unfinished.save(tmp_path / "dbm.safetensors")
    assert bench.train(args, X, tmp_path)[1] is not None


def test_dbm_benchmark_pretrains_each_layer_for_its_own_epochs(monkeypatch, tmp_path):
    """--pretrain-epochs with one count per layer (the paper's code: 100 200) reaches the
    model, the record and the report; one count stays an int, as older records store it."""
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 100, 30, 12)
    argv = [
        "--n-train", "100", "--hidden", "5", "6", "--epochs", "1", "--n-test", "30",
        "--stages", "train", "--output", str(tmp_path),
    ]  # fmt: skip
    assert bench.parse_args([*argv, "--pretrain-epochs", "3"]).pretrain_epochs == 3
    with pytest.raises(SystemExit):
        bench.parse_args([*argv, "--pretrain-epochs", "1", "2", "3"])
    bench.main([*argv, "--pretrain-epochs", "1", "2"])
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["pretrain_epochs"] == [1, 2]
    assert [len(h["epoch"]) for h in record["pretrain_history"]] == [1, 2]
    assert "1 / 2 CD-1 epochs per pretraining RBM" in (tmp_path / "results.md").read_text()


def test_dbm_benchmark_dynamic_binarization_trains_on_the_grey_levels(monkeypatch, tmp_path):
    """--dynamic-binarization: the DBM gets the grey levels of the run's training images (and
    binarises them itself); the other stages keep the one sampled draw."""
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 100, 30, 12)
    grey, _ = bench.grey_training_images(None, 100, 0)
    seen = []
    fit = bench.DBM.fit

    def spy(self, X, y=None, **kwargs):
        seen.append((self.dynamic_binarization, X))
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(bench.DBM, "fit", spy)
    argv = [
        "--n-train", "100", "--hidden", "5", "6", "--pretrain-epochs", "1", "--epochs", "1",
        "--n-test", "30", "--ais-runs", "10", "--ais-betas", "20", "--dynamic-binarization",
        "--stages", "train", "likelihood", "--output", str(tmp_path),
    ]  # fmt: skip
    with pytest.raises(SystemExit):
        bench.parse_args([*argv, "--train-draws", "2"])
    bench.main(argv)
    assert seen[0][0] is True
    np.testing.assert_array_equal(seen[0][1], grey)
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["dynamic_binarization"] is True
    assert np.isfinite(record["likelihood"]["train_log_likelihood_bound"])
    assert "binarised anew in every minibatch" in (tmp_path / "results.md").read_text()


def test_dbm_benchmark_trains_on_extra_draws_and_fine_tunes_on_the_labelled_one(
    monkeypatch, tmp_path
):
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 100, 30, 12)
    train1, y1, test1, _ = bench.load_data(None, 100, 0)
    train3, y3, test3, _ = bench.load_data(None, 100, 0, train_draws=3)
    # The draws of benchmarks/likelihood.py: the first block and the test set are the
    # single-draw sets; the further blocks are other draws of the same images.
    assert train3.shape == (300, 12) and len(y3) == 100
    np.testing.assert_array_equal(train3[:100], train1)
    np.testing.assert_array_equal(test3, test1)
    assert not np.array_equal(train3[100:200], train1)
    argv = [
        "--n-train", "100", "--hidden", "5", "6", "--pretrain-epochs", "1", "--epochs", "1",
        "--n-test", "30", "--ais-runs", "10", "--ais-betas", "20", "--finetune-epochs", "1",
        "--no-dropout", "--train-draws", "3", "--stages", "train", "finetune",
        "--output", str(tmp_path),
    ]  # fmt: skip
    bench.main(argv)
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["train_draws"] == 3
    assert "3 independent binarisations" in (tmp_path / "results.md").read_text()
    assert 0 <= record["finetune"][0]["error_percent"] <= 100


def test_dbm_benchmark_supervised_trains_with_labels_on_every_draw(monkeypatch, tmp_path):
    """--supervised: the DBM gets each draw's labels, the likelihood stages are left out (or
    refused when asked for), and the DBM's own test error is recorded."""
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 100, 30, 12)
    seen = {}
    fit = bench.DBM.fit

    def spy(self, X, y=None, **kwargs):
        seen.setdefault("y", y)  # the trained model's call (the speed check's comes after)
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(bench.DBM, "fit", spy)
    argv = [
        "--n-train", "100", "--hidden", "5", "6", "--pretrain-epochs", "1", "--epochs", "1",
        "--n-test", "30", "--finetune-epochs", "1", "--no-dropout", "--train-draws", "2",
        "--supervised", "--output", str(tmp_path),
    ]  # fmt: skip
    assert bench.parse_args(argv).stages == ["train", "finetune"]
    with pytest.raises(SystemExit):
        bench.parse_args([*argv, "--stages", "train", "likelihood"])
    bench.main(argv)
    # Both draws of an image carry its label.
    assert seen["y"].shape == (200,)
    np.testing.assert_array_equal(seen["y"][:100], seen["y"][100:])
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["supervised"] and "likelihood" not in record
    assert 0 <= record["dbm_predict_error_percent"] <= 100
    text = (tmp_path / "results.md").read_text()
    assert "label units on the top layer" in text and "own mean-field labels" in text


def test_panel_study_never_chooses_a_candidate_whose_pretraining_collapsed():
    panel_study = pytest.importorskip("panel_study")
    names = list(panel_study.candidates())
    cells = []
    own = "DBN layer 1 of 2 (BernoulliRBM(500)) is not learning after 5 epochs: its error ..."
    gaussian = "DBN layer 1 of 2 (GaussianBernoulliRBM(500)) is not learning after 5 epochs: ..."
    consequence = (
        "DBN layer 2 of 2 (BernoulliRBM(500)) is not learning after 5 epochs: its inputs, the "
        "features of the layer below, hardly vary (mean variance 5.7e-05)"
    )
    for name, collapsed in (("wine", [gaussian, consequence]), ("mnist-inverted", [own])):
        errors = dict.fromkeys(names, 0.5)
        errors["b10 m0.5 / adam 1e-3"] = 0.1  # the best everywhere, but collapsed on one set
        errors["b10 m0.5 auto / adam 1e-3"] = 0.2
        pretrain = {
            "b10 m0.5": {"collapse_warnings": collapsed},
            "b10 m0.5 auto": {"collapse_warnings": [] if own in collapsed else collapsed},
        }
        cells.append(dict(set=name, seed=0, n_val=2000, errors=errors, pretrain=pretrain))
    chosen, scores = panel_study.choose(cells)
    assert chosen == "b10 m0.5 auto / adam 1e-3"
    assert scores["b10 m0.5 / adam 1e-3"]["collapsed"] == ["mnist-inverted"]
    assert scores["b10 m0.5 / adam 1e-3"]["worst"] < scores[chosen]["worst"]
    assert scores["b10 m0.9 / sgd 0.1"]["collapsed"] is None  # not recorded: still eligible


def test_panel_study_judges_a_set_by_its_mean_over_seeds():
    panel_study = pytest.importorskip("panel_study")
    names = list(panel_study.candidates())
    steady, erratic = "b10 m0.5 auto / adam 1e-3", "b10 m0.5 auto / sgd 0.1 b20"
    cells = []
    # On one seed the erratic candidate is far worse; on the two others it is slightly better.
    for seed, (steady_error, erratic_error) in enumerate(
        [(0.10, 0.30), (0.10, 0.02), (0.10, 0.02)]
    ):
        errors = dict.fromkeys(names, 0.5)
        errors[steady], errors[erratic] = steady_error, erratic_error
        cells.append(dict(set="small", seed=seed, n_val=100, errors=errors, pretrain={}))
    chosen, scores = panel_study.choose(cells)
    # Means over the seeds: 0.10 against 0.113, so the steady one is best and the ratio of the
    # erratic one is (0.113 + 0.02) / (0.10 + 0.02), not its worst seed's 0.32 / 0.12.
    assert chosen == steady
    assert scores[erratic]["worst"] == pytest.approx((0.34 / 3 + 0.02) / 0.12)


def test_panel_study_runs_more_seeds_where_the_validation_split_is_small():
    panel_study = pytest.importorskip("panel_study")
    assert [len(panel_study.grid_seeds(n)) for n in (36, 114, 200, 400, 2000, 10000)] == [
        10,
        9,
        5,
        3,
        1,
        1,
    ]


def test_panel_tiebreak_runs_new_seeds_after_the_grids():
    panel_study = pytest.importorskip("panel_study")
    # wine (36 validation examples, 10 grid seeds), rectangles (200, 5), a Larochelle set (2,000, 1)
    assert panel_study.tiebreak_seeds(36) == list(range(10, 20))
    assert panel_study.tiebreak_seeds(200) == [5, 6, 7, 8, 9]
    assert panel_study.tiebreak_seeds(2000) == [1, 2]


def test_panel_tiebreak_only_between_close_finalists_and_decided_over_all_seeds():
    panel_study = pytest.importorskip("panel_study")
    first, second, third = "a", "b", "c"
    scores = {
        first: dict(worst=1.254, mean=1.09, collapsed=[]),
        second: dict(worst=1.260, mean=1.10, collapsed=[]),
        third: dict(worst=1.20, mean=1.0, collapsed=["mnist"]),  # best, but not eligible
    }
    assert panel_study.finalists(scores) == (first, second)
    scores[second]["worst"] = 1.30
    assert panel_study.finalists(scores) is None
    assert panel_study.finalists({first: scores[first], third: scores[third]}) is None

    def cell(name, seed, n_val, a, b):
        return dict(set=name, seed=seed, n_val=n_val, errors={first: a, second: b})

    # On the grid's seed the first finalist wins on "big"; the new seeds turn the set round.
    grid = [cell("big", 0, 2000, 0.10, 0.11), cell("small", 0, 100, 0.02, 0.02)]
    new = [cell("big", 1, 2000, 0.14, 0.11), cell("big", 2, 2000, 0.14, 0.11)]
    winner, rows = panel_study.decide_tiebreak(grid, new, (first, second))
    assert winner == second
    assert rows["big"]["seeds"] == [0, 1, 2]
    assert rows["big"]["mean"][first] == pytest.approx(0.38 / 3)
    # the grid's floor: one point, or two validation examples (0.02 of 100) on the small set
    assert rows["big"]["ratio"][first] == pytest.approx((0.38 / 3 + 0.01) / (0.11 + 0.01))
    assert rows["small"]["ratio"] == {first: 1.0, second: 1.0}
    text = "\n".join(panel_study.tiebreak_markdown((first, second), winner, rows))
    assert "| big | 0-2 | 12.67 | 11.00 |" in text
    assert f"Winner: **{second}**" in text
    assert all(line.count("|") == 7 for line in text.splitlines() if line.startswith("|"))


def test_panel_warmup_rises_linearly_to_the_base_rate_and_clones():
    panel_study = pytest.importorskip("panel_study")
    from sklearn.base import clone

    from dbn import MLPClassifier

    warmup = panel_study.LinearWarmup(5)
    rates = [warmup(epoch, 0.1) for epoch in range(7)]
    assert rates == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1])
    net = clone(MLPClassifier(learning_rate_schedule=warmup))
    assert repr(net.learning_rate_schedule) == "LinearWarmup(5)"


def test_panel_tiebreak_ignores_a_stored_tiebreak_of_other_finalists(tmp_path):
    panel_study = pytest.importorskip("panel_study")
    assert panel_study.stored_tiebreak(tmp_path, ("a", "b")) == []
    cells = [dict(set="wine", seed=10, n_val=36, errors={"a": 0.0, "b": 0.0})]
    (tmp_path / "tiebreak.json").write_text(json.dumps(dict(pair=["a", "b"], cells=cells)))
    assert panel_study.stored_tiebreak(tmp_path, ("b", "a")) == cells
    assert panel_study.stored_tiebreak(tmp_path, ("a", "c")) is None
    with pytest.raises(SystemExit, match="other candidates"):
        panel_study.run_tiebreak(["wine"], ("a", "c"), print, tmp_path)


def test_panel_check_runs_more_seeds_where_the_test_split_is_small():
    panel_study = pytest.importorskip("panel_study")
    # wine (36 test examples), breast-cancer (114), digits (397), the Larochelle sets (50,000)
    assert [len(panel_study.check_seeds(n)) for n in (36, 114, 397, 50_000)] == [10, 9, 3, 3]


def test_panel_check_compares_each_arm_with_xavier_on_the_seeds_both_ran():
    panel_study = pytest.importorskip("panel_study")
    chosen = "b10 m0.5 auto / sgd 0.05 b20"

    def run(arm, candidate, seed, error):
        return dict(set="wine", seed=seed, arm=arm, candidate=candidate, test_error=error,
                    seconds=1.0)  # fmt: skip

    xavier = {0: 0.0, 1: 0.0, 2: 0.10, 3: 0.05, 4: 0.0}
    runs = [run("xavier", None, s, e) for s, e in xavier.items()]
    runs += [run("chosen", chosen, s, 0.02) for s in range(5)]
    runs += [run("previous", panel_study.PREVIOUS, s, 0.50) for s in range(3)]
    row = panel_study.summarise_check(runs, chosen)["wine"]
    assert row["seeds"] == [0, 1, 2, 3, 4]
    assert row["arm_seeds"]["previous"] == [0, 1, 2]
    # chosen: Xavier's mean over five seeds (3 %) less 2 %; previous: over its three (3.33 %)
    assert row["gain_mean"]["chosen"] == pytest.approx(1.0)
    assert row["gain_mean"]["previous"] == pytest.approx(100 * (0.1 / 3 - 0.5))
    assert "auto epochs" not in row["gain_mean"]
    text = panel_study.markdown([], chosen, {}, {"wine": row})
    assert "(3 seeds)" in text


def test_variations_pretraining_grid_scales_widths_and_epochs():
    variations = pytest.importorskip("variations")
    grid = variations.pretrain_grid("dbn3", 10, ["base", "longer", "wider"])
    assert grid == {
        "500-500-1000, 10 epochs": ([500, 500, 1000], 10, 0.01, "auto"),
        "500-500-1000, 30 epochs": ([500, 500, 1000], 30, 0.01, "auto"),
        "1000-1000-2000, 10 epochs": ([1000, 1000, 2000], 10, 0.01, "auto"),
    }
    xavier = variations.pretrain_grid("dbn3", 10, ["longest xavier"])
    assert xavier == {
        "500-500-1000, 50 epochs, xavier init": ([500, 500, 1000], 50, "xavier", "auto")
    }
    plain = variations.pretrain_grid("dbn3", 10, ["longest plain", "tenfold plain"])
    assert plain == {
        "500-500-1000, 50 epochs, plain": ([500, 500, 1000], 50, 0.01, False),
        "500-500-1000, 100 epochs, plain": ([500, 500, 1000], 100, 0.01, False),
    }
    with pytest.raises(SystemExit, match="unknown pretraining candidate 'deeper'"):
        variations.pretrain_grid("dbn1", 10, ["deeper"])


def test_variations_describes_every_pretraining_candidate_from_its_scale():
    variations = pytest.importorskip("variations")
    described = {n: variations.describe_candidate(n) for n in variations.PRETRAIN_GRID}
    assert described["base"] == "base: the architecture at --pretrain-epochs"
    assert described["longer"] == "longer: 3x the epochs"
    assert described["wider"] == "wider: 2x the widths"
    assert described["tenfold"] == "tenfold: 10x the epochs"
    assert described["longest xavier"] == (
        "longest xavier: 5x the epochs, initial weights at Glorot & Bengio's scale"
    )
    assert described["wider longest"] == "wider longest: 5x the epochs, 2x the widths"
    assert described["longest plain"] == (
        "longest plain: 5x the epochs, every layer plain (not centred)"
    )
    grid = variations.pretrain_grid("dbn1", 10, list(variations.PRETRAIN_GRID))
    assert grid["1000, 100 epochs"] == ([1000], 100, 0.01, "auto")  # tenfold
    assert grid["2000, 50 epochs"] == ([2000], 50, 0.01, "auto")  # wider longest
    assert grid["1000, 100 epochs, plain"] == ([1000], 100, 0.01, False)  # tenfold plain


def test_variations_svm_grid_crosses_every_c_with_every_gamma():
    variations = pytest.importorskip("variations")
    assert variations.svm_grid() == [
        dict(C=1.0, gamma_factor=1.0),
        dict(C=1.0, gamma_factor=3.0),
        dict(C=10.0, gamma_factor=1.0),
        dict(C=10.0, gamma_factor=3.0),
    ]
    assert len(variations.svm_grid((1.0, 10.0, 100.0), (0.3, 1.0, 3.0))) == 9


def _tiny_split(seed):
    """Train / validation / test splits of 60 random binary rows, for the table's runners."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    X = (rng.random((60, 12)) < 0.3).astype(np.float32)
    y = np.arange(60) % 2
    return SimpleNamespace(X_train=X[:40], y_train=y[:40], X_val=X[40:50], y_val=y[40:50],
                           X_test=X[50:], y_test=y[50:])  # fmt: skip


def test_variations_runs_only_the_candidates_a_stored_cell_lacks():
    variations = pytest.importorskip("variations")
    from types import SimpleNamespace

    d = _tiny_split(seed=0)
    lines = []

    def args(grid):
        return SimpleNamespace(pretrain_epochs=1, finetune_epochs=2, pretrain_grid=grid)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = variations.run_dbn(d, "dbn1", args("base"), 0, lines.append)
        n_first = len(lines)
        grown = variations.run_dbn(d, "dbn1", args("base,longer"), 0, lines.append, previous=first)
    # Only the added pretraining ran: one pretraining line and one line per fine-tuning setting.
    assert len(lines) - n_first == 1 + len(variations.FINETUNE_GRID)
    assert "1000, 3 epochs" in lines[n_first]
    assert set(grown["candidates"]) == set(variations.dbn_candidates("dbn1", args("base,longer")))
    assert {k: first["candidates"][k] for k in first["candidates"]}.items() <= grown[
        "candidates"
    ].items()
    best = min(grown["candidates"], key=lambda k: grown["candidates"][k]["validation_error"])
    assert grown["validation_error"] == grown["candidates"][best]["validation_error"]
    if grown["chosen"] == first["chosen"]:
        assert grown["test_error"] == first["test_error"]


def test_variations_plain_candidates_train_every_layer_uncentred_and_say_so():
    variations = pytest.importorskip("variations")
    from types import SimpleNamespace

    d = _tiny_split(seed=0)
    # Mostly-on inputs (mean 0.7): "auto" centres the first layer, the plain candidate does not.
    for part in ("X_train", "X_val", "X_test"):
        setattr(d, part, 1.0 - getattr(d, part))
    args = SimpleNamespace(pretrain_epochs=1, finetune_epochs=2, pretrain_grid="base,longest plain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = variations.run_dbn(d, "dbn1", args, 0, lambda line: None)
    for name, candidate in cell["candidates"].items():
        expected = [False] if name.startswith("1000, 5 epochs, plain / ") else [True]
        assert candidate["centred_layers"] == expected, name
    plain = {**cell, "pretraining": dict(cell["pretraining"], centering=False)}
    assert "plain" in variations._pretraining_label(plain)


def test_variations_settings_name_the_cells_a_pretraining_candidate_ran_on(tmp_path):
    variations = pytest.importorskip("variations")
    stored = {"validation_error": 0.1, "seconds": 1.0, "epochs": 3}
    results = {
        "mnist-back-rand": {
            "dbn3": {"candidates": {
                "500-500-1000, 10 epochs / adam 1e-3": stored,
                "500-500-1000, 50 epochs, plain / adam 1e-3": stored,
            }},
        },
        "rectangles": {"dbn3": {"candidates": {"500-500-1000, 10 epochs / adam 1e-3": stored}}},
    }  # fmt: skip
    text = variations.partial_pretrainings(results, ["base", "longest plain"], 10)
    assert text == "; pretraining 'longest plain' ran only on mnist-back-rand DBN-3"
    assert variations.partial_pretrainings(results, ["base"], 10) == ""
    # --render writes the table again from the stored cells, nothing run, the machine kept.
    for cell in results.values():
        cell["dbn3"].update(chosen="x", validation_error=0.1, test_error=0.2, seconds=1.0)
    (tmp_path / "results.json").write_text(
        json.dumps({"machine": {"cpu": "then"}, "results": results})
    )
    variations.main(["--sets", "", "--render", "--pretrain-grid", "base,longest plain",
                     "--output", str(tmp_path)])  # fmt: skip
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["machine"] == {"cpu": "then"}
    assert "'longest plain' ran only on mnist-back-rand DBN-3" in written["settings"]
    assert "'longest plain' ran only on" in (tmp_path / "results.md").read_text()


def test_variations_runs_again_only_the_candidates_that_ran_into_a_smaller_cap():
    variations = pytest.importorskip("variations")
    from types import SimpleNamespace

    d = _tiny_split(seed=1)
    lines = []

    def args(cap):
        return SimpleNamespace(pretrain_epochs=1, finetune_epochs=cap, pretrain_grid="base")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = variations.run_dbn(d, "dbn1", args(2), 0, lines.append)
    # A stored candidate that stopped before its cap is done; one that hit it is pending.
    capped = dict(first, candidates=dict(first["candidates"]))
    # A fine-tuning setting that fixes its own epochs ("record dropout") is never capped.
    own = [n for n in capped["candidates"] if variations.sets_own_epochs(n.split(" / ")[1])]
    assert own == ["1000, 1 epochs / record dropout"]
    names = sorted(set(capped["candidates"]) - set(own))
    for name in names + own:
        capped["candidates"][name] = dict(capped["candidates"][name], epochs=2, max_iter=2)
    capped["candidates"][names[0]] = dict(capped["candidates"][names[0]], epochs=1)
    assert variations.pending_candidates("dbn1", args(2), capped) == []
    assert set(variations.pending_candidates("dbn1", args(5), capped)) == set(names[1:])
    # Candidates stored without their cap were measured at the old one, 50 epochs.
    old = dict(first["candidates"][names[1]], epochs=50)
    del old["max_iter"]
    assert variations.ran_into_cap(old, 200) and not variations.ran_into_cap(old, 50)

    n_first = len(lines)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        longer = variations.run_dbn(d, "dbn1", args(5), 0, lines.append, previous=capped)
    # One pretraining again, and only the capped fine-tunings, each with its old figure logged.
    assert len(lines) - n_first == 1 + 2 * (len(names) - 1)
    assert longer["candidates"][names[0]] == capped["candidates"][names[0]]
    assert longer["candidates"][own[0]] == capped["candidates"][own[0]]
    assert all(longer["candidates"][n]["max_iter"] == 5 for n in names[1:])
    # The pretraining was paid for in the stored total: only the fine-tunings are added.
    added = sum(longer["candidates"][n]["seconds"] - capped["candidates"][n]["seconds"]
                for n in names[1:])  # fmt: skip
    assert longer["seconds"] == pytest.approx(capped["seconds"] + added)
    # The table's settings name the cells whose capped candidates ran again at a larger cap.
    raised = {"a": dict(longer["candidates"][names[1]], max_iter=200)}
    text = variations.finetune_caps({"rectangles": {"dbn3": {"candidates": raised}}})
    assert text.startswith("fine-tuning at most 50 epochs")
    assert "(200 for the candidates of rectangles DBN-3 that had run into 50" in text
    assert variations.finetune_caps({"rectangles": {"dbn1": first}}).endswith("on validation")


def test_variations_tries_a_new_finetuning_only_with_the_best_pretrainings(monkeypatch):
    variations = pytest.importorskip("variations")
    from types import SimpleNamespace

    def args(grid, top=None):
        return SimpleNamespace(
            pretrain_epochs=1, finetune_epochs=2, pretrain_grid=grid, top_pretrainings=top
        )

    d = _tiny_split(seed=2)
    lines = []
    old_grid = {k: v for k, v in variations.FINETUNE_GRID.items() if k != "record dropout"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setattr(variations, "FINETUNE_GRID", old_grid)
        stored = variations.run_dbn(d, "dbn1", args("base,longer,wider"), 0, lines.append)
        monkeypatch.undo()
        # Validation errors that rank the pretrainings: wider, then base, then longer.
        errors = {"1000, 1 epochs": 0.2, "1000, 3 epochs": 0.3, "2000, 1 epochs": 0.1}
        for name in stored["candidates"]:
            stored["candidates"][name]["validation_error"] = errors[name.split(" / ")[0]]
        assert variations.best_pretrainings(stored["candidates"], 2) == [
            "2000, 1 epochs",
            "1000, 1 epochs",
        ]
        pending = variations.pending_candidates("dbn1", args("base,longer,wider", 2), stored)
        assert pending == ["1000, 1 epochs / record dropout", "2000, 1 epochs / record dropout"]
        everywhere = variations.pending_candidates("dbn1", args("base,longer,wider"), stored)
        assert len(everywhere) == 3
        # Nothing stored: every candidate runs, whatever K.
        assert len(variations.pending_candidates("dbn1", args("base", 1), None)) == len(
            variations.FINETUNE_GRID
        )
        n_first = len(lines)
        grown = variations.run_dbn(
            d, "dbn1", args("base,longer,wider", 1), 0, lines.append, previous=stored
        )
    # One stack pretrained again (the best) and fine-tuned once, with the setting's own epochs.
    assert len(lines) - n_first == 2 and "2000, 1 epochs" in lines[n_first]
    added = grown["candidates"]["2000, 1 epochs / record dropout"]
    assert added["max_iter"] == variations.FINETUNE_GRID["record dropout"]["max_iter"]
    # The stack was paid for in the stored total: only the fine-tuning is added.
    assert grown["seconds"] == pytest.approx(stored["seconds"] + added["seconds"])
    # The same command again has nothing to do; a larger K adds the next stack only.
    assert variations.pending_candidates("dbn1", args("base,longer,wider", 1), grown) == []
    assert variations.pending_candidates("dbn1", args("base,longer,wider", 2), grown) == [
        "1000, 1 epochs / record dropout"
    ]
    text = variations.partial_finetunings({"mnist-rot": {"dbn1": grown}})
    assert "fine-tuning 'record dropout' (200 epochs) tried only with some" in text
    assert text.endswith("mnist-rot DBN-1 1 of 3")
    assert variations.partial_finetunings({"mnist-rot": {"dbn1": stored}}) == ""
    # A cell that has not tried a setting that another cell tried is named too.
    both = variations.partial_finetunings({"mnist-rot": {"dbn1": grown, "dbn3": stored}})
    assert both.endswith("mnist-rot DBN-1 1 of 3, mnist-rot DBN-3 0 of 3")
    assert "record dropout" in variations.finetune_caps({"mnist-rot": {"dbn1": grown}})


def test_variations_nnet_crosses_every_width_with_every_finetuning():
    variations = pytest.importorskip("variations")
    from types import SimpleNamespace

    d = _tiny_split(seed=3)
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = variations.run_nnet(d, SimpleNamespace(finetune_epochs=2), 0, lines.append)
    expected = {f"{w} / {f}" for w in variations.NNET_WIDTHS for f in variations.NNET_FINETUNING}
    assert set(cell["candidates"]) == expected and len(lines) == len(expected)
    caps = {n: c["max_iter"] for n, c in cell["candidates"].items()}
    assert caps["500 / adam 1e-3"] == 2 and caps["500 / record dropout"] == 200
    best = min(cell["candidates"], key=lambda n: cell["candidates"][n]["validation_error"])
    assert cell["validation_error"] == cell["candidates"][best]["validation_error"]
    assert cell["seconds"] == pytest.approx(sum(c["seconds"] for c in cell["candidates"].values()))
    # The table's settings name the NNet's fine-tunings; cells stored by width alone ran Adam.
    text = variations.finetune_caps({"mnist-rot": {"nnet": cell}})
    assert text.endswith(
        "(fine-tuning: adam 1e-3, record dropout; record dropout with its own epochs)"
    )
    old = {"nnet": {"max_iter": 200, "candidates": {"500": {}, "1000": {}}}}
    assert variations.finetune_caps({"mnist-rot": old}).endswith("(fine-tuning: adam 1e-3)")


def test_small_sets_rescaling_lifts_each_pre_activation_to_unit_spread_and_keeps_its_mean():
    small_sets = pytest.importorskip("small_sets")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    # The first unit's pre-activation already varies (kept as is), the others barely do.
    W1 = np.full((6, 3), 0.01)
    W1[:, 0] = 1.0
    layers = [(W1, np.array([0.5, -1.0, 2.0])), (np.full((3, 2), 0.02), np.zeros(2))]
    scaled = small_sets.rescale_to_unit_preactivation(layers, X)
    h = X
    for (W, b), (W_new, b_new) in zip(layers, scaled, strict=True):
        z, z_new = h @ W + b, h @ W_new + b_new
        assert np.all(z_new.std(axis=0) >= 1.0 - 1e-9)
        np.testing.assert_allclose(z_new.mean(axis=0), z.mean(axis=0), atol=1e-9)
        kept = z.std(axis=0) >= 1.0
        np.testing.assert_array_equal(W_new[:, kept], W[:, kept])
        h = 1.0 / (1.0 + np.exp(-z_new))
    assert kept.sum() == 0 and scaled[0][0][0, 0] == 1.0
    assert layers[0][0][0, 1] == 0.01  # the caller's weights are not touched


def test_small_sets_widths_are_the_set_up_s_or_the_library_s_default():
    small_sets = pytest.importorskip("small_sets")
    assert small_sets.widths_for([500, 500], 30) == [500, 500]
    assert small_sets.widths_for("auto", 13) == [128, 128, 128]  # wine's 13 inputs
    assert small_sets.widths_for("auto", 784) == [500, 500, 2000]


def test_dbm_classifier_table_names_every_row_and_the_command():
    from argparse import Namespace

    dbm_classifier = pytest.importorskip("dbm_classifier")
    row = dict(val_error=0.015, probe_error=0.0436, final_loss=0.05, finetune_seconds=166.0)
    rows = [
        dict(row, model="DBM, 60 joint epochs", pretrain_seconds=1133.0),
        dict(row, model="Xavier", pretrain_seconds=0.0, val_error=0.0179),
    ]
    args = Namespace(
        n_train=60000, pretrain_epochs=20, joint_epochs="30,60", finetune_epochs=30,
        no_baselines=True,
    )  # fmt: skip
    table = dbm_classifier.markdown(rows, args)
    assert "--joint-epochs 30,60 --finetune-epochs 30 --no-baselines`" in table
    assert "| DBM, 60 joint epochs | 1.50 | 4.36 | 0.0500 | 1133 | 166 |" in table
    assert "| Xavier | 1.79 |" in table


def test_small_sets_table_names_the_split_it_scored_and_the_command():
    small_sets = pytest.importorskip("small_sets")
    layer = dict(unit_std=0.1, saturated=0.0, gradient_std=0.001)
    runs = [
        dict(set="wine", seed=0, variant="chosen", init=[layer], error=0.05, seconds=1.0),
        dict(set="wine", seed=0, variant="Xavier", init=[layer], error=0.02, seconds=0.1),
    ]
    table = small_sets.markdown(runs, "auto", "auto", "test")
    assert "--widths auto --split test --variants chosen`" in table
    assert "| test error (%) |" in table and "check's seeds" in table
    assert "| wine | 1 | chosen | 5.00 |" in table and "| wine | 1 | Xavier | 2.00 |" in table
    # Runs stored before the split was recorded carry their validation error as val_error.
    old = [dict(r, val_error=r.pop("error")) for r in runs]
    assert "| validation error (%) |" in small_sets.markdown(old, "auto")


def test_panel_collapse_counts_only_after_the_library_s_floor_of_updates():
    panel_study = pytest.importorskip("panel_study")
    pre = panel_study.ROUND9_PRETRAINING
    # Five epochs in minibatches of 10: wine's 106 rows are 55 updates, MNIST's 30,000 are 15,000.
    assert panel_study.grid_updates("wine", pre) == 55
    assert panel_study.grid_updates("mnist", pre) == 15_000
    warning = "DBN layer 2 of 2 (BernoulliRBM(500)) is not learning after 5 epochs"
    cells = [
        dict(set=name, seed=0, pretrain={pre: dict(collapse_warnings=[warning])})
        for name in ("wine", "mnist")
    ]
    assert panel_study.collapsed_cells(cells, f"{pre} / sgd 0.05 b20") == ["mnist"]


def test_small_sets_cv_folds_hold_out_every_row_once_per_repeat():
    small_sets = pytest.importorskip("small_sets")
    y = np.repeat([0, 1, 2], [50, 60, 32])  # wine's 142 pooled rows, three classes
    folds = small_sets.cv_folds(y)
    assert len(folds) == 5 * 8  # ceil(1000 / 142) = 8 repeats of 5 folds
    for repeat in range(8):
        held_out = np.concatenate([h for _, h in folds[5 * repeat : 5 * repeat + 5]])
        assert sorted(held_out) == list(range(len(y)))
    for train, held_out in folds:
        assert not set(train) & set(held_out)
        assert set(y[held_out]) == {0, 1, 2}  # stratified


def test_small_sets_gain_is_paired_seed_by_seed():
    small_sets = pytest.importorskip("small_sets")
    runs = [
        dict(set="wine", seed=s, variant=v, error=e)
        for s, (x, c) in enumerate([(0.10, 0.05), (0.00, 0.05), (0.20, 0.10)])
        for v, e in (("Xavier", x), ("chosen", c))
    ]
    # gains 5, -5 and 10 points: mean 3.33, standard error std(ddof=1) / sqrt(3) = 4.41
    assert small_sets.paired_gain(runs, "wine", "chosen") == "+3.33 ± 4.41"
    assert small_sets.paired_gain(runs, "wine", "Xavier") == ""


def test_small_sets_variant_names_survive_the_comma_separated_option():
    small_sets = pytest.importorskip("small_sets")
    assert all("," not in name for name in small_sets.VARIANTS)
    assert set(small_sets.DEFAULT_VARIANTS) <= set(small_sets.VARIANTS)


def test_small_sets_xavier_net_variant_changes_the_recipe_not_the_start():
    small_sets = pytest.importorskip("small_sets")
    runs = small_sets.run_set(
        "wine", 1, lambda message: None, widths=[8], variants=["Xavier net + SGD 0.1"]
    )
    seed0 = {r["variant"]: r for r in runs if r["seed"] == 0}
    recipe, own = seed0["Xavier net + SGD 0.1"], seed0["Xavier"]
    # The same initial net (no pretraining), statistic for statistic ...
    assert recipe["init"] == own["init"]
    # ... fine-tuned by the library's recipe (to_mlp()'s defaults) instead of Adam.
    from dbn.stack import TO_MLP_DEFAULTS

    recipe_knobs = small_sets.VARIANTS["Xavier net + SGD 0.1"]["finetune"]
    assert recipe_knobs == {name: TO_MLP_DEFAULTS[name] for name in recipe_knobs}


def test_heldout_check_runs_every_arm_on_plain_and_inverted_images(monkeypatch, tmp_path):
    heldout = pytest.importorskip("heldout")
    rng = np.random.default_rng(0)
    n = heldout.N_TEST + 60
    y = np.arange(n) % 3
    X = (rng.random((n, 784)) * 255).astype(np.uint8)
    X[:, :3] = np.eye(3, dtype=np.uint8)[y] * 255  # a learnable signal
    np.savez(tmp_path / "set.npz", X=X, y=y)
    tiny = (dict(hidden_layer_sizes=[6], n_iter=1), dict(max_iter=3))
    monkeypatch.setattr(heldout, "ARMS", {"issue": tiny, "defaults": tiny})
    monkeypatch.setattr(heldout, "STACK", dict(hidden_layer_sizes=[6]))
    out = tmp_path / "out"
    heldout.main(["--npz", str(tmp_path / "set.npz"), "--seeds", "0", "--output", str(out)])
    table = (out / "results.md").read_text()
    for row in ("| plain | issue | 0 |", "| plain | defaults | 0 |", "| inverted | issue | 0 |"):
        assert row in table
    with pytest.raises(SystemExit, match="--arms: unknown"):
        heldout.main(["--npz", str(tmp_path / "set.npz"), "--arms", "nope"])
    np.savez(tmp_path / "bad.npz", X=X[:, :10], y=y)
    with pytest.raises(ValueError, match=r"must have shape \(n, 784\)"):
        heldout.load_npz(tmp_path / "bad.npz")


def test_heldout_grey_images_are_lifted_and_the_raw_input_arm_runs(monkeypatch, tmp_path):
    heldout = pytest.importorskip("heldout")
    np.testing.assert_allclose(
        heldout.IMAGES["grey"](np.array([[0.0, 0.5, 1.0]])), [[0.7, 0.85, 1.0]]
    )
    assert heldout.ARMS["issue-raw"][1]["center_inputs"] is False
    assert "center_inputs" not in heldout.ARMS["issue"][1]  # today's default: centred
    rng = np.random.default_rng(0)
    n = heldout.N_TEST + 60
    y = np.arange(n) % 3
    X = (rng.random((n, 784)) * 255).astype(np.uint8)
    np.savez(tmp_path / "set.npz", X=X, y=y)
    tiny = (dict(hidden_layer_sizes=[6], n_iter=1), dict(max_iter=3))
    monkeypatch.setattr(heldout, "ARMS", {"issue": tiny, "issue-raw": tiny})
    monkeypatch.setattr(heldout, "STACK", dict(hidden_layer_sizes=[6]))
    argv = ["--npz", str(tmp_path / "set.npz"), "--seeds", "0", "--images", "grey"]
    heldout.main([*argv, "--arms", "issue,issue-raw", "--output", str(tmp_path / "out")])
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| grey | issue | 0 |" in table and "| grey | issue-raw | 0 |" in table


def test_dbm_record_variant_is_stored_beside_the_record_not_over_it(monkeypatch, tmp_path):
    import json

    bench = _dbm_benchmark_on_random_images(monkeypatch, 100, 30, 12)
    calls = []

    def fake_record(args, dbm, dropout=None, dropout_input=None, retrain=True, solver="sgd"):
        calls.append((dropout, dropout_input, retrain, solver))
        result = dict(chosen_epochs=7, validation_epochs=9, best_val_error_percent=1.5)
        return result | ({"test_error_percent": 1.25} if retrain else {})

    monkeypatch.setattr(bench, "finetune_record", fake_record)
    argv = [
        "--n-train", "100", "--hidden", "5", "6", "--pretrain-epochs", "1", "--epochs", "1",
        "--output", str(tmp_path),
    ]  # fmt: skip
    bench.main([*argv, "--stages", "train", "record"])
    bench.main([*argv, "--stages", "record", "--record-dropout", "0.5", "0.2",
                "--record-validation-only"])  # fmt: skip
    bench.main([*argv, "--stages", "record", "--record-solver", "cg"])
    assert calls == [(None, None, True, "sgd"), (0.5, 0.2, False, "sgd"), (None, None, True, "cg")]
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["finetune_record"]["test_error_percent"] == 1.25  # kept
    assert record["finetune_record_variants"]["0.5/0.2"]["best_val_error_percent"] == 1.5
    table = (tmp_path / "results.md").read_text()
    assert "dropout 0.5/0.2 (hidden/input)" in table and "| 1.50; not run |" in table
    assert set(record["finetune_record_variants"]) == {"0.5/0.2", "cg"}
    assert "| the paper's CG fine-tuning, no dropout: validation error" in table
    assert "| 1.50; 1.25 |" in table


def test_dbm_record_cg_variant_fine_tunes_by_conjugate_gradient_without_dropout(monkeypatch):
    """The CG variant of stage record runs for real on tiny splits: the validation run's epochs
    pick the retrained net's, and the nets are CG ones with no dropout or weight decay."""
    bench = _dbm_benchmark_on_random_images(monkeypatch, 120, 40, 12)
    import mnist as record_protocol

    rng = np.random.default_rng(1)
    X, y = rng.random((200, 12)), np.arange(200) % 3
    X[:, :3] = np.eye(3)[y]  # a learnable signal
    splits = {"train": (X[:120], y[:120]), "val": (X[120:160], y[120:160]),
              "test": (X[160:], y[160:])}  # fmt: skip
    monkeypatch.setattr(record_protocol, "load_splits", lambda data_home=None: splits)
    monkeypatch.setattr(bench, "CG_RECORD_EPOCHS", 4)
    nets = []
    real_to_mlp = bench.DBM.to_mlp

    def spy(self, *args, **kwargs):
        nets.append(real_to_mlp(self, *args, **kwargs))
        return nets[-1]

    monkeypatch.setattr(bench.DBM, "to_mlp", spy)
    dbm = bench.DBM(hidden_layer_sizes=[5, 6], pretrain_n_iter=1, n_iter=1, random_state=0)
    dbm.fit(X[:120])
    args = bench.parse_args(["--n-train", "120", "--hidden", "5", "6"])
    result = bench.finetune_record(args, dbm, solver="cg")
    assert result["solver"] == "cg" and result["validation_epochs"] == 4
    assert 1 <= result["chosen_epochs"] <= 4 and 0 <= result["test_error_percent"] <= 100
    validation, retrained = nets
    for net in nets:
        assert net.solver == "cg" and net.alpha == 0.0
        assert net.dropout_hidden == 0.0 and net.dropout_input == 0.0
    assert validation.n_iter_ == 4  # every epoch ran: the validation error picks afterwards
    assert retrained.n_iter_ == result["chosen_epochs"]


def _write_rdatasets_csv(path, header, rows):
    """A CSV as the Rdatasets collection exports R's data frames: a first, unnamed column of row
    names, quoted strings."""
    lines = [",".join(f'"{h}"' for h in ["", *header])]
    for i, row in enumerate(rows, 1):
        cells = [f'"{v}"' if isinstance(v, str) and v != "NA" else str(v) for v in row]
        lines.append(",".join([f'"{i}"', *cells]))
    path.write_text("\n".join(lines) + "\n")


def test_heldout_tabular_reads_mass_tables_and_scores_every_arm_against_xavier(
    monkeypatch, tmp_path
):
    import functools
    import json

    heldout_tabular = pytest.importorskip("heldout_tabular")
    rng = np.random.default_rng(0)
    # crabs: a label of two columns, a row-number column dropped, 4 balanced classes.
    crabs = []
    for i in range(40):
        sp, sex = "BO"[i % 2], "FM"[(i // 2) % 2]
        signal = 3.0 * (i % 2) + 1.5 * ((i // 2) % 2)
        crabs.append([sp, sex, i, *(signal + rng.normal(size=5)).round(3)])
    _write_rdatasets_csv(
        tmp_path / "crabs.csv", ["sp", "sex", "index", "FL", "RW", "CL", "CW", "BD"], crabs
    )
    # biopsy: integer scores with missing values, which drop their rows.
    biopsy = [[1000 + i, *rng.integers(1, 11, 9).tolist(), ("benign", "malignant")[i % 2]]
              for i in range(30)]  # fmt: skip
    biopsy[3][6] = "NA"
    _write_rdatasets_csv(
        tmp_path / "biopsy.csv", ["ID", *(f"V{k}" for k in range(1, 10)), "class"], biopsy
    )
    X, y = heldout_tabular.load_table(tmp_path, "crabs")
    assert X.shape == (40, 5) and sorted(set(y)) == ["B:F", "B:M", "O:F", "O:M"]
    X, y = heldout_tabular.load_table(tmp_path, "biopsy")
    assert X.shape == (29, 9) and X.dtype == float  # the row with NA dropped, ID not a feature
    with pytest.raises(FileNotFoundError, match="--data-dir must hold the CSV files"):
        heldout_tabular.load_table(tmp_path, "fgl")
    # Rdatasets' layout, one folder per package, is found too.
    (tmp_path / "MASS").mkdir()
    (tmp_path / "crabs.csv").rename(tmp_path / "MASS" / "crabs.csv")
    X_crabs, _ = heldout_tabular.load_table(tmp_path, "crabs")
    assert X_crabs.shape == (40, 5)
    # Each fold standardised by its own training rows.
    X_train, X_held_out = heldout_tabular.standardised(X[:20], X[20:])
    assert np.all(np.isfinite(X_held_out))
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0), 1)

    tiny_dbn = functools.partial(heldout_tabular.DBN, hidden_layer_sizes=[4], n_iter=1)
    monkeypatch.setattr(heldout_tabular, "DBN", tiny_dbn)
    panel_study = pytest.importorskip("panel_study")
    monkeypatch.setattr(panel_study, "STACK", dict(hidden_layer_sizes=[4]))
    monkeypatch.setattr(panel_study, "FINETUNE_EPOCHS", 2)
    folds = heldout_tabular.cv_folds
    monkeypatch.setattr(heldout_tabular, "cv_folds", lambda y: folds(y)[:2])
    monkeypatch.setattr(
        heldout_tabular, "ARMS", dict(heldout_tabular.ARMS, defaults=dict(max_iter=2))
    )
    out = tmp_path / "out"
    heldout_tabular.main(["--data-dir", str(tmp_path), "--sets", "crabs", "--output", str(out)])
    record = json.loads((out / "results.json").read_text())
    runs = record["results"]["crabs"]
    assert len(runs) == 2 and all(r["n_train"] + r["n_held_out"] == 40 for r in runs)
    for arm in ("defaults", "Adam batch=auto", "SGD 0.1", "Xavier init same net", "Xavier"):
        assert all(0 <= r[arm] <= 100 for r in runs)
    table = (out / "results.md").read_text()
    assert "| crabs | 40 x 5, 4 | 2 | defaults |" in table and "| runs |" in table
    assert "| crabs | 40 x 5, 4 | 2 | SGD 0.1 |" in table
    assert record["commands"][-1]["threads"] >= 1 and "Numba thread(s))" in table
    (out / "results.md").unlink()
    heldout_tabular.main(["--data-dir", "unused", "--report", "--output", str(out)])
    assert (out / "results.md").read_text().rstrip("\n") == table.rstrip("\n")
    # A run of another set keeps the stored one, and both commands are listed.
    heldout_tabular.main(["--data-dir", str(tmp_path), "--sets", "biopsy", "--output", str(out)])
    record = json.loads((out / "results.json").read_text())
    assert set(record["results"]) == {"crabs", "biopsy"} and len(record["commands"]) == 2
    assert "--sets crabs" in (out / "results.md").read_text()
    with pytest.raises(SystemExit, match="--sets: unknown"):
        heldout_tabular.main(["--data-dir", str(tmp_path), "--sets", "no-such-set"])
    # iris comes with scikit-learn: no file needed.
    X, y = heldout_tabular.load_table(tmp_path / "empty", "iris")
    assert X.shape == (150, 4) and sorted(set(y)) == ["setosa", "versicolor", "virginica"]
    # The arm a DBNClassifier user runs: the init chosen by an inner cross-validation.
    chosen = tmp_path / "chosen"
    arms = "defaults,chosen by 3-fold CV"
    heldout_tabular.main(
        ["--data-dir", str(tmp_path), "--sets", "crabs", "--arms", arms, "--output", str(chosen)]
    )
    runs = json.loads((chosen / "results.json").read_text())["results"]["crabs"]
    assert all(r["chosen init"] in ("pretrained", "xavier_uniform") for r in runs)
    assert all(0 <= r["chosen by 3-fold CV"] <= 100 for r in runs)
    n_pretrained = sum(r["chosen init"] == "pretrained" for r in runs)
    table = (chosen / "results.md").read_text()
    assert f"| chosen by 3-fold CV (pretrained in {n_pretrained} of 2) |" in table


def _tiny_round(monkeypatch, panel_study):
    """Register a defaults round "tiny" on wine: two fine-tuning candidates, "fast" and "slow",
    of a one-layer DBN, scored on the validation split and the cross-validation folds."""
    candidates = {"fast": dict(learning_rate_init=0.1), "slow": dict(learning_rate_init=0.01)}

    def settings(d, candidate):
        return dict(
            hidden_layer_sizes=[4], n_iter=1, to_mlp=candidates[candidate] | {"max_iter": 2}
        )

    monkeypatch.setitem(
        panel_study.DEFAULTS_ROUNDS, "tiny", ("tiny.json", candidates, ("wine",), settings, "Tiny")
    )
    monkeypatch.setitem(panel_study.ROUND_SPLITS, "tiny", ("validation", "cv"))


def test_panel_defaults_round_scores_validation_and_cv_folds_and_decides_on_the_last(
    monkeypatch, tmp_path
):
    """A round with ``ROUND_SPLITS`` runs each candidate on the validation seeds and on the
    cross-validation folds of the pooled training and validation rows; a rerun does not repeat a
    stored run, and the table's worst ratio is over the deciding split's columns only."""
    import json

    panel_study = pytest.importorskip("panel_study")
    _tiny_round(monkeypatch, panel_study)
    monkeypatch.setattr(panel_study, "grid_seeds", lambda n_val: [0])
    folds = panel_study.cv_folds
    monkeypatch.setattr(panel_study, "cv_folds", lambda y: folds(y)[:2])
    runs = panel_study.run_defaults_round("tiny", lambda message: None, tmp_path)
    assert sorted((r["split"], r["seed"], r["candidate"]) for r in runs) == [
        ("cv", 0, "fast"), ("cv", 0, "slow"), ("cv", 1, "fast"), ("cv", 1, "slow"),
        ("validation", 0, "fast"), ("validation", 0, "slow"),
    ]  # fmt: skip
    stored = json.loads((tmp_path / "tiny.json").read_text())["runs"]
    assert panel_study.run_defaults_round("tiny", lambda message: None, tmp_path) == stored
    # The deciding split: make the validation column disagree with the cv columns.
    for r in stored:
        r["val_error"] = {("validation", "fast"): 0.5, ("validation", "slow"): 0.0}.get(
            (r["split"], r["candidate"]), 0.1 if r["candidate"] == "fast" else 0.2
        )
    table = "\n".join(panel_study.defaults_round_markdown("tiny", stored))
    assert "| candidate | wine (validation) | wine (cv) | worst ratio |" in table
    assert "| fast | 50.00 / " in table and " | 1.000 | " in table.split("| fast |")[1]
    worst_slow = (0.2 + panel_study.RATIO_FLOOR) / (0.1 + panel_study.RATIO_FLOOR)
    assert f" | {worst_slow:.3f} | " in table.split("| slow |")[1]
    # Runs stored before splits were recorded count as validation runs.
    assert panel_study.run_split({"set": "wine"}) == "validation"


def test_panel_round_reference_runs_xavier_on_each_run_and_does_not_set_the_best(
    monkeypatch, tmp_path
):
    """A round in ``ROUND_REFERENCES`` also runs the check's Xavier net on every split and seed;
    its row is scored against the candidates' best but never becomes the best itself."""
    panel_study = pytest.importorskip("panel_study")
    _tiny_round(monkeypatch, panel_study)
    monkeypatch.setattr(panel_study, "ROUND_REFERENCES", {"tiny": (panel_study.XAVIER_REFERENCE,)})
    monkeypatch.setattr(panel_study, "STACK", dict(hidden_layer_sizes=[4]))
    monkeypatch.setattr(panel_study, "FINETUNE_EPOCHS", 2)
    monkeypatch.setattr(panel_study, "grid_seeds", lambda n_val: [0])
    folds = panel_study.cv_folds
    monkeypatch.setattr(panel_study, "cv_folds", lambda y: folds(y)[:1])
    runs = panel_study.run_defaults_round("tiny", lambda message: None, tmp_path)
    reference = panel_study.XAVIER_REFERENCE
    assert sorted((r["split"], r["candidate"]) for r in runs) == sorted(
        (split, c) for split in ("validation", "cv") for c in ("fast", "slow", reference)
    )
    wine = panel_study.data("wine", test=False)
    rows = panel_study.balanced_subset(wine.y_train, panel_study.N_LABELS, 0)
    X, y = wine.X_train[rows], wine.y_train[rows]
    net, _ = panel_study.xavier(X, y, 0)
    (stored,) = [r for r in runs if r["candidate"] == reference and r["split"] == "validation"]
    assert stored["val_error"] == panel_study.error(net, wine.X_val, wine.y_val)
    # A reference better than every candidate: the candidates' ratios stay against their best.
    for r in runs:
        r["val_error"] = {"fast": 0.1, "slow": 0.2, reference: 0.0}[r["candidate"]]
    table = "\n".join(panel_study.defaults_round_markdown("tiny", runs))
    assert " | 1.000 | " in table.split("| fast |")[1]
    floor = panel_study.RATIO_FLOOR
    assert f" | {floor / (0.1 + floor):.3f} | " in table.split(f"| {reference} |")[1]


def test_panel_round_auto_init_reference_runs_on_the_cv_folds_only(monkeypatch, tmp_path):
    """The DBNClassifier(init="auto") reference: cv folds only, its choice recorded and counted in
    the table, a dash in the validation column."""
    import functools

    panel_study = pytest.importorskip("panel_study")
    _tiny_round(monkeypatch, panel_study)
    reference = panel_study.AUTO_INIT_REFERENCE
    monkeypatch.setattr(panel_study, "ROUND_REFERENCES", {"tiny": (reference,)})
    monkeypatch.setattr(
        panel_study, "DBN", functools.partial(panel_study.DBN, hidden_layer_sizes=[4], n_iter=1)
    )
    monkeypatch.setattr(panel_study, "grid_seeds", lambda n_val: [0])
    folds = panel_study.cv_folds
    monkeypatch.setattr(panel_study, "cv_folds", lambda y: folds(y)[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny nets' convergence warnings
        runs = panel_study.run_defaults_round("tiny", lambda message: None, tmp_path)
    (auto,) = [r for r in runs if r["candidate"] == reference]
    assert auto["split"] == "cv" and auto["chosen_init"] in ("pretrained", "xavier_uniform")
    table = "\n".join(panel_study.defaults_round_markdown("tiny", runs))
    n_pretrained = int(auto["chosen_init"] == "pretrained")
    row = table.split(f"| {reference}, pretrained in {n_pretrained} of 1 runs | ")[1]
    assert row.startswith("– | ")


def test_panel_realvalued_test_runs_the_library_defaults_and_the_previous_ones_on_test(
    monkeypatch, tmp_path
):
    import json

    panel_study = pytest.importorskip("panel_study")
    from dbn.stack import REAL_VALUED_TO_MLP_DEFAULTS

    monkeypatch.setattr(panel_study, "REAL_VALUED_SETS", ("wine",))
    monkeypatch.setattr(panel_study, "check_seeds", lambda n_test: [0])
    nets = []
    real_fit = panel_study.MLPClassifier.fit

    def spy(self, *args, **kwargs):
        nets.append(self)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(panel_study.MLPClassifier, "fit", spy)
    runs = panel_study.run_realvalued_test(lambda message: None, tmp_path)
    assert [r["arm"] for r in runs] == ["defaults", "previous (SGD 0.1)", "issue set-up", "xavier"]
    defaults, previous, issue, _ = nets
    # The issue's set-up: its own widths and epochs, fine-tuned by today's real-valued defaults.
    assert issue.hidden_layer_sizes == (500, 500) and issue.solver == "adam"
    assert issue.max_iter == panel_study.FINETUNE_EPOCHS
    assert defaults.solver == REAL_VALUED_TO_MLP_DEFAULTS["solver"] == "adam"
    assert previous.solver == "sgd" and previous.learning_rate_init == 0.1
    # Both fine-tune one pretraining: the same initial hidden layers.
    pairs = zip(defaults.pretrained_layers, previous.pretrained_layers, strict=True)
    for (W_a, b_a), (W_b, b_b) in pairs:
        np.testing.assert_array_equal(W_a, W_b)
        np.testing.assert_array_equal(b_a, b_b)
    wine = panel_study.data("wine", test=True)
    assert all(r["set"] == "wine" and r["seed"] == 0 for r in runs)
    errors = {r["arm"]: r["test_error"] for r in runs}
    assert errors["defaults"] == panel_study.error(defaults, wine.X_test, wine.y_test)
    stored = json.loads((tmp_path / "realvalued_test.json").read_text())["runs"]
    assert panel_study.run_realvalued_test(lambda message: None, tmp_path) == stored
    table = "\n".join(panel_study.realvalued_test_markdown(stored))
    assert "| wine | 1 | defaults |" in table and "| wine | 1 | previous (SGD 0.1) |" in table
    assert "| wine | 1 | issue set-up |" in table


def test_heldout_tabular_scores_a_large_set_as_the_panel_does(monkeypatch):
    """A set above LARGE_SET_ROWS: one seeded test split for every seed, unlabelled rows from
    the rest, class-balanced labels that change with the seed; a small set: CV folds."""
    heldout_tabular = pytest.importorskip("heldout_tabular")
    monkeypatch.setattr(heldout_tabular, "LARGE_SET_ROWS", 100)
    monkeypatch.setattr(heldout_tabular, "LARGE_TEST_ROWS", 40)
    monkeypatch.setattr(heldout_tabular, "N_LABELS", 30)
    monkeypatch.setattr(heldout_tabular, "UNLABELLED_ROWS", 70)
    y = np.arange(200) % 3
    splits = list(heldout_tabular.evaluation_splits(y))
    assert [seed for seed, *_ in splits] == list(range(heldout_tabular.LARGE_SEEDS))
    tests = {tuple(held_out) for *_, held_out in splits}
    assert len(tests) == 1 and len(next(iter(tests))) == 40
    for _, unlabelled, labelled, held_out in splits:
        assert len(unlabelled) == 70 and not set(unlabelled) & set(held_out)
        assert len(labelled) == 30 and not set(labelled) & set(held_out)
        assert np.bincount(y[labelled]).tolist() == [10, 10, 10]
    assert not np.array_equal(np.sort(splits[0][2]), np.sort(splits[1][2]))
    small = list(heldout_tabular.evaluation_splits(y[:90]))
    assert all(np.array_equal(u, l) for _, u, l, _ in small)  # folds: every training row labelled
    assert len(small) == len(heldout_tabular.cv_folds(y[:90]))


def test_early_stopping_study_measures_the_kept_epoch_and_scores_its_thresholds(monkeypatch):
    """``early_stopping_study``: each run records the epoch early stopping kept and how far the
    validation loss fell after it, as the library's sign measures it; the report counts, per
    threshold, the runs cut short that the sign (or the high-loss sign) reports and the others."""
    import functools

    study = pytest.importorskip("early_stopping_study")
    convergence_study = pytest.importorskip("convergence_study")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    tiny = functools.partial(convergence_study.DBN, hidden_layer_sizes=[6], n_iter=2)
    monkeypatch.setattr(convergence_study, "DBN", tiny)
    runs = study.runs_of("toy", X, y, "gaussian", 2, lambda message: None)
    assert [(r["fold"], r["arm"]) for r in runs] == [(f, a) for f in (0, 1) for a in study.ARMS]
    for run in runs:
        kept = run["kept_epoch"] - 1
        assert run["validation_scores"][kept] == max(run["validation_scores"])
        losses = run["validation_loss"]
        chance = np.log(2)  # balanced enough: the constant prediction's loss is close to ln 2
        assert run["validation_drop"] == pytest.approx((losses[kept] - losses[-1]) / chance, 0.1)
        assert run["n_validation"] == round(study.ARMS[run["arm"]]["validation_fraction"] * 96)

    # The threshold table on hand-made runs: one cut short with a large drop, one cut short that
    # only the high-loss sign reports, one healthy.
    def made(name, error, drop, last):
        return dict(set=name, arm="a", error=error, reference=0.0, validation_drop=drop,
                    last_over_chance=last, kept_over_chance=last, n_iter=5, updates=5,
                    warnings=[])  # fmt: skip

    made_runs = [made("wine", 10.0, 0.1, 0.2), made("crabs", 60.0, 0.0, 1.0),
                 made("digits", 1.0, 0.04, 0.02)]  # fmt: skip
    table = study.markdown(made_runs, "settings")
    assert "| 0.03 | 2 | 0 | 1 | 1 |" in table  # the healthy digits run too
    assert "| 0.1 | 2 | 0 | 0 | 0 |" in table and "| 0.125 | 1 | 1 | 0 | 0 |" in table


def test_tabular_initialisation_measures_each_hidden_layer_at_the_start():
    """``tabular_initialisation.start_of``: per hidden layer, the activations' standard deviation
    across rows (checked against a forward pass by hand) and the saturated fraction; the first
    layer's gradient; the report sorts the tables by the pretraining's share."""
    study = pytest.importorskip("tabular_initialisation")
    from scipy.special import expit

    from dbn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = MLPClassifier((5, 4), random_state=0)
    start = study.start_of(net, X, y)
    hidden = expit(X @ net.coefs_[0] + net.intercepts_[0])
    assert start["row_std"][0] == pytest.approx(np.mean(np.std(hidden, axis=0)), rel=1e-4)
    assert len(start["row_std"]) == len(start["saturated"]) == 2 and start["delta_std"] > 0
    rows = [
        dict(set=name, features=3, pretraining_share=share, pretrained=start, xavier=start)
        for name, share in (("helps", 1.0), ("hurts", -2.0))
    ]
    table = study.markdown(rows, "cmd")
    assert table.index("| hurts | 3 | -2.00 |") < table.index("| helps | 3 | +1.00 |")


def test_panel_generated_tables_are_seeded_balanced_and_standardised():
    """The nineteenth round's generated tables: the stated rows and features, stratified
    60/20/20 splits, the training rows standardised, the same table on every call; its
    candidates set only the epochs' update floor and the Gaussian layer's rate."""
    panel_study = pytest.importorskip("panel_study")
    for name, params in panel_study.GENERATED_SETS.items():
        rows, features, classes = params["n_samples"], params["n_features"], params["n_classes"]
        d = panel_study.generated_set(name)
        assert d.X_train.shape == (0.6 * rows, features) and len(d.y_val) == len(d.y_test)
        assert len(d.y_train) + len(d.y_val) + len(d.y_test) == rows
        assert np.bincount(d.y_train).min() >= 0.6 * rows / classes - 2
        np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(d.X_train.std(axis=0), 1, atol=1e-5)
        assert d.visible_unit == "gaussian"
        np.testing.assert_array_equal(panel_study.generated_set(name).X_test, d.X_test)
    d = panel_study.generated_set("generated-2")
    settings = panel_study.real_valued_pretraining_settings
    assert settings(d, "defaults (>= 2000 updates, Gaussian rate 0.03x)") == {}
    assert settings(d, ">= 500 updates") == {"n_iter": 17}  # 500 updates of 30 per epoch
    low = settings(d, "Gaussian rate 0.01x")["layer_params"][0]["learning_rate"]
    assert low == pytest.approx(0.001)


def test_panel_same_net_reference_is_the_defaults_net_from_xavier_weights():
    """The nineteenth round's second reference: the widths DBN() builds for the inputs and
    to_mlp()'s real-valued fine-tuning, from Xavier's initial weights, not pretrained."""
    panel_study = pytest.importorskip("panel_study")
    from dbn.stack import REAL_VALUED_TO_MLP_DEFAULTS, auto_layer_sizes

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net, seconds = panel_study.reference_net(panel_study.XAVIER_SAME_NET_REFERENCE, X, y, 0)
    assert tuple(net.hidden_layer_sizes) == auto_layer_sizes(3) and seconds > 0
    assert net.init == "xavier_uniform" and net.pretrained_layers is None
    for name, value in REAL_VALUED_TO_MLP_DEFAULTS.items():
        assert net.get_params()[name] == value, name


def test_heldout_tabular_whitened_arm_pretrains_and_scores_on_whitened_rows(monkeypatch, tmp_path):
    import functools

    heldout_tabular = pytest.importorskip("heldout_tabular")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(40):
        size = rng.normal() + 2.0 * (i % 2)  # five correlated measurements of one size
        rows.append([("B", "O")[i % 2], "F", i, *(size + 0.1 * rng.normal(size=5)).round(3)])
    _write_rdatasets_csv(
        tmp_path / "crabs.csv", ["sp", "sex", "index", "FL", "RW", "CL", "CW", "BD"], rows
    )
    pretrained_on = []
    real_dbn = heldout_tabular.DBN

    class RecordingDBN(real_dbn):
        def pretrain(self, X, *args, **kwargs):
            pretrained_on.append(np.array(X))
            return super().pretrain(X, *args, **kwargs)

    monkeypatch.setattr(
        heldout_tabular, "DBN", functools.partial(RecordingDBN, hidden_layer_sizes=[4], n_iter=1)
    )
    panel_study = pytest.importorskip("panel_study")
    monkeypatch.setattr(panel_study, "STACK", dict(hidden_layer_sizes=[4]))
    monkeypatch.setattr(panel_study, "FINETUNE_EPOCHS", 2)
    folds = heldout_tabular.cv_folds
    monkeypatch.setattr(heldout_tabular, "cv_folds", lambda y: folds(y)[:1])
    out = tmp_path / "whitened"
    heldout_tabular.main(
        ["--data-dir", str(tmp_path), "--sets", "crabs", "--arms", "whitened", "--output", str(out)]
    )
    runs = json.loads((out / "results.json").read_text())["results"]["crabs"]
    assert len(runs) == 1 and 0 <= runs[0]["whitened"] <= 100
    # Two pretrainings per run: the shared one on the standardised rows, then the whitened arm's
    # on the same rows through a Whitening fitted on them.
    from dbn.preprocessing import Whitening

    standardised, whitened = pretrained_on
    assert np.abs(np.corrcoef(standardised, rowvar=False)).min() > 0.9
    expected = Whitening(epsilon=heldout_tabular.WHITENING_EPSILON).fit_transform(standardised)
    np.testing.assert_allclose(whitened, expected)
    assert "| crabs | 40 x 5, 2 | 1 | whitened |" in (out / "results.md").read_text()


def test_panel_study_whitened_inputs_map():
    panel_study = pytest.importorskip("panel_study")
    from dbn.preprocessing import Whitening

    X = np.random.default_rng(0).normal(size=(50, 3)) @ np.array(
        [[1, 1, 0], [0, 1, 1], [0, 0, 1.0]]
    )
    identity = panel_study.whitened_inputs(X, None)
    assert identity(X) is X
    np.testing.assert_allclose(
        panel_study.whitened_inputs(X, 0.1)(X[:5]), Whitening(epsilon=0.1).fit(X).transform(X[:5])
    )


def test_tabular_panel_rule_keeps_predictable_tables_of_measurements(tmp_path):
    tabular_panel = pytest.importorskip("tabular_panel")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "other").mkdir()

    def table(n, predictable=True, seed=0):
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(n):
            group = ("low", "high")[i % 2]
            shift = 2.0 * (i % 2) if predictable else 0.0
            values = (shift + rng.normal(size=3)).round(4).tolist()
            rows.append([i + 1, group, *values, i % 3])  # row number, label, 3 measurements, code
        return rows

    header = ["id", "grp", "a", "b", "c", "code"]
    good = table(200)
    good[7][3] = "NA"  # a missing value drops its row
    _write_rdatasets_csv(tmp_path / "pkg" / "good.csv", header, good)
    _write_rdatasets_csv(tmp_path / "other" / "copy.csv", header, good)  # the same table again
    _write_rdatasets_csv(tmp_path / "pkg" / "short.csv", header, table(100, seed=1))
    _write_rdatasets_csv(tmp_path / "pkg" / "noise.csv", header, table(300, False, seed=2))
    _write_rdatasets_csv(tmp_path / "pkg" / "biopsy.csv", header, table(200, seed=3))  # held out
    (tmp_path / "pkg" / "latin1.csv").write_bytes(b'"","x"\n"1","\xbc"\n')
    tables = tabular_panel.qualifying_tables(str(tmp_path))
    assert list(tables) == ["other/copy"]  # first of the two copies in path order
    features, label, X, y = tables["other/copy"]
    assert label == "grp" and features == ["a", "b", "c"]  # no row numbers, no 3-value code
    assert X.shape == (199, 3) and sorted(set(y)) == ["high", "low"]
    assert tabular_panel.drawn_tables(str(tmp_path)) == ["other/copy"]
    d = tabular_panel.panel_set(str(tmp_path), "other/copy")
    assert d.X_train.dtype == np.float32 and d.X_val.shape == (0, 3)
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-5)
    assert d.visible_unit == "gaussian"


def test_centering_threshold_brightens_without_touching_the_digits():
    centering_threshold = pytest.importorskip("centering_threshold")
    X = np.array([[0.0, 0.5, 1.0]] * 400, dtype=np.float32)
    before = X.copy()
    lifted = centering_threshold.brightened(X, "offset", 0.4, seed=0)
    np.testing.assert_allclose(lifted[0], [0.4, 0.7, 1.0], atol=1e-6)
    noisy = centering_threshold.brightened(X, "noise", 0.8, seed=0)
    # Only pixels darker than the noise change: the digit's bright pixels stay, the noise is
    # uniform in [0, 0.8] where the image was black.
    assert (noisy >= X).all() and (noisy[:, 2] == 1.0).all()
    assert 0.35 < noisy[:, 0].mean() < 0.45 and noisy[:, 0].max() <= 0.8
    np.testing.assert_array_equal(X, before)  # the caller's images are not changed


@needs_mnist
def test_centering_threshold_runs_both_arms_and_says_which_the_rule_picks(tmp_path, monkeypatch):
    centering_threshold = pytest.importorskip("centering_threshold")
    monkeypatch.setenv("DBN_DATA_HOME", str(mnist_home()))  # the loader's first place to look
    argv = ["--seeds", "0", "--n-pretrain", "300", "--variants", "offset 0.0", "offset 0.55"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        centering_threshold.main([*argv, "--output", str(tmp_path)])
    record = json.loads((tmp_path / "results.json").read_text())
    rows = record["rows"]
    assert [(r["variant"], r["centering"]) for r in rows] == [
        ("offset 0.0", False),
        ("offset 0.0", True),
        ("offset 0.55", False),
        ("offset 0.55", True),
    ]
    assert rows[0]["input_mean"] < 0.5 < rows[2]["input_mean"]
    for row in rows:
        assert 0 <= row["finetuned_error"] <= 100 and 0 <= row["constant_units"] <= 1
        assert 0 <= row["finetuned_centred_inputs_error"] <= 100 and 0 <= row["xavier_error"] <= 100
    table = (tmp_path / "results.md").read_text()
    assert "| offset 0.0 | 0.13" in table and "| no |" in table and "| yes |" in table
    # --render rewrites the table from the record alone.
    (tmp_path / "results.md").unlink()
    centering_threshold.main(["--render", "--output", str(tmp_path)])
    assert (tmp_path / "results.md").read_text() == table


def test_panel_todays_defaults_take_the_real_valued_sets_from_their_own_runs():
    # The check's arms on wine and breast-cancer predate the real-valued fine-tuning defaults
    # (Adam, minibatch 32): today's figure there is the real-valued test runs' issue set-up.
    panel_study = pytest.importorskip("panel_study")

    def row(gains, arms):
        return dict(
            seeds=list(range(len(gains))),
            arm_seeds={arm: list(range(len(gains))) for arm in arms},
            gain_mean={arm: float(np.mean(gains)) for arm in arms},
            gain_std={arm: float(np.std(gains)) for arm in arms},
            worst_gain={arm: float(np.min(gains)) for arm in arms},
        )

    check_rows = {
        "mnist": row([4.0, 5.0], ["chosen", "centred inputs"]),
        "wine": row([9.0, 9.0], ["chosen"]),  # SGD 0.1: not today's defaults
        "breast-cancer": row([7.0, 7.0], ["chosen"]),
    }
    runs = [
        dict(set="wine", seed=0, arm="xavier", test_error=0.00),
        dict(set="wine", seed=1, arm="xavier", test_error=0.05),
        dict(set="wine", seed=0, arm="issue set-up", test_error=0.03),
        dict(set="wine", seed=1, arm="issue set-up", test_error=0.04),
        dict(set="wine", seed=1, arm="defaults", test_error=0.50),  # another arm: not used
    ]
    text = "\n".join(panel_study.todays_defaults_markdown(check_rows, runs))
    assert "| mnist | 2 | +4.50 ± 0.50 | +4.00 | centred inputs |" in text
    assert "| wine | 2 | -1.00 ± 2.00 | -3.00 | real-valued test |" in text
    # No runs of its own: the check's arm, labelled as the older defaults it is.
    assert "| breast-cancer | 2 | +7.00 ± 0.00 | +7.00 | chosen (before" in text
    assert "over 3 sets: +3.50 points; worst set wine, -1.00." in text


def test_dbm_benchmark_says_when_its_training_time_is_only_the_resumed_part():
    bench = _dbm_benchmark()
    # One uninterrupted run: pretraining and joint epochs, longer than the joint epochs alone.
    whole = dict(train_seconds=60.0, history=dict(time=[10.0] * 5))
    assert bench.training_time_text(whole) == "Training time: 60.0 s."
    # Resumed at epoch 3 of 5: the run trained 2 epochs; the history holds all 5.
    resumed = dict(train_seconds=20.5, history=dict(time=[10.0, 10.0, 3600.0, 10.0, 10.0]))
    text = bench.training_time_text(resumed)
    assert text.startswith("Training time: 20.5 s in the last run of stage train")
    assert "the 5 joint epochs of the history add up to 3640 s" in text
    loaded = bench.training_time_text(dict(history=dict(time=[10.0])))
    assert loaded == "Training time: not measured (the trained model was loaded)."


def test_back_image_lays_each_digit_on_a_patch_of_a_photograph():
    back_image = pytest.importorskip("back_image")
    rng = np.random.default_rng(0)
    digits = np.where(rng.random((50, 784)) < 0.2, rng.random((50, 784)), 0.0).astype(np.float32)
    before = digits.copy()
    # Two photographs whose every pixel says where it came from: a patch must be a window.
    photographs = [
        np.arange(40 * 50, dtype=np.float32).reshape(40, 50) / 4000,
        0.9 + np.arange(30 * 30, dtype=np.float32).reshape(30, 30) / 10_000,
    ]
    X = back_image.on_backgrounds(digits, photographs, np.random.default_rng(1))
    np.testing.assert_array_equal(digits, before)  # the caller's array is left as it was
    assert X.shape == digits.shape and X.dtype == np.float32
    on = digits > 0
    np.testing.assert_array_equal(X[on], digits[on])
    for image, digit in zip(X.reshape(-1, 28, 28), digits.reshape(-1, 28, 28), strict=True):
        photo = photographs[0] if image[digit == 0].max() < 0.9 else photographs[1]
        # The background is one 28x28 window of that photograph: find its corner from the
        # top-left pixel of the image (background there in this test's draws, or not).
        flat = np.flatnonzero(np.isclose(photo, image[0, 0])) if digit[0, 0] == 0 else []
        if len(flat):
            top, left = np.unravel_index(flat[0], photo.shape)
            window = photo[top : top + 28, left : left + 28]
            np.testing.assert_array_equal(image[digit == 0], window[digit == 0])
    again = back_image.on_backgrounds(digits, photographs, np.random.default_rng(1))
    np.testing.assert_array_equal(X, again)  # seeded: the same bytes


def test_panel_study_learnt_variance_candidates_reach_the_gaussian_layer_only():
    # The twenty-fourth round's knobs must land on the first (Gaussian) layer, and the learnt
    # sigma must be what the fine-tuned net starts from: weights divided by sigma.
    panel_study = pytest.importorskip("panel_study")
    X = np.random.default_rng(0).standard_normal((120, 5)).astype(np.float32)
    for name, knobs in panel_study.REAL_VALUED_VARIANCE_CANDIDATES.items():
        settings = panel_study.real_valued_variance_settings(None, name)
        stack = panel_study.DBN(
            [6, 4], n_iter=2, visible_unit="gaussian", random_state=0, **settings
        ).pretrain(X)
        first, second = stack.layers_
        assert first.learn_variance is knobs["learn_variance"], name
        assert first.sample_visible is knobs["sample_visible"], name
        assert first.persistent is knobs.get("persistent", False), name
        assert type(second).__name__ == "BernoulliRBM", name  # binary inputs: no sigma to learn
        W = stack.to_mlp().pretrained_layers[0][0]
        sigma = first.sigma_
        if knobs["learn_variance"]:
            assert not np.allclose(sigma, 1.0), name  # learnt, not left at its start
        else:
            np.testing.assert_array_equal(sigma, 1.0)
        np.testing.assert_allclose(W, first.components_.T / sigma[:, None], rtol=1e-6)


def test_panel_study_combined_round_scores_every_set_of_both_parts():
    # Two candidates on one set of each part: the rule's worst ratio is taken over both parts'
    # sets, and the gain over the Xavier reference net is in points.
    panel_study = pytest.importorskip("panel_study")
    parts = ("five", "eight")
    candidates = {"a": {}, "b": {}}
    rounds = {
        "five": ("f.json", candidates, ("s1",), None, "t"),
        "eight": ("e.json", candidates, ("s2",), None, "t"),
    }
    errors = {("a", "s1"): 0.10, ("b", "s1"): 0.05, ("a", "s2"): 0.20, ("b", "s2"): 0.40}
    errors |= {
        (panel_study.XAVIER_REFERENCE, "s1"): 0.08,
        (panel_study.XAVIER_REFERENCE, "s2"): 0.2,
    }
    chance = (
        "MLPClassifier: stopped ... 98 % of the loss of always predicting the class frequencies"
    )
    runs = {
        part: [
            dict(
                set=name,
                candidate=c,
                split="cv",
                val_error=errors[c, name],
                finetune_warnings=[chance] if (c, name) == ("b", "s2") else [],
            )
            for c in (*candidates, panel_study.XAVIER_REFERENCE)
        ]
        for part, name in zip(parts, ("s1", "s2"), strict=True)
    }
    saved = dict(panel_study.DEFAULTS_ROUNDS)
    try:
        panel_study.DEFAULTS_ROUNDS.update(rounds)
        lines = panel_study.combined_round_markdown("test round", parts, runs)
        # A part without runs: no section rather than a table of holes.
        unfinished = panel_study.combined_round_markdown("r", parts, {"five": runs["five"]})
    finally:
        panel_study.DEFAULTS_ROUNDS.clear()
        panel_study.DEFAULTS_ROUNDS.update(saved)
    row_a = next(line for line in lines if line.startswith("| a |"))
    row_b = next(line for line in lines if line.startswith("| b |"))
    # a: s1 (0.10 + 0.01) / (0.05 + 0.01) = 1.833; b: s2 (0.40 + 0.01) / (0.20 + 0.01) = 1.952.
    assert "1.833 (s1)" in row_a and "1.952 (s2)" in row_b
    # Gains over Xavier: a -2 and +0 points; b +3 and -20.
    assert "-1.00, -2.00 (s1), 1 |" in row_a and "-8.50, -20.00 (s2), 1 |" in row_b
    # b's one run on s2 warned that it stopped near chance: more than half of that set's runs.
    assert row_b.endswith("| 0 of 2 | 1 of 2 | s2 |")
    assert row_a.endswith("| 0 of 2 | 0 of 2 | none |")
    assert unfinished == []


def test_photo_patches_keep_test_windows_apart_from_training_ones():
    photo_patches = pytest.importorskip("photo_patches")
    # Photographs whose every pixel encodes its own row and column: each patch must be one
    # window, and a test window must lie below the training rows of its photograph.
    height, width = 120, 50
    rows, cols = np.mgrid[0:height, 0:width]
    photographs = [
        (rows * width + cols).astype(np.float32),
        (rows * width + cols + height * width).astype(np.float32),
    ]
    X, y = photo_patches.build_from(photographs, seed=3, n_train_per=40, n_test=21)
    assert X.shape == (101, 28 * 28) and np.bincount(y[:80]).tolist() == [40, 40]
    assert np.bincount(y[80:]).tolist() == [11, 10]  # as even as 21 allows
    split = int(round(photo_patches.TRAIN_SHARE * height))
    for k, (image, label) in enumerate(zip(X, y, strict=True)):
        index = image.reshape(28, 28) - label * height * width
        top, left = divmod(int(index[0, 0]), width)
        np.testing.assert_array_equal(
            index, (rows * width + cols)[top : top + 28, left : left + 28]
        )
        assert (top + 28 <= split) if k < 80 else (top >= split), (k, top)
    again, y_again = photo_patches.build_from(photographs, seed=3, n_train_per=40, n_test=21)
    np.testing.assert_array_equal(again, X)
    np.testing.assert_array_equal(y_again, y)
    with pytest.raises(ValueError, match="hold no 28x28 window"):
        photo_patches.build_from([np.zeros((30, 50), np.float32)], n_train_per=2, n_test=1)


def test_heldout_tabular_report_sums_up_each_arm_over_the_tables():
    heldout_tabular = pytest.importorskip("heldout_tabular")

    def run(seed, arm_error, xavier_error):
        return {
            "seed": seed,
            "defaults": arm_error,
            "defaults seconds": 1.0,
            "Xavier": xavier_error,
            "Xavier seconds": 1.0,
        }

    results = {
        "a": [run(0, 10.0, 12.0), run(1, 10.0, 14.0)],  # gain +3
        "b": [run(0, 20.0, 19.0), run(1, 20.0, 19.0)],  # gain -1
        "c": [run(0, 5.0, 5.0)],  # level: not below
    }
    text = heldout_tabular.markdown(results, ["defaults"], {"a": "", "b": "", "c": ""})
    assert "| defaults | +0.67 | b (-1.00) | 1 of 3 |" in text


def test_balanced_subset_takes_every_row_of_a_rare_class_and_leaves_other_draws_alone():
    panel_study = pytest.importorskip("panel_study")
    y = np.repeat([0, 1, 2], [900, 900, 40])  # class 2 has fewer rows than its share (333)
    rows = panel_study.balanced_subset(y, 1000, seed=0)
    assert np.bincount(y[rows]).tolist() == [333, 333, 40]
    assert len(np.unique(rows)) == len(rows)
    # Where every class has enough rows, the draw is the one it always was.
    y = np.repeat([0, 1], [700, 800])
    rng = np.random.default_rng(1000 + 3)
    before = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(y == c), 500, replace=False) for c in (0, 1)])
    )
    np.testing.assert_array_equal(panel_study.balanced_subset(y, 1000, seed=3), before)
