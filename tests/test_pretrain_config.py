"""Pretraining configs: shipped files load, overrides apply, bad settings are named."""
from pathlib import Path

import pytest
from confection import Config

from spacy_elmo import published_options
from spacy_elmo.pretrain.config import DEFAULT_CONFIG, PretrainSettings, load_config, run_differences
from spacy_elmo.pretrain.train import learning_rate

CONFIGS = Path(__file__).resolve().parents[1] / "project" / "configs"
TINY = CONFIGS / "pretrain_tiny.cfg"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("pretrain_*.cfg")), ids=lambda p: p.name)
def test_shipped_config_loads(path):
    config = load_config(path)
    settings = PretrainSettings.from_config(config)
    # every value the file sets reaches the settings
    for section in ("model", "training"):
        for key, value in config[section].items():
            found = getattr(getattr(settings, section), key)
            assert found == (tuple(map(tuple, value)) if key == "filters" else value), (section, key)


@pytest.mark.parametrize("size", ["small", "medium", "original"])
def test_config_per_published_size(size):
    settings = PretrainSettings.from_config(load_config(CONFIGS / f"pretrain_{size}.cfg"))
    assert settings.model == published_options(size)


def test_cli_style_overrides_apply():
    overrides = {"paths.train": "corpus.txt", "training.max_steps": 7, "training.checkpoint_every": 3}
    settings = PretrainSettings.from_config(load_config(TINY, overrides))
    assert settings.paths.train == "corpus.txt"
    assert (settings.training.max_steps, settings.training.checkpoint_every) == (7, 3)


def test_unknown_setting_is_named():
    with pytest.raises(ValueError, match=r"\[training\] max_step\b"):
        PretrainSettings.from_config(load_config(TINY, {"training.max_step": 3}))


def test_bad_choice_is_named():
    with pytest.raises(ValueError, match=r"\[training\] mode must be one of"):
        PretrainSettings.from_config(load_config(TINY, {"training.mode": "stream"}))


def test_resumable_settings_are_not_differences():
    old = load_config(TINY)
    new = load_config(TINY, {"training.max_steps": 999, "training.batch_size": 4})
    assert run_differences(old, new) == ("training.batch_size",)


def test_learning_rate_schedules():
    assert learning_rate(0, 1.0, "constant", 4, 100) == 0.25
    assert learning_rate(50, 1.0, "constant", 0, 100) == 1.0
    assert learning_rate(50, 1.0, "linear", 0, 100) == pytest.approx(0.5)
    assert learning_rate(50, 1.0, "cosine", 0, 100) == pytest.approx(0.5)
    assert learning_rate(100, 1.0, "cosine", 0, 100) == pytest.approx(0.0)


def test_default_model_is_the_published_original():
    """[model]'s defaults: the published 5.5B model's options.json (lstm 4096, projection
    512, two highway layers, the seven published filters)."""
    settings = PretrainSettings.from_config(Config().from_str(DEFAULT_CONFIG))
    assert settings.model == published_options("original")
    assert (settings.model.lstm_dim, settings.model.projection_dim, settings.model.n_highway) == (4096, 512, 2)
    assert settings.model.filters[-1] == (7, 1024) and len(settings.model.filters) == 7


def test_an_efml_token_encoder_needs_the_model_it_continues():
    """Its char.dic / word.dic come from [paths] init_bilm: without it, one coded error
    before anything is built; with it, [model] states the encoder."""
    efml = {"model.token_encoder": "efml", "model.n_characters": 69, "model.word_dim": 12,
            "model.n_words": 152}
    with pytest.raises(ValueError, match=r"\[E370\].*init_bilm"):
        PretrainSettings.from_config(load_config(TINY, efml))
    settings = PretrainSettings.from_config(
        load_config(TINY, {**efml, "paths.init_bilm": "efml.model"}))
    assert (settings.model.token_encoder, settings.model.word_rows) == ("efml", 153)
