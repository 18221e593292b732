"""Registered architectures of spacy-elmo (entry points in setup.py)."""
import copy
from dataclasses import fields
from typing import Any, Dict, List, Optional, Sequence

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Maxout, Model, chain, concatenate, with_array
from thinc.types import Floats2d, Floats3d

from .data_classes import ElmoData
from .layers import ElmoModel, ElmoSettings, ScalarMixLayer, get_bilm
from .layers.listener import ElmoListener, elmo_layers
from .nn import ElmoOptions, published_options
from .pipeline_files import init_bilm_from

# The defaults: the published "original" model, run with ElmoSettings' defaults.
_ORIGINAL = published_options("original")
_SETTINGS = ElmoSettings()


@registry.architectures("spacy-elmo.ElmoModel.v2")
def build_elmo_model_v2(
    lstm_dim: int = _ORIGINAL.lstm_dim,
    projection_dim: int = _ORIGINAL.projection_dim,
    n_layers: int = _ORIGINAL.n_layers,
    cell_clip: float = _ORIGINAL.cell_clip,
    proj_clip: float = _ORIGINAL.proj_clip,
    use_skip_connections: bool = _ORIGINAL.use_skip_connections,
    char_dim: int = _ORIGINAL.char_dim,
    filters: Sequence[Sequence[int]] = _ORIGINAL.filters,
    n_highway: int = _ORIGINAL.n_highway,
    n_characters: int = _ORIGINAL.n_characters,
    max_characters_per_token: int = _ORIGINAL.max_characters_per_token,
    activation: str = _ORIGINAL.activation,
    max_length: int = _SETTINGS.max_length,
    window_overlap: int = _SETTINGS.window_overlap,
    batch_size: int = _SETTINGS.batch_size,
    max_batch_tokens: int = _SETTINGS.max_batch_tokens,
    fine_tune: bool = _SETTINGS.fine_tune,
    token_encoder: str = _ORIGINAL.token_encoder,
    word_dim: int = _ORIGINAL.word_dim,
    n_words: int = _ORIGINAL.n_words,
    feature_cache_bytes: int = _SETTINGS.feature_cache_bytes,
    feature_cache_dtype: str = _SETTINGS.feature_cache_dtype,
    allow_random_weights: bool = _SETTINGS.allow_random_weights,
    compute_dtype: str = _SETTINGS.compute_dtype,
    deterministic: bool = _SETTINGS.deterministic,
) -> Model[List[Doc], List[ElmoData]]:
    """An ELMo biLM reading docs; outputs one ElmoData (all L+1 layers) per doc.

    The first twelve settings are the options.json hyperparameters (defaults: the
    published "original" 5.5B model); ``python -m spacy_elmo convert`` fills them in.
    lstm_dim (int): LSTM cell size C. 4096 for the original model.
    projection_dim (int): projection size P; outputs are 2P wide. 512 for the original.
    n_layers (int): LSTM layers L per direction; L+1 output layers. 2.
    cell_clip (float): clip of the LSTM cell (0: none). 3.0.
    proj_clip (float): clip of the projected LSTM output (0: none). 3.0.
    use_skip_connections (bool): residual connections between LSTM layers. true.
    char_dim (int): character embedding size. 16.
    filters (List[List[int]]): [width, n_filters] per char convolution. The published 7.
    n_highway (int): highway layers after the convolutions. 2 (1 for small/medium).
    n_characters (int): "elmo": 262 (261 as the original trainer writes it); "efml":
        the entries of char.dic. 262.
    max_characters_per_token (int): characters kept per token. 50.
    activation (str): "relu" or "tanh" after the convolutions. "relu".
    max_length (int): most tokens (boundaries excluded) per LM sequence; longer sentences
        or docs are split into overlapping windows whose outputs are stitched. 512.
    window_overlap (int): tokens shared by consecutive windows (< max_length). 64.
    batch_size (int): most LM sequences per biLM call (sequences are sorted by length). 64.
    max_batch_tokens (int): most padded positions (sequences x longest) per biLM call;
        bounds memory: a call holds about 2 x this x 4C floats. 4096.
    fine_tune (bool): backpropagate into the biLM during training. false (frozen).
    token_encoder (str): "elmo" (the original, UTF-8 bytes) or "efml" (ELMoForManyLangs:
        char.dic vocabulary and word embeddings, kept in the component's weights). "elmo".
    word_dim (int): "efml": word embedding size (100 when published; 0: none). 0.
    n_words (int): "efml": entries of word.dic (0 when word_dim is 0). 0.
    feature_cache_bytes (int): memory budget in bytes of the cache of a frozen biLM's
        outputs, one entry per LM sequence (its words and boundaries), least recently
        used dropped first: each training sentence runs through the biLM once, not every
        epoch. 0 disables it (also ignored when fine-tuned). 1000000000.
    feature_cache_dtype (str): "float32" (the values as computed) or "float16" (half
        the memory, rounded features). "float32".
    allow_random_weights (bool): run even if no weights were ever loaded, with the random
        initialization (tests, training from scratch). false: such a biLM refuses to run
        (weights come from [initialize.components.elmo] weights, a sourced or saved
        pipeline, or "weights" of spacy-elmo.ElmoStandalone.v1).
    compute_dtype (str): the format of the biLM's LSTM matmuls at prediction (not when
        fine-tuned): "float32"; "bfloat16" (on CPUs with native bfloat16 and GPUs;
        float32 with a warning elsewhere); "int8" (CPU: int8 weights with a scale per
        row; pays for LSTMs of the original's size); "auto" (the faster per case).
        Speed and cosine to float32: bench/RESULTS.md. "float32".
    deterministic (bool): on CPU in float32, a doc's vectors are the same bits whatever
        else is in its batch, on any thread count and in any n_process worker. false:
        single-row products take MKL's faster path (lone short docs, a batch's last
        steps), and a doc's vectors depend on its batch within 1e-6. true.
    """
    values = locals()  # the arguments: ElmoOptions' settings, then ElmoSettings' fields
    options = ElmoOptions(**{name: values[name] for name in ElmoOptions.settings()})
    settings = ElmoSettings(**{f.name: values[f.name] for f in fields(ElmoSettings)})
    return ElmoModel(options, settings)


