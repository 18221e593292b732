"""No W109 from nlp.pipe(n_process=2) and no W007 from .similarity on converted
pipelines (issue 20 item 6): hooks only where they survive, the values unchanged."""
import subprocess
import sys
import warnings

import numpy
import pytest

from spacy_elmo import add_vector_hooks

TEXTS = ["The cat sat on the mat.", "A dog ran home.", "Hello there.", "Good bye now."]


def test_similarity_on_a_converted_pipeline_gives_no_warning(nlp):
    a, b = nlp(TEXTS[0]), nlp(TEXTS[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = [a.similarity(b), a[1].similarity(b[1]), a[0:3].similarity(b[0:2]),
                  a.similarity(b[0:2])]
    x, y = a._.elmo_vectors.mean(axis=0), b._.elmo_vectors.mean(axis=0)
    assert values[0] == pytest.approx(float(x @ y / numpy.linalg.norm(x) / numpy.linalg.norm(y)), abs=1e-5)
    assert all(-1.0 <= v <= 1.0 for v in values)


@pytest.mark.slow  # a new interpreter and two worker processes
def test_multiprocess_pipe_gives_no_w109(tiny_pipeline_dir):
    # a fresh interpreter: under pytest the workers inherit its warning capture
    code = ("import spacy\n"
            f"nlp = spacy.load({str(tiny_pipeline_dir)!r})\n"
            f"docs = list(nlp.pipe({TEXTS!r}, n_process=2, batch_size=2))\n"
            "print(len(docs))\n")
    result = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == str(len(TEXTS))
    assert "W109" not in result.stderr, result.stderr


def test_multiprocess_pipe_gives_the_same_vectors(nlp):
    expected = [nlp(text) for text in TEXTS]
    docs = list(nlp.pipe(TEXTS, n_process=2, batch_size=2))
    for doc, want in zip(docs, expected):
        numpy.testing.assert_array_equal(doc._.elmo_vectors, want._.elmo_vectors)
        numpy.testing.assert_array_equal(doc[0].vector, want[0].vector)  # from doc.tensor
        add_vector_hooks(doc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no W007 once the hooks are back
        assert docs[0].similarity(docs[1]) == pytest.approx(expected[0].similarity(expected[1]), abs=1e-6)
