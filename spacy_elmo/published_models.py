"""The published biLMs that ``python -m spacy_elmo download NAME`` fetches, by name.

One table, as ``elmo_format`` and ``efml_format`` keep theirs: each entry names its files
relative to a base URL (``--base-url`` swaps the base for a mirror holding the same paths),
the spaCy language of the pipeline it becomes, its license and where its URLs come from.
Nothing here touches the network.

Sources (read 2026-12 with the project's search tools):
- AllenNLP: the "Pre-trained ELMo Models" table of https://allennlp.org/elmo (repository
  allenai/allennlp-website, elmo.html at commit 42141ec), which links
  s3-us-west-2.amazonaws.com/allennlp/models/elmo/...; the same S3 bucket under the host
  name allennlp.s3.amazonaws.com, as AllenNLP's ELMo tutorial (allenai/allennlp,
  tutorials/how_to/elmo.md at commit d3b6fcf) and bilm-tf's README link it, is used here.
- ELMoForManyLangs: the "Downloads" table of HIT-SCIR/ELMoForManyLangs' README.md (read
  from its fork berkay-onder/ELMoForManyLangs at commit f586849; the models are hosted by
  the NLPL word embeddings repository, http://vectors.nlpl.eu/repository/). Each zip holds
  the model folder's files at its root; config.json's config_path names the training
  machine's path of cnn_50_100_512_4096_sample.json, which efml_format finds among the
  architectures shipped with this package. The README's separate simplified-Chinese model
  (zhs.model.tar.xz, on a host that no longer answers) is not in the table.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

ALLENNLP_BASE = "https://allennlp.s3.amazonaws.com/"
NLPL_BASE = "http://vectors.nlpl.eu/repository/11/"
ALLENNLP_SOURCE = (
    "https://allennlp.org/elmo (Pre-trained ELMo Models; allenai/allennlp-website elmo.html "
    "@42141ec) and allenai/allennlp tutorials/how_to/elmo.md @d3b6fcf"
)
EFML_SOURCE = (
    "https://github.com/HIT-SCIR/ELMoForManyLangs README.md, Downloads (read from the fork "
    "berkay-onder/ELMoForManyLangs @f586849)"
)
# Neither publisher states a license for the weights themselves.
ALLENNLP_LICENSE = "not stated by AllenNLP (its code, allennlp and bilm-tf: Apache-2.0)"
EFML_LICENSE = "not stated by HIT-SCIR (its code, ELMoForManyLangs: MIT)"

KIND_ELMO = "elmo"  # options.json + weights.hdf5 (AllenNLP / bilm-tf format)
KIND_EFML = "efml"  # a zip of an ELMoForManyLangs model folder


@dataclass(frozen=True)
class PublishedModel:
    """A model by name: ``files`` are relative to ``base_url``; for KIND_ELMO they are
    (options, weights), for KIND_EFML (zip,). ``lang``: the spaCy language of the
    pipeline. ``size``: bytes of the largest file when the publisher states it."""

    name: str
    kind: str
    base_url: str
    files: Tuple[str, ...]
    lang: str
    description: str
    license: str
    source: str
    size: Optional[int] = None

    def urls(self, base_url: Optional[str] = None) -> Tuple[str, ...]:
        base = base_url or self.base_url
        return tuple(base.rstrip("/") + "/" + path for path in self.files)


def _allennlp(name: str, folder: str, description: str) -> PublishedModel:
    prefix = f"models/elmo/{folder}/elmo_{folder}"
    return PublishedModel(
        name, KIND_ELMO, ALLENNLP_BASE, (f"{prefix}_options.json", f"{prefix}_weights.hdf5"),
        "en", description, ALLENNLP_LICENSE, ALLENNLP_SOURCE,
    )


ALLENNLP_MODELS = (
    _allennlp("small", "2x1024_128_2048cnn_1xhighway",
              "English, 13.6M parameters, LSTM 1024 / output 128, 1 highway layer (1B Word Benchmark)"),
    _allennlp("medium", "2x2048_256_2048cnn_1xhighway",
              "English, 28.0M parameters, LSTM 2048 / output 256, 1 highway layer (1B Word Benchmark)"),
    _allennlp("original", "2x4096_512_2048cnn_2xhighway",
              "English, 93.6M parameters, LSTM 4096 / output 512, 2 highway layers (1B Word Benchmark)"),
    _allennlp("original-5.5b", "2x4096_512_2048cnn_2xhighway_5.5B",
              "English, 93.6M parameters as original, trained on 5.5B tokens (Wikipedia + WMT "
              "2008-2012 news); AllenNLP's recommended default"),
)

# (code, language, NLPL repository id, spaCy language): the README's Downloads table, in its
# order. spaCy 3.8 has no tokenizer for Old Church Slavonic, Galician or Uyghur: those
# pipelines use "xx" (multi-language); --lang overrides any of these.
EFML_LANGUAGES = (
    ("ar", "Arabic", 136, "ar"), ("bg", "Bulgarian", 137, "bg"), ("ca", "Catalan", 138, "ca"),
    ("cs", "Czech", 139, "cs"), ("cu", "Old Church Slavonic", 140, "xx"),
    ("da", "Danish", 141, "da"), ("de", "German", 142, "de"), ("el", "Greek", 143, "el"),
    ("en", "English", 144, "en"), ("es", "Spanish", 145, "es"), ("et", "Estonian", 146, "et"),
    ("eu", "Basque", 147, "eu"), ("fa", "Persian", 148, "fa"), ("fi", "Finnish", 149, "fi"),
    ("fr", "French", 150, "fr"), ("ga", "Irish", 151, "ga"), ("gl", "Galician", 152, "xx"),
    ("grc", "Ancient Greek", 153, "grc"), ("he", "Hebrew", 154, "he"), ("hi", "Hindi", 155, "hi"),
    ("hr", "Croatian", 156, "hr"), ("hu", "Hungarian", 157, "hu"),
    ("id", "Indonesian", 158, "id"), ("it", "Italian", 159, "it"), ("ja", "Japanese", 160, "ja"),
    ("ko", "Korean", 161, "ko"), ("la", "Latin", 162, "la"), ("lv", "Latvian", 163, "lv"),
    ("nb", "Norwegian Bokmål", 165, "nb"), ("nl", "Dutch", 164, "nl"),
    ("nn", "Norwegian Nynorsk", 166, "nn"), ("pl", "Polish", 167, "pl"),
    ("pt", "Portuguese", 168, "pt"), ("ro", "Romanian", 169, "ro"), ("ru", "Russian", 170, "ru"),
    ("sk", "Slovak", 171, "sk"), ("sl", "Slovene", 172, "sl"), ("sv", "Swedish", 173, "sv"),
    ("tr", "Turkish", 174, "tr"), ("ug", "Uyghur", 175, "xx"), ("uk", "Ukrainian", 176, "uk"),
    ("ur", "Urdu", 177, "ur"), ("vi", "Vietnamese", 178, "vi"),
    ("zh", "Chinese (traditional, Wikipedia)", 179, "zh"),
)


def _efml(code: str, language: str, repository_id: int, spacy_lang: str) -> PublishedModel:
    return PublishedModel(
        f"efml-{code}", KIND_EFML, NLPL_BASE, (f"{repository_id}.zip",), spacy_lang,
        f"ELMoForManyLangs {language} (20M words of the CoNLL 2018 shared task raw text)",
        EFML_LICENSE, EFML_SOURCE,
    )


EFML_MODELS = tuple(_efml(*row) for row in EFML_LANGUAGES)
PUBLISHED_MODELS: Dict[str, PublishedModel] = {m.name: m for m in ALLENNLP_MODELS + EFML_MODELS}