@registry.architectures("spacy-elmo.ScalarMix.v1")
def build_scalar_mix(
    n_layers: int = 3,
    weights: Optional[List[float]] = None,
    gamma: float = 1.0,
    layer_norm: bool = False,
    trainable: bool = True,
) -> Model[List[Floats3d], List[Floats2d]]:
    """ELMo's mix gamma * sum_j softmax(s)_j * h_j of each doc's (L+1, n, D) layers.

    n_layers (int): L+1, the layers to mix. 3 for every published model.
    weights (Optional[List[float]]): initial s_j, before the softmax; null gives the plain
        average. null.
    gamma (float): initial scale. 1.0.
    layer_norm (bool): normalize each layer over each doc's own tokens first. false.
    trainable (bool): learn s and gamma. true.
    """
    return ScalarMixLayer(n_layers, weights, gamma, layer_norm, trainable)


@registry.architectures("spacy-elmo.ElmoListener.v1")
def build_elmo_listener(
    width: Optional[int] = None,
    upstream: str = "*",
    n_layers: int = 3,
    layer_weights: Optional[List[float]] = None,
    gamma: float = 1.0,
    layer_norm: bool = False,
    dropout: float = 0.5,
) -> Model[List[Doc], List[Floats2d]]:
    """ELMo vectors for a downstream component, from an upstream "elmo" component, mixed
    with this task's own learned weights: dropout(gamma * sum_j softmax(s)_j * h_j).

    width (Optional[int]): 2 x the biLM's projection_dim; null takes it from the
        upstream (a stated width that differs is an error at initialization). null.
    upstream (str): name of the "elmo" component to listen to; "*": any. "*".
    n_layers (int): L+1 biLM layers to mix (3 for every published model). 3.
    layer_weights (Optional[List[float]]): initial s_j before the softmax; null: zeros. null.
    gamma (float): initial scale. 1.0.
    layer_norm (bool): normalize each layer over each doc's own tokens before mixing. false.
    dropout (float): dropout on the mixed vectors (the paper uses 0.5 for NER). 0.5.
    """
    listener = ElmoListener(upstream, width, n_layers)
    # what nlp.replace_listeners writes in this block's place (see standalone_config)
    listener.mix_settings = {"layer_weights": layer_weights, "gamma": gamma,
                             "layer_norm": layer_norm, "dropout": dropout}
    return _mixed(listener, n_layers, layer_weights, gamma, layer_norm, dropout, width)


