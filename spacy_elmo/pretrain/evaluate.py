"""Held-out perplexity of a pretrained biLM, forwards and backwards.

Each line is wrapped in <S> ... </S>; forwards it predicts w1 ... wn and </S>,
backwards wn ... w1 and <S>, with the full softmax. Words outside the vocabulary are
predicted as <UNK>, as the n-gram baselines in bench/sotu_perplexity.py do, so the
numbers compare. Two modes:

- "sentence": every line from the stored initial state, alone (how the biLM is used).
- "stream": the text cut into ``rows`` contiguous parts, each read as one stream
  with the LSTM state carried from line to line and window to window (as training in
  window mode reads, and bilm-tf's test did). Same targets; lines see their context.
"""
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Tuple, Union

import torch

from ..errors import Errors
from ..model_files import find_final, read_model_files
from ..nn.bilm import BiLM
from ..nn.chars import BOS_TOKEN, EOS_TOKEN
from ..torch_files import load_state_into, load_tensors
from .batch import IGNORE, TokenIds, encode_sentences, encode_windows
from .checkpoint import (
    CHECKPOINTS, CONFIG_FILE, FINAL, VOCAB_FILE, latest_checkpoint, load_checkpoint)
from .config import PretrainSettings
from .corpus import SOTU_PREFIX, Tokenizer, read_sentences, resolve_paths
from .lm import LanguageModel, direction_perplexities
from .vocab import Vocab

HEAD_FILE = "lm_head.pt"
SORT_CHUNK = 2048  # sentences sorted by length together


def sentence_nll(lm: LanguageModel, sentences: Iterable[List[str]], vocab: Vocab,
                 batch_size: int = 32, device="cpu") -> Tuple[Tuple[float, float], int]:
    """Summed forward and backward NLL over ``sentences``, and the targets per direction."""
    chars = TokenIds(lm.bilm.token_encoder.lexicon)
    was_training = lm.training
    lm.eval()
    sums, count = torch.zeros(2, dtype=torch.float64), 0
    with torch.no_grad():
        for batch in _length_sorted_batches(sentences, batch_size):
            encoded = encode_sentences(batch, vocab, chars).to(device)
            nll, _ = lm(encoded)
            sums += nll.double().cpu()
            count += encoded.n_targets
    lm.train(was_training)
    return (float(sums[0]), float(sums[1])), count


def _length_sorted_batches(
    sentences: Iterable[List[str]], batch_size: int
) -> Iterator[List[List[str]]]:
    chunk: List[List[str]] = []
    for sentence in sentences:
        chunk.append(sentence)
        if len(chunk) == SORT_CHUNK:
            yield from _split(chunk, batch_size)
            chunk = []
    yield from _split(chunk, batch_size)


def _split(chunk: List[List[str]], batch_size: int) -> Iterator[List[List[str]]]:
    chunk = sorted(chunk, key=len)
    for start in range(0, len(chunk), batch_size):
        yield chunk[start : start + batch_size]


def perplexity(lm: LanguageModel, vocab: Vocab, tokenizer: Tokenizer, paths: List[Path],
               batch_size: int = 32, device="cpu", warn: bool = True, mode: str = "sentence",
               steps: int = 20) -> Dict[str, float]:
    """{"forward", "backward", "average", "n_tokens"} on the lines of ``paths``; mode
    "sentence" (batch_size lines at a time) or "stream" (batch_size streams)."""
    if mode not in ("sentence", "stream"):
        raise ValueError(Errors.E325.format(mode=mode))
    sentences = read_sentences(paths, tokenizer, warn)
    if mode == "stream":
        sums, count = stream_nll(lm, list(sentences), vocab, batch_size, steps, device)
    else:
        sums, count = sentence_nll(lm, sentences, vocab, batch_size, device)
    if count == 0:
        raise ValueError(Errors.E316.format(path=[str(p) for p in paths][:5]))
    return {**direction_perplexities(sums, count), "n_tokens": count}


