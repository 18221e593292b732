"""Commands of ``python -m spacy_elmo``: convert and embed (each registers on _cli_app.app)."""