def standalone_config(elmo_model: Dict[str, Any], mix_settings: Dict[str, Any]) -> Dict[str, Any]:
    """The "spacy-elmo.ElmoStandalone.v1" block of a listener replaced by a copy of the
    model ``elmo_model`` describes: it builds the same layers (the biLM, then the
    listener's mix and dropout), and its weights come with the pipeline."""
    return {"@architectures": "spacy-elmo.ElmoStandalone.v1", "elmo": copy.deepcopy(dict(elmo_model)),
            "weights": None, **copy.deepcopy(dict(mix_settings))}


@registry.architectures("spacy-elmo.ElmoStandalone.v1")
def build_elmo_standalone(
    elmo: Model[List[Doc], List[ElmoData]],
    weights: Optional[str] = None,
    layer_weights: Optional[List[float]] = None,
    gamma: float = 1.0,
    layer_norm: bool = False,
    dropout: float = 0.5,
) -> Model[List[Doc], List[Floats2d]]:
    """ELMo inside one component, without a listener: the biLM and this task's mix.

    elmo (Model[List[Doc], List[ElmoData]]): a "spacy-elmo.ElmoModel.v2" whose
        options match the weights.
    weights (Optional[str]): loaded when the pipeline is initialized: a weights.hdf5, a
        directory with options.json + weights.hdf5, an ELMoForManyLangs model folder, or
        a pipeline directory with an "elmo" component. null: none loaded (the biLM then
        refuses to run unless ``elmo`` sets allow_random_weights = true).
    layer_weights, gamma, layer_norm, dropout: as for "spacy-elmo.ElmoListener.v1".
    """
    n_layers = elmo.attrs["n_output_layers"]
    model = _mixed(elmo, n_layers, layer_weights, gamma, layer_norm, dropout, elmo.get_dim("nO"))
    model.attrs["elmo_weights"] = weights
    model.init = _load_standalone_weights
    return model


def _mixed(source, n_layers, layer_weights, gamma, layer_norm, dropout, width):
    mix = ScalarMixLayer(n_layers, layer_weights, gamma, layer_norm, trainable=True)
    model = chain(source, elmo_layers(), mix, with_array(Dropout(dropout)))
    model.set_ref("elmo", source)
    model.set_ref("mix", mix)
    if width is not None:
        model.set_dim("nO", width)
    return model


def _load_standalone_weights(model: Model, X=None, Y=None) -> None:
    elmo = model.get_ref("elmo")
    for layer in model.layers:
        layer.initialize(X=X if layer is elmo else None)
    if model.attrs["elmo_weights"] is not None:
        init_bilm_from(get_bilm(elmo), model.attrs["elmo_weights"])
    if not model.has_dim("nO"):
        model.set_dim("nO", elmo.get_dim("nO"))


@registry.architectures("spacy-elmo.ElmoConcatEmbed.v1")
def build_elmo_concat_embed(
    elmo: Model[List[Doc], List[Floats2d]],
    embed: Model[List[Doc], List[Floats2d]],
    width: int,
) -> Model[List[Doc], List[Floats2d]]:
    """The paper's recipe: [ELMo; the task's own token embedding], projected to ``width``.
    Use as the ``embed`` of "spacy.Tok2Vec.v2", before the task's encoder.

    elmo (Model[List[Doc], List[Floats2d]]): "spacy-elmo.ElmoListener.v1" or
        "spacy-elmo.ElmoStandalone.v1".
    embed (Model[List[Doc], List[Floats2d]]): e.g. "spacy.MultiHashEmbed.v2".
    width (int): output width, the encoder's width. 96 for efficiency configs.
    """
    model = chain(concatenate(elmo, embed), with_array(Maxout(width, nP=3, normalize=True)))
    model.set_dim("nO", width)
    model.set_ref("elmo", elmo)
    return model
