"""Error and warning messages of spacy-elmo, each with a code, naming what is wrong.

As in spaCy, reading a message from ``Errors`` or ``Warnings`` gives it with its code in
front: ``Errors.E001`` is ``"[E001] Options file {path} not found."``.
"""


class _WithCodes(type):
    """Prefix every message attribute (``E001``, ``W111``) with its code in brackets."""

    def __getattribute__(cls, name: str):
        value = super().__getattribute__(name)
        if name[:1] in "EW" and name[1:].isdigit():
            return f"[{name}] {value}"
        return value


class Warnings(metaclass=_WithCodes):
    # spaCy component "elmo": W100-W199
    W111 = (
        "Component '{name}': no weights given in [initialize.components.{name}] (weights = "
        "path): the biLM has random weights and refuses to run until weights are loaded "
        "(or allow_random_weights = true is set in [components.{name}.model])."
    )

    # convert (traps): W113-W129
    W113 = (
        "ELMoForManyLangs model {path} is Chinese, but the pipeline (lang '{lang}') uses "
        "spaCy's character segmenter: one token per character, while the published Chinese "
        "models expect words. Use --lang zh --segmenter jieba (pip install jieba)."
    )

    W114 = (
        "nlp.replace_listeners: component '{name}' was sourced from another pipeline and "
        "cannot rewrite this pipeline's config, so the replaced listeners would not load back "
        "after nlp.to_disk. Save the pipeline and replace the listeners after spacy.load."
    )

    # Pretraining (spacy_elmo/pretrain): W300-W399
    W303 = "Corpus file {path} is empty: skipped."
    W304 = "Corpus file {path} looks binary (NUL byte in its first {n_bytes} bytes): skipped."
    W308 = (
        "The corpus has only {found} distinct tokens, fewer than vocab_size={requested}: "
        "the vocabulary keeps all {found}."
    )
    W318 = (
        "n_samples={n_samples} is not smaller than the vocabulary ({vocab_size} entries): "
        "the full softmax is used."
    )
    W319 = "Mixed precision needs a CUDA device: ignored on {device}."
    W322 = (
        "Resuming with {world_size} processes from a checkpoint written by {saved}: the "
        "random states of the processes are re-seeded, so the run is no longer bit-exact."
    )

    # Reduced-precision inference and distributed embedding (nn/precision.py, embed): W910-W919
    W910 = (
        "compute_dtype 'bfloat16': this {device} has no native bfloat16 matmuls: the biLM "
        "runs float32 (as fast here, and exact)."
    )
    W911 = (
        "compute_dtype 'int8': no quantized int8 matmuls on {device} (they need a CPU with "
        "the fbgemm or onednn engine): the biLM runs float32."
    )


