"""Error messages of spacy-elmo, each with a code, naming what is wrong."""


class Errors:
    E001 = "Options file {path} not found."
    E002 = "Options file {path} is not valid JSON: {error}"
    E003 = "Options file {path}: {problem}"
    E004 = "Weights file {path} not found."
    E005 = "Weights file {path} is not a readable HDF5 file: {error}"
    E006 = "Weights file {path} has no dataset '{dataset}' (expected shape {expected})."
    E007 = (
        "Weights file {path}, dataset '{dataset}': expected shape {expected}, found "
        "{found}. The options do not match these weights."
    )
    E008 = (
        "n_characters must be 261 (written by the original trainer) or 262 (for "
        "prediction), found {value}."
    )
    E009 = "activation must be 'relu' or 'tanh', found '{value}'."
    E010 = "max_characters_per_token must be at least 3, found {value}."
    E011 = "Sentence {index} is not a list of strings: found {found!r}."
    E012 = "Weights file {path}, dataset '{dataset}' holds non-finite values."
    E013 = "Scalar mix: expected {expected} layer weights, found {found}."
    E014 = "Initial state of shape {found} does not match the model (expected {expected})."
