#!/usr/bin/env bash
# Reproduce the shipped checkpoints (codec, prior-gru, prior-lstm) from the corpus, then
# measure them and regenerate the model card's tables from what was measured.
#
#   scripts/train_shipped.sh                # the real run: ~4.7 hours on 2 CPU cores
#   RUNS=/big/disk scripts/train_shipped.sh # where runs and mels go (default runs/)
#
# Resumable: re-running the same command continues where it stopped. A finished stage (its
# musicgen.json written, its chooser.keras saved, its figures stored) is skipped; an
# interrupted `train` resumes from its own --out (the epoch it reached is kept in
# <out>/_work); so stop and restart it freely.
#
# Environment (defaults are what shipped):
#   RUNS           working folder (default runs)          DATA    manifest or audio folder
#   PRESET         model sizes: small | tiny (tests)      PYTHON  interpreter (default python)
#   CODEC_MINUTES / PRIOR_MINUTES / CODEC_EPOCHS / CODEC_LR / PRIOR_EPOCHS   training limits
#   INIT_CODEC     a trained codec to fine-tune (default: none; the codec starts from a
#                  PCA + residual k-means fit of the corpus, see musicgen/codec_init.py)
#   MORE_MINUTES / MORE_LR / MORE_EPOCHS   each prior then trains on for this long (default
#                  100 min, at most MORE_EPOCHS epochs) at this learning rate (default 1e-3),
#                  started from its first run (--init-prior); MORE_MINUTES=0 ships the first
#                  run's priors
#   CHECKPOINTS    where the models are copied (default checkpoints)
#   CHOOSER_ARGS   extra `train-chooser` options (window counts, epochs, lengths)
#   EVAL_ARGS      extra `evaluate` options for both priors; EVAL_GRU_ARGS for the GRU only
#                  (whose table also gets the LSTM's rows: --compare, as shipped)
#   CARD_DOCUMENTS documents whose generated tables are rewritten (default the card + README)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python}"
RUNS="${RUNS:-runs}"
PRESET="${PRESET:-small}"
DATA="${DATA:-data/corpus/manifest.json}"
CODEC_MINUTES="${CODEC_MINUTES:-40}"
PRIOR_MINUTES="${PRIOR_MINUTES:-45}"
CODEC_EPOCHS="${CODEC_EPOCHS:-200}"
CODEC_LR="${CODEC_LR:-5e-4}"
PRIOR_EPOCHS="${PRIOR_EPOCHS:-}"
INIT_CODEC="${INIT_CODEC:-}"
MORE_MINUTES="${MORE_MINUTES:-100}"
MORE_LR="${MORE_LR:-1e-3}"
MORE_EPOCHS="${MORE_EPOCHS:-200}"
CHECKPOINTS="${CHECKPOINTS:-checkpoints}"
EVAL_ARGS="${EVAL_ARGS:-}"
EVAL_GRU_ARGS="${EVAL_GRU_ARGS:-}"
CARD_DOCUMENTS="${CARD_DOCUMENTS:-$CHECKPOINTS/README.md README.md}"
CHOOSER_ARGS="${CHOOSER_ARGS:-}"
MAX_FILE_BYTES=$((10 * 1000 * 1000))  # a Space without LFS takes files under 10 MB

V2="$RUNS/v2"
MORE="$RUNS/v2-more"
MELS="$RUNS/mels"
log() { echo "== train_shipped: $*"; }
done_already() { [ -f "$1/musicgen.json" ]; }
evaluated() {  # the prior's musicgen.json holds evaluate figures (with the chain table)
    # measured with its beat chooser steering
    "$PYTHON" -c 'import json, sys
m = json.load(open(sys.argv[1] + "/musicgen.json"))
e = m.get("metrics", {}).get("evaluate", {})
sys.exit(0 if "chain" in e and e.get("steered_by") == "beat chooser" else 1)' "$1"
}
has_chooser() {  # the file and its section of musicgen.json (a retrained prior drops it)
    [ -f "$1/chooser.keras" ] && "$PYTHON" -c 'import json, sys
sys.exit(0 if "chooser" in json.load(open(sys.argv[1] + "/musicgen.json")) else 1)' "$1"
}

# 1. The corpus (needs root or sudo; skipped when the manifest, or the given folder, exists).
if [ ! -e "$DATA" ]; then
    log "installing the corpus"
    PYTHON="$PYTHON" scripts/install_corpus.sh
fi

INIT_ARGS=()
if [ -n "$INIT_CODEC" ]; then INIT_ARGS=(--init-codec "$INIT_CODEC"); fi

PRIOR_EPOCH_ARGS=()
if [ -n "$PRIOR_EPOCHS" ]; then PRIOR_EPOCH_ARGS=(--prior-epochs "$PRIOR_EPOCHS"); fi

