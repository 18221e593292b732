"""python -m spacy_elmo download / spacy_elmo.download: published models by name.

The shipped fixture models are served from an HTTP server on 127.0.0.1 (with Range
support, and faults on demand), as a mirror (--base-url) holding the published paths:
tests/data/elmo as "small", tests/data/efml zipped as the published zips are (the model
folder's files at the root, config.json's config_path naming a path of the machine it was
trained on) as "efml-en". Nothing leaves the machine.
"""
import dataclasses
import hashlib
import importlib.util
import io
import re
import socket
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc
from typer.testing import CliRunner

from spacy_elmo import download, load_allennlp
from spacy_elmo.cli import app
from spacy_elmo.model_cache import cache_dir
from spacy_elmo.output_file import exclusive_lock
from spacy_elmo.published_models import PUBLISHED_MODELS

from .conftest import EFML_FIXTURES, FIXTURES
from .test_imports import _graph

runner = CliRunner()
OPTIONS_BYTES = (FIXTURES / "options.json").read_bytes()
WEIGHTS_BYTES = (FIXTURES / "lm_weights.hdf5").read_bytes()
SMALL = PUBLISHED_MODELS["small"]
OPTIONS_PATH, WEIGHTS_PATH = (f"/{path}" for path in SMALL.files)
ZIP_PATH = f"/{PUBLISHED_MODELS['efml-en'].files[0]}"
WORDS = ["That", "'s", "right", ",", "folks", "."]  # in the efml fixture's sentences.json