class Errors(metaclass=_WithCodes):
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
    # sizes and values checked before anything is allocated (faults-b): E015-E039
    E015 = "{name} must be {expected}, found {value!r}."
    E016 = (
        "char_cnn.filters must be a non-empty list of [width, n_filters] pairs of positive "
        "integers, found {value!r}."
    )
    E017 = (
        "char_cnn.filters: a filter of width {width} is wider than a token "
        "(max_characters_per_token = {max_chars})."
    )
    E018 = "{name} = {value} is more than {limit}: no biLM has that many."
    E020 = (
        "Weights file {path}, dataset '{dataset}' holds {dtype} values, not real numbers: "
        "refused (their imaginary part or fields would be dropped)."
    )
    E021 = (
        "Weights file {path}: '{dataset}' is a {kind}, not a dataset (expected a dataset of "
        "shape {expected})."
    )
    E022 = "Weights file {path}: dataset '{dataset}' is a link to {target}, which does not exist."
    E019 = (
        "A biLM with {dims} holds {n:,} numbers ({gib:,.1f} GiB as float32), more than this "
        "machine's memory ({memory:,.1f} GiB): nothing was allocated. Check the dimensions."
    )

    # ELMoForManyLangs models (efml_format, nn lexicon): E600-E649
    E600 = "token_encoder must be 'elmo' or 'efml', found '{value}'."
    E601 = (
        "word_dim ({word_dim}) and n_words ({n_words}) must be 0 with token_encoder "
        "'elmo': word embeddings exist only in ELMoForManyLangs ('efml') models."
    )
    E602 = (
        "token_encoder 'efml' needs n_characters >= 1 (the entries of char.dic) and "
        "n_words > 0 exactly when word_dim > 0: found n_characters={n_characters}, "
        "word_dim={word_dim}, n_words={n_words}."
    )
    E603 = (
        "ELMoForManyLangs architecture: {block} name '{found}' is not supported (only "
        "'{expected}', the kind of every published model)."
    )
    E604 = (
        "An ELMoForManyLangs ('efml') biLM cannot be written as options.json + "
        "weights.hdf5: that format has no char vocabulary or word embeddings. Save it "
        "as a spaCy pipeline (python -m spacy_elmo convert MODEL_DIR OUTPUT_DIR)."
    )
    E605 = (
        "ELMoForManyLangs vocabulary: {found} entries ({distinct} distinct), but the model "
        "has {expected} rows: the vocabulary and the weights do not belong together."
    )
    E606 = "ELMoForManyLangs vocabulary: special entries {missing} missing (or an entry holds a line break)."
    E607 = (
        "This ELMoForManyLangs biLM has no vocabulary yet: load a model "
        "(spacy_elmo.load_elmoformanylangs, or initialize the pipeline with weights = MODEL_DIR)."
    )
    E610 = "ELMoForManyLangs config {path} has no string field 'config_path' (the architecture file)."
    E611 = (
        "ELMoForManyLangs config {path}: config_path '{name}' resolves nowhere. Tried: "
        "{tried}. Put the architecture JSON in the model folder."
    )
    E612 = (
        "ELMoForManyLangs vocabulary file {path} not found (char.dic is always needed, "
        "word.dic when word_dim > 0)."
    )
    E613 = "ELMoForManyLangs vocabulary file {path}, line {line}: expected 'token<TAB>id', found {found!r}."
    E614 = (
        "ELMoForManyLangs vocabulary file {path}: the ids must be 0..{n}-1, each once, "
        "and the tokens distinct."
    )
    E615 = "ELMoForManyLangs model folder {path} not found."
    E616 = "ELMoForManyLangs architecture file {path}: {problem}"
    E617 = "ELMoForManyLangs weights file {path} not found."
    E618 = (
        "ELMoForManyLangs weights file {path} is not a state dict of tensors ({error}). "
        "Only tensors are read (torch.load with weights_only=True): nothing else is unpickled."
    )
    E619 = (
        "ELMoForManyLangs weights file {path} holds tensors {keys} that this architecture "
        "does not have: the architecture file does not match these weights."
    )
    E620 = "ELMoForManyLangs weights file {path} has no tensor '{key}' (expected shape {expected})."
    E621 = (
        "ELMoForManyLangs weights file {path}, tensor '{key}': expected shape {expected}, "
        "found {found}. The architecture file or the vocabularies do not match these weights."
    )
    E622 = "ELMoForManyLangs weights file {path}, tensor '{key}' is not finite floating point."
    E623 = "ELMoForManyLangs file {path} not found."
    E624 = "ELMoForManyLangs file {path} is not valid JSON: {error}"
    E627 = (
        "ELMoForManyLangs vocabulary file {path}, line {line}: {what} is already on line "
        "{first}. Each id and each token must appear once."
    )
    E628 = (
        "Only an ELMoForManyLangs biLM (token_encoder 'efml', with skip connections) can be "
        "written in its layout; this one has token_encoder '{token_encoder}', "
        "use_skip_connections {skip}. Write it as options.json + weights.hdf5 instead."
    )
    E629 = (
        "Cannot write ELMoForManyLangs vocabulary file {path}: entry {entry!r} (id {id}) "
        "begins or ends with white space or holds a tab, which its reader strips or "
        "splits on. Nothing was written."
    )

    # Downloading published models (spacy_elmo/download.py): E800-E849
    E800 = (
        "Unknown model '{name}': not a published model (python -m spacy_elmo download "
        "--list), an http(s) URL or an existing path."
    )
    E801 = (
        "Cannot tell which model files the URL {url} names: give an ELMoForManyLangs .zip, "
        "or the URL of an options.json or weights.hdf5 file (the other one's URL is the same "
        "with options.json <-> weights.hdf5)."
    )
    E802 = "Cannot reach {url}: {reason}. Check the network, or give a mirror with --base-url."
    E803 = "{url}: the server answered HTTP {status} {reason}. Nothing was kept."
    E804 = (
        "Download of {url} interrupted after {received} of {total} bytes ({reason}): run "
        "the same command again to resume it ({partial} is kept for that)."
    )
    E805 = (
        "{url}: the server announces {found} bytes, the published file has {expected}: "
        "not the published file. Nothing was kept."
    )
    E806 = (
        "{url}: asked to resume from byte {offset}, the server answered Content-Range "
        "'{found}'. The partial download was removed: run the command again to start over."
    )
    E807 = (
        "{url}: {found} bytes received, the server announced {expected}. Nothing was kept."
    )
    E808 = "{what}: SHA-256 {found}, expected {expected} (--sha256). Nothing was kept."
    E809 = "{what} is not a readable zip file: {error}. Nothing was kept."
    E810 = (
        "{what}: zip member '{member}' would be written outside the model folder (an "
        "absolute path, '..' or a link): refused. Nothing was kept."
    )
    E811 = (
        "{what}: no ELMoForManyLangs model in the zip (config.json and encoder.pkl at its "
        "root, or in a single folder). Nothing was kept."
    )
    E812 = "--sha256 must be 64 hexadecimal digits, found '{value}'."
    E813 = "--base-url must be an http(s) URL, found '{value}'."
    E814 = (
        "--base-url applies to the published models (python -m spacy_elmo download --list), "
        "not to '{name}'."
    )
    E815 = (
        "spaCy's '{lang}' language needs a package that is not installed ({error}). "
        "Install it, or download with --lang xx (spaCy's multi-language tokenizer)."
    )
    E816 = "{what} is not a usable {expected}: {error} Nothing was kept."
    E817 = (
        "Output folder {path} exists and is not empty: give a new folder (download never "
        "writes over a folder)."
    )
    E818 = (
        "OUTPUT_DIR is where the converted pipeline goes: with --no-convert nothing is "
        "converted (the files stay in {path})."
    )
    E819 = (
        "{path} holds no model: expected options.json + weights.hdf5, an ELMoForManyLangs "
        "model folder, or an ELMoForManyLangs .zip."
    )
    E820 = "Cannot write to the cache folder {path}: {error}. Set SPACY_ELMO_CACHE to a writable folder."
    E822 = "Give a NAME: python -m spacy_elmo download --list shows the published models."
    E823 = "{what} would expand to {size} bytes, more than {limit}: refused. Nothing was kept."

    # Pretraining (spacy_elmo/pretrain): E300-E399
    E300 = "Pretraining config: unknown setting [{section}] {key}. Known: {known}."
    E301 = "Pretraining config: [{section}] {key} must be {expected}, found {found!r}."
    E302 = "Corpus path {path} not found (from [paths] {key})."
    E307 = "Corpus {paths} holds no tokens: nothing to train on."
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
    E320 = "Checkpoint {path} is not a readable spacy-elmo checkpoint: {error}"
    E321 = (
        "training.device is '{device}' (--gpu-id) but this torch has no CUDA device (a CPU "
        "build or no GPU): use --gpu-id -1 or training.device = \"cpu\"."
    )
    E323 = "Cannot resume the run in {path}: it has no config.cfg."
    E325 = "Evaluation mode must be 'sentence' or 'stream', found '{mode}'."
    # A run's output folder (spacy_elmo/pretrain/run_folder.py, checkpoint.py): E330-E349
    E330 = (
        "Checkpoint index {path} is refused: {problem}. A run's files are read as data, "
        "never as paths to follow, so nothing was written or deleted. Delete {path} and "
        "start the run over with --force."
    )
    E331 = (
        "Checkpoint {path} is a symbolic link: refused. A run's checkpoints are plain "
        "files in its checkpoints/ folder."
    )
    E332 = (
        "{path} does not look like a pretraining run ({reason}): --force deletes only the "
        "files a run writes, and only in a folder that holds one. Choose another output "
        "folder."
    )
    E333 = (
        "{path} holds files a pretraining run does not write: {files}. The run would "
        "replace the folders they are in: move them away or choose another output folder."
    )
    E334 = (
        "Output folder {path} is in use by another pretraining process ({holder}; it holds "
        "{lock}). Wait for it to finish, or choose another output folder."
    )
    E335 = (
        "[paths] {key} = {path} is one of the files the run in {output} writes ({name}): "
        "it would be overwritten. Copy it elsewhere or choose another output folder."
    )
    E336 = "Output folder {path} is a file: give a folder path."
    # sizes checked before anything is allocated (faults-b): E350-E359
    E350 = (
        "Pretraining config: one training step needs at least {gib:,.1f} GiB, more than this "
        "machine's memory ({memory:,.1f} GiB): training.batch_size={batch_size}, "
        "unroll_steps={unroll_steps}, max_sentence_length={max_sentence_length}, "
        "vocab_size={vocab_size}, a biLM of {n_parameters:,} numbers. Nothing was written."
    )
    E351 = (
        "[paths] dev = {path} holds only blank lines: there is nothing to evaluate. Give "
        "a dev text or set paths.dev = null. Nothing was written."
    )

    # published architectures by name (nn/options.py; core-caches): E040-E049
    E040 = "Unknown architecture '{size}': use one of {known}."

    # Adapting a biLM to a task's text (spacy_elmo/pretrain/adapt.py, task_text.py): E360-E399
    E360 = "Task data {path} not found: give a .spacy file, a text file or a folder of them."
    E361 = "Task data folder {path} holds no .spacy or text files."
    E362 = "Task data file {path} is not a readable .spacy file (DocBin): {error}"
    E363 = "Task data {path} holds no words: nothing to adapt the biLM on."
    E364 = "Cannot adapt the model {path}: {problem}"
    E366 = (
        "OUTPUT {output} and {what} {path} overlap (one is, holds or is inside the "
        "other): the adaptation would write over its own input. Choose another OUTPUT."
    )
    E367 = (
        "OUTPUT {path} holds files of something else ({found}) and no adaptation run "
        "({run}/): choose a new or empty folder (nothing there is deleted, not even with "
        "--force)."
    )
    E368 = (
        "--steps {steps} leaves no step to adapt the biLM after the softmax warm-up of "
        "{warmup} steps (the model has no softmax for this vocabulary): use --steps "
        "{minimum} or more."
    )
    E369 = "--steps must be a positive integer, found {steps}."
    E370 = (
        "[model] token_encoder = '{token_encoder}' needs [paths] init_bilm: an "
        "ELMoForManyLangs biLM's char.dic and word.dic come from the model it continues "
        "(python -m spacy_elmo adapt MODEL TRAIN OUTPUT sets both)."
    )
    E371 = "--patience must be a positive integer, found {patience}."

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
        "an ELMoForManyLangs model folder (config.json, char.dic, *.pkl), "
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
    E112 = "Component '{name}': got gradients for {found} docs, but the batch has {expected}."

    # No silent random vectors, replace_listeners (traps): E120-E149
    E120 = (
        "This ELMo biLM (spacy-elmo.ElmoModel) never received weights: its vectors would be "
        "random. Load weights: a pipeline from 'python -m spacy_elmo download NAME' or "
        "'python -m spacy_elmo convert ...' (spacy.load it, or nlp.add_pipe(\"elmo\", "
        "source=spacy.load(PIPELINE))), or set [initialize.components.elmo] weights = PATH "
        "and call nlp.initialize() (\"weights\" for spacy-elmo.ElmoStandalone.v1). For "
        "random weights on purpose (tests, training from scratch) set allow_random_weights "
        "= true in the model config ([components.elmo.model])."
    )

    # frozen-feature cache (layers/feature_cache.py, spacy-elmo.ElmoModel): E700-E719
    E700 = (
        "spacy-elmo.ElmoModel: feature_cache_bytes must be a non-negative integer (bytes; 0 "
        "disables the cache), found {value}."
    )
    E701 = (
        "spacy-elmo.ElmoModel: feature_cache_dtype must be 'float32' or 'float16', found "
        "'{dtype}'."
    )

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

    # convert's output folder, --lang, the command conveniences (traps): E420-E449
    E420 = "Output {path} is a file: give a folder path (it will hold the pipeline)."
    E421 = "Output folder {output} is or holds the input {input}: choose another output folder."
    E422 = (
        "Output folder {path} exists and is not empty: use --force to replace it (a "
        "pipeline folder only), or another path."
    )
    E423 = (
        "Output folder {path} is not a spaCy pipeline (no config.cfg + meta.json): --force "
        "replaces only a pipeline folder, never other files. Choose another path."
    )
    E424 = "Cannot write the output folder {path}: {error}. Nothing was replaced."
    E425 = (
        "{what} '{lang}' is not a language spaCy knows (spacy.util.get_lang_class): use a "
        "code such as en, de, zh, or xx (multi-language)."
    )
    E426 = "--segmenter must be one of {known}, found '{segmenter}'."
    E427 = (
        "{path} holds {options}: it is an original ELMo model, not an ELMoForManyLangs "
        "folder. Convert it with: convert {path}/{options} {path}/WEIGHTS.hdf5 OUTPUT_DIR."
    )
    E428 = (
        "{path} is an ELMoForManyLangs model folder, not an options.json: convert it with "
        "the two-argument form: convert {path} OUTPUT_DIR."
    )
    E429 = "The Chinese word segmenter '{segmenter}' cannot be loaded: {error}"
    E430 = (
        "{what} {gpu_id} asks for CUDA, but this torch ({version}, {build}) has no CUDA "
        "device: use --gpu-id -1 (the CPU), or install a CUDA build of torch on a GPU machine."
    )
    E431 = "{what} {gpu_id}: no such device; use {found}."
    E432 = "--threads must be a positive integer, found {value}."
    E433 = "--device must be cpu, cuda or cuda:N (deprecated: use --gpu-id -1 or N), found '{device}'."
    # the same block, codes of core-caches (E625/E626 sat among the ELMoForManyLangs
    # model errors): E720-E729
    E720 = "--segmenter applies to Chinese pipelines only (lang 'zh'), found lang '{lang}'."
    E721 = (
        "convert takes MODEL_DIR OUTPUT_DIR (an ELMoForManyLangs model folder) or "
        "OPTIONS_JSON WEIGHTS_HDF5 OUTPUT_DIR (the original format); found {found}."
    )

    # Safety of loading and writing files, clean command errors: E500-E549
    E500 = (
        "{path} is not a plain torch file of tensors and values ({reason}). It was NOT "
        "loaded: it may hold pickled objects, and unpickling them could run arbitrary "
        "code. Use only files written by spacy-elmo that you trust; re-create this one."
    )
    E501 = "{path} is not a readable torch file (truncated or another format): {error}"
    E502 = (
        "Checkpoint index {path} is corrupt: {error}. Delete it (the run then restarts "
        "from scratch with --force) or point its \"file\" at a checkpoints/step-*.pt."
    )
    E503 = "Output {output} is the input file {input}: choose another output path."
    E504 = "Output file {path} already exists: use --force to replace it, or another path."
    E505 = (
        "Output file {path} is being written by another process (it holds {lock}). Wait "
        "for it to finish, or choose another output path."
    )
    E506 = "Output {path} is a directory: give a file path."
    # torch files that load but hold the wrong content (faults-b): E530-E549
    E530 = (
        "{path}, tensor '{key}' holds NaN or Inf values: refused (every vector computed "
        "from it would be NaN). Re-create the file from good weights."
    )
    E531 = "{path} does not hold a state dict of named tensors: found {found}."
    E532 = (
        "{path}, tensor '{key}': expected shape {expected}, found {found}. The file does "
        "not belong to this model (its config.cfg, vocab.txt or options.json differ)."
    )
    E533 = "{path} is not a spacy-elmo file of this kind: '{key}' must be {expected}, found {found}."
    E508 = "{what} {path} is a directory: give the file inside it ({name})."
    E509 = (
        "Output {output} is inside the input folder {input}: it would be read as input "
        "(and overwrite what is there). Choose an output outside it."
    )
    E510 = (
        "Could not write {path}: {reason}. Nothing was left half-written: free some space "
        "or choose a writable folder, then run again."
    )
    E507 = (
        "{what} {path}, line {line}: invalid UTF-8 ({error}). Every command refuses invalid "
        "UTF-8: fix or remove the line (e.g. iconv -c -f utf-8 -t utf-8)."
    )
    # core-caches (issue 21): torch modules in Thinc layers, config overrides: E722-E729
    E722 = "The saved weights do not fit the model built from the config: {error}"
    E723 = "Thinc layer '{name}' holds no torch module in its shim."
    E724 = "Invalid config override '{arg}': use --section.key value or --section.key=value."
    E725 = "Config validation error in {path}:"

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

    # Continued pretraining from a biLM ([paths] init_bilm, spacy_elmo/pretrain/init_model.py): E650-E699
    E650 = "Cannot start pretraining from [paths] init_bilm = {path}: {problem}"
    E651 = (
        "a file, not a model: give a pretraining output directory (or its final/), a "
        "directory with options.json + weights.hdf5, or a spaCy pipeline directory."
    )
    E652 = (
        "The biLM in [paths] init_bilm = {path} differs from the config's [model] section: "
        "{diffs}. Set these values in [model] (--model.KEY VALUE) or use the config the "
        "biLM was trained with."
    )
    E653 = (
        "a pretraining run without a final/ export (stopped before its end): finish it "
        "with 'pretrain ... --resume' first."
    )
    E654 = "softmax file {file} is not usable: {problem}"

    # Reduced-precision inference and distributed embedding (nn/precision.py, embed): E900-E949
    E900 = "compute_dtype must be one of {allowed}, found '{value}'."
    E901 = (
        "embed under torchrun: process {rank} of this node would use GPU {index} (--gpu-id "
        "plus its LOCAL_RANK), but {count} are visible: start at most {count} processes per "
        "node from --gpu-id 0, or fewer."
    )