# 2. Codec and the GRU prior on its codes. Rerunning resumes the codec or the
#    prior from $V2/_work; a codec already saved in $V2/codec is reused, not trained again.
if ! done_already "$V2/prior-gru"; then
    log "training the codec and the GRU prior in $V2"
    "$PYTHON" -m musicgen train --data "$DATA" --out "$V2" --arch gru --preset "$PRESET" \
        --cache "$MELS" "${INIT_ARGS[@]}" --codec-learning-rate "$CODEC_LR" \
        --codec-minutes "$CODEC_MINUTES" --prior-minutes "$PRIOR_MINUTES" \
        --codec-epochs "$CODEC_EPOCHS" "${PRIOR_EPOCH_ARGS[@]}"
fi

# 3. The LSTM prior on the same codec.
if ! done_already "$V2/prior-lstm"; then
    log "training the LSTM prior in $V2"
    "$PYTHON" -m musicgen train --data "$DATA" --out "$V2" --arch lstm --preset "$PRESET" \
        --cache "$MELS" --codec "$V2/codec" --prior-minutes "$PRIOR_MINUTES" \
        "${PRIOR_EPOCH_ARGS[@]}"
fi

# 3b. Both priors train on, each started from its first run's weights, in $MORE (which gets a
#     copy of the codec so that the priors there name it as ../codec, as the shipped ones do).
FINAL="$V2"
if [ "$MORE_MINUTES" != 0 ]; then
    FINAL="$MORE"
    if [ ! -f "$MORE/codec/musicgen.json" ]; then
        mkdir -p "$MORE"
        rm -rf "$MORE/codec.new"
        cp -r "$V2/codec" "$MORE/codec.new"
        mv "$MORE/codec.new" "$MORE/codec"
    fi
    for arch in gru lstm; do
        if ! done_already "$MORE/prior-$arch"; then
            log "training the $arch prior on from $V2/prior-$arch in $MORE"
            "$PYTHON" -m musicgen train --data "$DATA" --out "$MORE" --arch "$arch" \
                --preset "$PRESET" --cache "$MELS" --init-prior "$V2/prior-$arch" \
                --prior-learning-rate "$MORE_LR" --prior-minutes "$MORE_MINUTES" \
                --prior-epochs "$MORE_EPOCHS"
        fi
    done
fi

# 3c. Each prior's beat chooser (minutes): it steers the seed renderer (musicgen/chooser).
for arch in gru lstm; do
    if ! has_chooser "$FINAL/prior-$arch"; then
        log "training the $arch beat chooser in $FINAL/prior-$arch"
        # shellcheck disable=SC2086
        "$PYTHON" -m musicgen train-chooser --checkpoint "$FINAL/prior-$arch" --data "$DATA" \
            $CHOOSER_ARGS
    fi
done

# 4. Measure both on the held-out tracks; the figures (chain table included) go into each
#    prior's musicgen.json, where the model card is generated from.
for arch in gru lstm; do
    if ! evaluated "$FINAL/prior-$arch"; then
        extra="$EVAL_ARGS"
        if [ "$arch" = gru ]; then
            extra="--compare $FINAL/prior-lstm $EVAL_GRU_ARGS $EVAL_ARGS"
        fi
        log "evaluating prior-$arch"
        # shellcheck disable=SC2086  # the extra options are meant to split into words
        "$PYTHON" -m musicgen evaluate --checkpoint "$FINAL/prior-$arch" --data "$DATA" \
            --cache "$MELS" --update-checkpoint $extra
    fi
done

# 5. Ship: copy the three folders (not _work), each file under 10 MB; priors keep naming their
#    codec as ../codec with its SHA-256, so the copies load exactly as the originals.
for name in codec prior-gru prior-lstm; do
    for file in "$FINAL/$name"/*; do
        size=$(wc -c < "$file")
        if [ "$size" -ge "$MAX_FILE_BYTES" ]; then
            echo "train_shipped: $file is $size bytes, over the 10 MB a file limit" >&2
            exit 1
        fi
    done
done
mkdir -p "$CHECKPOINTS"
for name in codec prior-gru prior-lstm; do
    rm -rf "${CHECKPOINTS:?}/$name.new"
    cp -r "$FINAL/$name" "$CHECKPOINTS/$name.new"
    rm -rf "${CHECKPOINTS:?}/$name"
    mv "$CHECKPOINTS/$name.new" "$CHECKPOINTS/$name"
done
log "copied codec, prior-gru, prior-lstm into $CHECKPOINTS"

# 6. The card's and README's tables from the shipped JSON.
# shellcheck disable=SC2086
"$PYTHON" -m musicgen card --checkpoints "$CHECKPOINTS" --documents $CARD_DOCUMENTS
log "done"