def efml_zip(extra: Optional[Dict[str, bytes]] = None) -> bytes:
    """The efml fixture as the published zips hold a model: files at the root."""
    config = srsly.read_json(EFML_FIXTURES / "model" / "config.json")
    config["config_path"] = "/users4/conll18st/elmo/configs/cnn_model.json"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((EFML_FIXTURES / "model").iterdir()):
            data = srsly.json_dumps(config).encode() if path.name == "config.json" else path.read_bytes()
            archive.writestr(path.name, data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Mirror:
    """What the test server serves, the faults it makes and the requests it saw."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {OPTIONS_PATH: OPTIONS_BYTES, WEIGHTS_PATH: WEIGHTS_BYTES,
                                        ZIP_PATH: efml_zip()}
        self.cut: Dict[str, int] = {}  # path: close the connection after this many bytes, once
        self.shift_range: bool = False  # answer a Range request with the wrong first byte
        self.ignore_range: bool = False  # answer a Range request with the whole file
        self.requests: List[Tuple[str, Optional[str]]] = []
        self.url = ""


def handler_for(mirror: Mirror):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            asked = self.headers.get("Range")
            mirror.requests.append((self.path, asked))
            asked = None if mirror.ignore_range else asked
            body = mirror.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]) if asked else 0
            if start >= len(body) and asked:
                self._headers(416, {"Content-Range": f"bytes */{len(body)}", "Content-Length": "0"})
                return
            headers = {"Content-Length": str(len(body) - start)}
            if asked:
                first = start + 1 if mirror.shift_range else start
                headers["Content-Range"] = f"bytes {first}-{len(body) - 1}/{len(body)}"
            self._headers(206 if asked else 200, headers)
            cut = mirror.cut.pop(self.path, None)
            self.wfile.write(body[start:] if cut is None else body[start:start + cut])
            if cut is not None:
                self.close_connection = True  # fewer bytes than Content-Length, then EOF

        def _headers(self, status: int, headers: Dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

    return Handler


@pytest.fixture
def mirror():
    state = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(folder))
    return folder


def run(*args) -> str:
    """The command in-process; returns its output with wasabi's line wrapping undone."""
    result = runner.invoke(app, ["download", *map(str, args)])
    return result.exit_code, " ".join(result.output.split())


def fail_line(*args, code: str) -> str:
    exit_code, output = run(*args)
    assert exit_code == 1 and "Traceback" not in output, output
    assert f"✘ [{code}]" in output, output
    return output


def files_under(folder: Path) -> List[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def assert_clean(cache: Path, allowed=("small", "small/options.json")) -> None:
    """No partial, lock or half-written file; nothing but complete, checked files."""
    assert set(files_under(cache)) <= set(allowed), files_under(cache)


def assert_layers(nlp, reference: numpy.ndarray) -> None:
    doc = nlp(Doc(nlp.vocab, words=WORDS))
    numpy.testing.assert_allclose(doc._.elmo_layers, reference, atol=1e-5)


def elmo_reference() -> numpy.ndarray:
    return load_allennlp(FIXTURES / "options.json", FIXTURES / "lm_weights.hdf5").embed([WORDS])[0]


def efml_reference() -> numpy.ndarray:
    """What the ELMoForManyLangs code computed for WORDS (tests/data/efml/README.md)."""
    sentences = srsly.read_json(EFML_FIXTURES / "sentences.json")
    sentence = sentences.index(WORDS) if WORDS in sentences else None
    assert sentence is not None, "the efml fixture has no layers for WORDS"
    return numpy.load(EFML_FIXTURES / "expected_layers.npz")[f"s{sentence}"]


# --- the table ---

def test_list_shows_every_published_model():
    exit_code, output = run("--list")
    assert exit_code == 0
    for name in PUBLISHED_MODELS:
        assert f" {name} " in f" {output} ", name
    assert len(PUBLISHED_MODELS) == 4 + 44
    assert f"Cache: {cache_dir()}" in output


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rule is the Linux one")
def test_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("SPACY_ELMO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "spacy-elmo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "spacy-elmo"


def test_the_table_holds_the_publishers_urls():
    """Checked against the URLs as the sources print them (see published_models.py)."""
    assert SMALL.urls()[0] == ("https://allennlp.s3.amazonaws.com/models/elmo/2x1024_128_2048cnn_1xhighway/"
                               "elmo_2x1024_128_2048cnn_1xhighway_options.json")
    assert PUBLISHED_MODELS["original-5.5b"].urls()[1] == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x4096_512_2048cnn_2xhighway_5.5B/"
        "elmo_2x4096_512_2048cnn_2xhighway_5.5B_weights.hdf5")
    efml = {m.name: m.urls()[0] for m in PUBLISHED_MODELS.values() if m.kind == "efml"}
    assert len(efml) == 44 and len(set(efml.values())) == 44
    assert {int(url.rsplit("/", 1)[1][:-4]) for url in efml.values()} == set(range(136, 180))
    # rows of the README's table, Dutch and Bokmål in its (non-alphabetical) order
    for name, number in (("efml-ar", 136), ("efml-de", 142), ("efml-en", 144), ("efml-nl", 164),
                         ("efml-nb", 165), ("efml-nn", 166), ("efml-zh", 179)):
        assert efml[name] == f"http://vectors.nlpl.eu/repository/11/{number}.zip"


def test_every_table_language_is_a_spacy_language():
    for model in PUBLISHED_MODELS.values():  # found without importing all 44 languages
        assert importlib.util.find_spec(f"spacy.lang.{model.lang}") is not None, model.name


# --- downloads that work ---

def test_download_by_name_converts_to_a_loadable_pipeline(mirror, cache):
    expected = hashlib.sha256(WEIGHTS_BYTES).hexdigest()
    path = download("small", base_url=mirror.url, sha256=expected, progress=False)
    assert path == cache / "small" / "pipeline-en"
    nlp = spacy.load(path)
    assert_layers(nlp, elmo_reference())
    sources = {entry["url"]: entry["sha256"] for entry in nlp.meta["sources"]}
    assert sources == {mirror.url + OPTIONS_PATH: hashlib.sha256(OPTIONS_BYTES).hexdigest(),
                       mirror.url + WEIGHTS_PATH: expected}
    assert (cache / "small" / "weights.hdf5").read_bytes() == WEIGHTS_BYTES
    assert not [f for f in files_under(cache) if f.endswith((".partial", ".lock"))]


def test_a_second_call_reads_the_cache(mirror, cache):
    first = download("small", base_url=mirror.url, convert=False, progress=False)
    requests = len(mirror.requests)
    assert download("small", base_url=mirror.url, convert=False, progress=False) == first
    assert len(mirror.requests) == requests


@pytest.mark.slow  # converts again: the fast tier converts once per format
def test_the_command_prints_the_path_to_load(mirror, cache):
    exit_code, output = run("small", "--base-url", mirror.url)
    assert exit_code == 0, output
    assert f'spacy.load("{cache / "small" / "pipeline-en"}")' in output


def test_efml_zip_by_language_code(mirror, cache):
    path = download("efml-en", base_url=mirror.url, progress=False)
    assert_layers(spacy.load(path), efml_reference())
    assert sorted(p.name for p in (cache / "efml-en").iterdir()) == ["download.json", "model", "pipeline-en"]
    record = srsly.read_json(cache / "efml-en" / "download.json")
    assert record["files"][0]["sha256"] == hashlib.sha256(mirror.files[ZIP_PATH]).hexdigest()


def test_a_url_as_name(mirror, cache):
    mirror.files["/mine/elmo_tiny_options.json"] = OPTIONS_BYTES
    mirror.files["/mine/elmo_tiny_weights.hdf5"] = WEIGHTS_BYTES
    path = download(mirror.url + "/mine/elmo_tiny_weights.hdf5", convert=False, progress=False)
    assert (path / "options.json").read_bytes() == OPTIONS_BYTES
    assert (path / "weights.hdf5").read_bytes() == WEIGHTS_BYTES
    assert ("/mine/elmo_tiny_options.json", None) in mirror.requests
    assert path.name.startswith("elmo_tiny-")


@pytest.mark.slow  # converts again: the fast tier converts once per format
def test_a_local_folder_as_name(tmp_path, cache):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "options.json").write_bytes(OPTIONS_BYTES)
    (folder / "weights.hdf5").write_bytes(WEIGHTS_BYTES)
    nlp = spacy.load(download(str(folder), tmp_path / "out", progress=False))
    assert_layers(nlp, elmo_reference())
    assert nlp.meta["sources"][0]["sha256"] == hashlib.sha256(WEIGHTS_BYTES).hexdigest()


def test_a_local_zip_as_name(tmp_path, cache):
    (tmp_path / "144.zip").write_bytes(efml_zip())
    path = download(str(tmp_path / "144.zip"), convert=False, progress=False)
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in (EFML_FIXTURES / "model").iterdir())
    assert (tmp_path / "144.zip").is_file()  # read where it is, never removed