def stream_nll(lm: LanguageModel, sentences: List[List[str]], vocab: Vocab, rows: int = 16,
               steps: int = 20, device="cpu") -> Tuple[Tuple[float, float], int]:
    """Summed NLL and targets per direction, reading ``rows`` streams with carried state."""
    chars = TokenIds(lm.bilm.token_encoder.lexicon)
    parts = [p for p in _contiguous_parts(sentences, rows) if p]
    forward = [[t for s in part for t in [BOS_TOKEN, *s, EOS_TOKEN]] for part in parts]
    backward = [[t for s in part[::-1] for t in [EOS_TOKEN, *s[::-1], BOS_TOKEN]] for part in parts]
    longest = max((len(r) for r in forward), default=1)
    states = lm.bilm.default_state(len(parts))
    was_training = lm.training
    lm.eval()
    sums, count = torch.zeros(2, dtype=torch.float64), 0
    with torch.no_grad():
        for start in range(0, longest - 1, steps):
            windows = [[_window(r, start, steps) for r in stream] for stream in (forward, backward)]
            filled = [[[t or BOS_TOKEN for t in w] for w in stream] for stream in windows]
            batch = encode_windows(*filled, vocab, chars)
            # predict each line's words and its end, not the next line's start nor padding
            for d, first in enumerate((BOS_TOKEN, EOS_TOKEN)):
                skip = torch.tensor([[t in (first, None) for t in w[1:]] for w in windows[d]])
                batch.targets[d][skip.T] = IGNORE
            nll, states = lm(batch.to(device), states)
            sums += nll.double().cpu()
            count += int((batch.targets[0] != IGNORE).sum())
    lm.train(was_training)
    return (float(sums[0]), float(sums[1])), count


def _window(tokens: List[str], start: int, steps: int) -> List[str]:
    """tokens[start : start + steps + 1], padded with None past the end."""
    window = tokens[start : start + steps + 1]
    return window + [None] * (steps + 1 - len(window))


def _contiguous_parts(sentences: List[List[str]], rows: int) -> List[List[List[str]]]:
    """``rows`` runs of consecutive sentences with about equal numbers of tokens."""
    total = sum(len(s) + 2 for s in sentences)
    parts: List[List[List[str]]] = [[] for _ in range(rows)]
    seen = 0
    for sentence in sentences:
        parts[min(rows - 1, seen * rows // max(total, 1))].append(sentence)
        seen += len(sentence) + 2
    return parts


def load_language_model(
    model_dir: Union[str, Path]
) -> Tuple[LanguageModel, Vocab, PretrainSettings]:
    """The biLM + softmax of a pretraining output directory (its final/ export, else its
    latest checkpoint) or of a final/ directory itself."""
    model_dir = Path(model_dir)
    final = find_final(model_dir, HEAD_FILE)
    if final is not None:
        settings = PretrainSettings.from_config(_read_config(final / CONFIG_FILE))
        vocab = Vocab.from_disk(final / VOCAB_FILE)
        bilm = read_model_files(final)  # options.json + weights.hdf5, or ELMoForManyLangs
        lm = LanguageModel(bilm, len(vocab))
        load_state_into(lm.head, load_tensors(final / HEAD_FILE), final / HEAD_FILE)
        return lm.eval(), vocab, settings
    checkpoint = latest_checkpoint(model_dir)
    if checkpoint is None:
        raise FileNotFoundError(Errors.E315.format(path=model_dir))
    settings = PretrainSettings.from_config(_read_config(model_dir / CONFIG_FILE))
    vocab = Vocab.from_disk(model_dir / VOCAB_FILE)
    lm = LanguageModel(BiLM(settings.model), len(vocab))
    load_state_into(lm, load_checkpoint(checkpoint)["model"], checkpoint)
    return lm.eval(), vocab, settings


def _read_config(path: Path):
    from confection import Config

    return Config().from_disk(path, interpolate=False)


def evaluation_inputs(model_dir: Union[str, Path], text: Union[str, Path]) -> List[Path]:
    """What ``evaluate`` reads, for refusing an output over it: the text (a file or a
    folder) and the model's files (its final/ and checkpoints/ folders, or the final/
    folder given)."""
    model_dir = Path(model_dir)
    inputs = [] if str(text).startswith(SOTU_PREFIX) else [Path(text)]
    if (model_dir / HEAD_FILE).exists():
        return inputs + [model_dir]
    return inputs + [model_dir / n for n in (FINAL, CHECKPOINTS, CONFIG_FILE, VOCAB_FILE)]


def evaluate(model_dir: Union[str, Path], text: Union[str, Path], batch_size: int = 32,
             device: str = "cpu", mode: str = "sentence",
             compute_dtype: str = "float32") -> Dict[str, float]:
    """Perplexity of the model in ``model_dir`` on ``text`` (a file, a directory or
    "sotu:heldout"), tokenized as the model's training corpus was; mode "sentence" or
    "stream" (windows of the run's unroll_steps); the biLM's LSTMs run in
    ``compute_dtype`` (see ``spacy_elmo.nn.precision``; the softmax stays float32)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(Errors.E405.format(value=batch_size))
    lm, vocab, settings = load_language_model(model_dir)
    lm.bilm.set_compute_dtype(compute_dtype)
    tokenizer = Tokenizer.from_settings(settings.corpus)
    lm.to(device)
    return perplexity(lm, vocab, tokenizer, resolve_paths(str(text), "text"), batch_size, device,
                      mode=mode, steps=settings.training.unroll_steps)
