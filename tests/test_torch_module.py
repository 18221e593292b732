"""Private APIs behind one function each (issue 21 item 4): the torch module in a Thinc
shim, and torch's thread setting scoped to the component's worker processes (no
process-wide hook at import)."""
import multiprocessing

import numpy
import pytest
import torch
from thinc.api import Model, PyTorchShim
from spacy.tokens import Doc
from spacy.vocab import Vocab

from spacy_elmo.layers import cached_bilm, get_bilm
from spacy_elmo.layers.elmo_model import bilm_layer
from spacy_elmo.layers.torch_module import torch_module


class RenamedShim(PyTorchShim):
    """A shim keeping its module under another name (as another Thinc might)."""

    def __init__(self, module) -> None:
        super().__init__(module)
        self.wrapped = self.__dict__.pop("_model")


def test_the_module_of_a_layer_and_the_fallback():
    module = torch.nn.Linear(2, 2)
    plain = Model("plain", lambda m, X, is_train: (X, lambda d: d), shims=[PyTorchShim(module)])
    renamed = Model("renamed", lambda m, X, is_train: (X, lambda d: d), shims=[RenamedShim(module)])
    assert torch_module(plain) is module and torch_module(renamed) is module
    with pytest.raises(ValueError, match=r"^\[E723\] Thinc layer 'none'"):
        torch_module(Model("none", lambda m, X, is_train: (X, lambda d: d)))


def test_the_bilm_layer_reads_its_module_through_it(make_nlp):
    model = make_nlp().get_pipe("elmo").model
    assert cached_bilm(bilm_layer(model)).bilm is get_bilm(model)


def _threads_in_child(model, docs, queue) -> None:
    before = torch.get_num_threads()
    if model is not None:
        model.predict(docs)
    queue.put((before, torch.get_num_threads()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_only_worker_processes_that_run_the_model_use_one_thread(make_nlp):
    model = make_nlp().get_pipe("elmo").model
    docs = [Doc(Vocab(), words=["a", "b", "c"])]
    torch.set_num_threads(2)  # the conftest fixture gives one back afterwards
    expected = model.predict(docs)[0].layers
    context = multiprocessing.get_context("fork")
    results = []
    for runs_model in (False, True):
        queue = context.Queue()
        child = context.Process(target=_threads_in_child,
                                args=(model if runs_model else None, docs, queue))
        child.start()
        results.append(queue.get(timeout=120))
        child.join(timeout=120)
    # no at-fork hook: a forked child keeps the parent's setting until it runs the model
    assert results[0] == (2, 2)
    assert results[1] == (2, 1)
    assert torch.get_num_threads() == 2  # the main process is never changed
    numpy.testing.assert_array_equal(model.predict(docs)[0].layers, expected)


@pytest.mark.slow
def test_importing_the_package_changes_no_process_wide_state():
    """No at-fork hook, spaCy's and Thinc's defaults untouched, torch's threads as they
    were (a fresh interpreter, so that nothing was imported before)."""
    import subprocess
    import sys

    code = (
        "import os, torch\n"
        "hooks = []\n"
        "os.register_at_fork = lambda **kw: hooks.append(kw)\n"
        "import spacy, thinc.api\n"
        "from spacy.language import DEFAULT_CONFIG\n"
        "before = (DEFAULT_CONFIG.to_str(), torch.get_num_threads())\n"
        "import spacy_elmo, spacy_elmo.pipeline_component, spacy_elmo.layers\n"
        "ours = [f for kw in hooks for f in kw.values() if 'spacy_elmo' in str(f.__module__)]\n"
        "assert not ours, ours  # (h5py registers its own lock's hooks)\n"
        "assert (DEFAULT_CONFIG.to_str(), torch.get_num_threads()) == before\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_each_private_api_is_used_in_one_place_only():
    """torch's, Thinc's and spaCy's private APIs sit behind one function each (issue 21)."""
    from pathlib import Path

    allowed = {
        "torch.ops.mkldnn._": {"packed.py", "precision.py"},
        "spacy.cli._util": {"config_overrides.py"},
        "._model": {"torch_module.py", "bilm_shim.py"},
        "register_at_fork": set(),
        "thinc.layers.pytorchwrapper": set(),
    }
    root = Path(__file__).resolve().parents[1] / "spacy_elmo"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf8")
        for api, files in allowed.items():
            assert api not in text or path.name in files, (api, path)