def test_no_convert_keeps_the_raw_files(mirror, cache):
    path = download("small", base_url=mirror.url, convert=False, progress=False)
    assert path == cache / "small"
    assert sorted(p.name for p in path.iterdir()) == ["download.json", "options.json", "weights.hdf5"]


def test_an_interrupted_transfer_resumes(mirror, cache):
    mirror.cut[WEIGHTS_PATH] = 100_000
    output = fail_line("small", "--base-url", mirror.url, "--no-convert", code="E804")
    assert "run the same command again" in output
    partial = cache / "small" / "weights.hdf5.partial"
    assert partial.stat().st_size == 100_000
    assert_clean(cache, allowed=("small", "small/options.json", "small/weights.hdf5.partial"))

    exit_code, output = run("small", "--base-url", mirror.url, "--no-convert")
    assert exit_code == 0, output
    assert (WEIGHTS_PATH, "bytes=100000-") in mirror.requests
    assert (cache / "small" / "weights.hdf5").read_bytes() == WEIGHTS_BYTES
    assert not partial.exists()


def test_a_complete_partial_file_is_taken_after_its_checks(mirror, cache):
    """A process killed between the last byte and the rename: the server answers 416."""
    (cache / "small").mkdir(parents=True)
    (cache / "small" / "weights.hdf5.partial").write_bytes(WEIGHTS_BYTES)
    download("small", base_url=mirror.url, convert=False, progress=False)
    assert (WEIGHTS_PATH, f"bytes={len(WEIGHTS_BYTES)}-") in mirror.requests
    assert (cache / "small" / "weights.hdf5").read_bytes() == WEIGHTS_BYTES


def test_a_server_without_range_support_sends_it_all_again(mirror, cache):
    mirror.cut[WEIGHTS_PATH] = 1000
    fail_line("small", "--base-url", mirror.url, "--no-convert", code="E804")
    mirror.ignore_range = True
    download("small", base_url=mirror.url, convert=False, progress=False)
    assert (WEIGHTS_PATH, "bytes=1000-") in mirror.requests
    assert (cache / "small" / "weights.hdf5").read_bytes() == WEIGHTS_BYTES


def test_a_model_another_process_is_downloading_is_refused(mirror, cache):
    cache.mkdir()
    with exclusive_lock(cache / "small"):
        fail_line("small", "--base-url", mirror.url, code="E505")
    assert not mirror.requests


# --- failures: one coded line each, the cache left clean ---

def test_a_size_other_than_the_published_one(mirror, cache, monkeypatch):
    monkeypatch.setitem(PUBLISHED_MODELS, "small", dataclasses.replace(SMALL, size=len(WEIGHTS_BYTES) + 1))
    fail_line("small", "--base-url", mirror.url, code="E805")
    assert_clean(cache)


def test_a_resume_answered_from_the_wrong_byte(mirror, cache):
    mirror.cut[WEIGHTS_PATH] = 1000
    fail_line("small", "--base-url", mirror.url, code="E804")
    mirror.shift_range = True
    fail_line("small", "--base-url", mirror.url, code="E806")
    assert_clean(cache)


