"""One schema: ElmoOptions' fields are the settings everywhere they are listed."""
import inspect
from dataclasses import fields

import pytest
from spacy.util import registry

from spacy_elmo.layers import ElmoSettings, get_bilm
from spacy_elmo.model_config import model_config_from_options
from spacy_elmo.model_files import option_differences
from spacy_elmo.nn import ElmoOptions, published_options

SETTINGS = ("lstm_dim", "projection_dim", "n_layers", "cell_clip", "proj_clip", "use_skip_connections",
            "char_dim", "filters", "n_highway", "n_characters", "max_characters_per_token",
            "activation", "token_encoder", "word_dim", "n_words")


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        ElmoOptions(32, 8, 2)  # positional arguments are refused
    assert ElmoOptions.settings() == SETTINGS  # extra (unknown options.json keys) is none


def test_model_block_and_builder_list_every_setting():
    options = published_options("small").replace(activation="tanh")
    block = model_config_from_options(options)
    assert block.pop("@architectures") == "spacy-elmo.ElmoModel.v2"
    assert tuple(block) == SETTINGS and block["activation"] == "tanh"
    assert block["filters"] == [list(f) for f in options.filters]
    builder = registry.architectures.get("spacy-elmo.ElmoModel.v2")
    assert set(inspect.signature(builder).parameters) == set(SETTINGS) | {f.name for f in fields(ElmoSettings)}


def test_builder_arguments_reach_the_options_and_the_settings():
    builder = registry.architectures.get("spacy-elmo.ElmoModel.v2")
    model = builder(lstm_dim=8, projection_dim=4, n_layers=1, filters=[[1, 4]], n_highway=0,
                    activation="tanh", max_length=20, window_overlap=3, fine_tune=True)
    options = get_bilm(model).options
    assert (options.lstm_dim, options.activation, options.filters) == (8, "tanh", ((1, 4),))
    settings = model.attrs["settings"]
    assert (settings.max_length, settings.window_overlap, settings.fine_tune) == (20, 3, True)


def test_differences_compare_rows_not_n_characters():
    """261 and 262 n_characters are the same "elmo" weights; everything else that shapes
    them is compared, under the name of what it shapes."""
    base = published_options("small")
    assert option_differences(base.replace(n_characters=261), base) == []
    assert option_differences(base.replace(lstm_dim=512, n_highway=2), base) == ["lstm_dim", "n_highway"]
    efml = base.replace(token_encoder="efml", n_characters=10, word_dim=3, n_words=7)
    assert option_differences(efml.replace(n_words=8), efml) == ["word_rows"]
    assert option_differences(efml.replace(n_characters=11), efml) == ["embedding_rows"]
