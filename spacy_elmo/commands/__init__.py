"""Commands of ``python -m spacy_elmo``, one layout for all: each module here holds only
typer commands (argument parsing, progress and ``✘`` error lines) registered on
``_cli_app.app``, over library functions that live outside this package and import no
CLI code: ``convert`` (convert.py), ``embed`` (embed_file.py), ``pretrain`` /
``evaluate`` / ``vocab`` and ``adapt`` (the ``pretrain`` package)."""