def test_a_corrupt_weights_file(mirror, cache):
    mirror.files[WEIGHTS_PATH] = b"<html>not the weights</html>" * 100
    output = fail_line("small", "--base-url", mirror.url, code="E816")
    assert "HDF5" in output
    assert_clean(cache)


def test_weights_that_do_not_fit_their_options(mirror, cache):
    options = srsly.json_loads(OPTIONS_BYTES)
    options["lstm"]["dim"] *= 2
    mirror.files[OPTIONS_PATH] = srsly.json_dumps(options).encode()
    output = fail_line("small", "--base-url", mirror.url, code="E816")
    assert "[E007]" in output  # the loader's own message, naming the dataset
    assert_clean(cache)


def test_a_corrupt_zip(mirror, cache):
    mirror.files[ZIP_PATH] = mirror.files[ZIP_PATH][:-200] + b"\0" * 200
    fail_line("efml-en", "--base-url", mirror.url, code="E809")
    assert_clean(cache, allowed=())


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/absolute.txt"])
def test_a_zip_member_outside_the_folder(mirror, cache, tmp_path, member):
    mirror.files[ZIP_PATH] = efml_zip({member: b"x"})
    fail_line("efml-en", "--base-url", mirror.url, code="E810")
    assert_clean(cache, allowed=())
    assert not (tmp_path / "escaped.txt").exists() and not (cache.parent / "escaped.txt").exists()


def test_a_zip_that_would_expand_too_far(mirror, cache, monkeypatch):
    monkeypatch.setattr("spacy_elmo.model_archive.MAX_EXTRACTED_BYTES", 1000)
    fail_line("efml-en", "--base-url", mirror.url, code="E823")
    assert_clean(cache, allowed=())


def test_not_found(mirror, cache):
    fail_line("small", "--base-url", mirror.url + "/elsewhere", code="E803")
    assert_clean(cache, allowed=())


def test_no_network(cache):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fail_line("small", "--base-url", f"http://127.0.0.1:{port}", code="E802")
    assert_clean(cache, allowed=())


def test_a_sha256_mismatch(mirror, cache):
    fail_line("small", "--base-url", mirror.url, "--sha256", "0" * 64, code="E808")
    assert_clean(cache)


@pytest.mark.parametrize("args,code", [
    (["no-such-model"], "E800"),
    (["http://127.0.0.1:9/model.tar.gz"], "E801"),
    (["small", "--sha256", "abc"], "E812"),
    (["small", "--base-url", "ftp://mirror/"], "E813"),
    (["http://127.0.0.1:9/x_weights.hdf5", "--base-url", "http://127.0.0.1:9/"], "E814"),
    (["small", "OUT", "--no-convert"], "E818"),
    (["small", "--lang", "qq"], "E425"),
    (["small", "--segmenter", "jieba"], "E720"),
    ([], "E822"),
])
def test_bad_requests_are_refused_before_any_download(args, code, cache):
    fail_line(*args, code=code)
    assert_clean(cache, allowed=())


def test_an_output_folder_with_files_is_refused(mirror, cache, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("user data")
    fail_line("small", tmp_path / "out", "--base-url", mirror.url, code="E817")
    assert (tmp_path / "out" / "mine.txt").read_text() == "user data"
    assert not mirror.requests  # refused before downloading


@pytest.mark.slow  # converts again: the fast tier converts once per format
def test_an_empty_output_folder_is_taken(mirror, cache, tmp_path):
    (tmp_path / "out").mkdir()
    assert download("small", tmp_path / "out", base_url=mirror.url, progress=False) == tmp_path / "out"
    assert_layers(spacy.load(tmp_path / "out"), elmo_reference())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out"]  # no work folder left


def test_importing_the_package_loads_no_network_code():
    """Nothing that ``import spacy_elmo`` runs (the package and the extensions it installs)
    imports the download code, at module level or in a function: spacy_elmo.download
    loads it on first use. Read from the source, as test_imports reads the import graph."""
    graph = _graph()
    reached, todo = set(), ["spacy_elmo", "spacy_elmo.extensions"]
    while todo:
        for dep in graph[todo.pop()] - reached:
            reached.add(dep)
            todo.append(dep)
    assert not reached & {"spacy_elmo.model_download", "spacy_elmo.fetch", "spacy_elmo.commands.download"}
    assert "spacy_elmo.fetch" in graph["spacy_elmo.model_download"]  # the reader sees that edge
