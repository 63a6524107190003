"""An annotated, notebook-first PyTorch implementation of the Perceiver and Perceiver IO

Modules:

- `perceiver_lite.blocks`: The Perceiver's two building blocks: a cross-attention block in which a small latent array reads a large input array, and a self-attention block for the latent tower; and one opt-in variant of the read's query projection, centred over the latents. Derived in notebooks/03_latent_bottleneck.ipynb.
- `perceiver_lite.course.diagnostics`: The failures people report with Perceivers, each reproduced with the course's own pieces, diagnosed with a measurement and fixed, and the measurements' helpers: a gradient norm, the attention that falls on chosen keys, and a short training loop that can run under autocast. Derived in notebooks/15_when_it_goes_wrong.ipynb.
- `perceiver_lite.course.exercise_cases_failures`: The "find the bug" exercises at the end of notebook 15 — a read whose latents never see the input, a mask that drops what it should keep, position features attached after shuffling — each with the package's answer, the inputs it is tried on and the mistakes it names. Registered with the checker of notebooks/A7_exercise_checks.ipynb.
- `perceiver_lite.course.exercise_cases_perceiver`: The exercises at the end of notebooks 03 and 04 — the cross-attention block, the cost of a read, the encoder's schedule of shared weights and its loop — each with the package's answer, the inputs it is tried on and the mistakes it names. Registered with the checker of notebooks/A7_exercise_checks.ipynb.
- `perceiver_lite.course.exercises`: The checker behind the exercises at the end of notebooks 01–05, 12 and 15: each exercise is the package's own answer, the inputs it is tried on, and the typical mistakes it recognises. Whatever a learner passes, a check prints one line. The exercises themselves are registered by the modules `course.exercise_cases_*`, imported on first use. Derived in notebooks/A7_exercise_checks.ipynb.
- `perceiver_lite.course.viz`: Attention-map visualisation: capture every cross-attend's weights, plot them over images (the Perceiver paper's Figure 3), over time (1-D inputs) and for a decoder's output queries, and measure how alike the latents' maps are and how much of their scores they share. Derived in notebooks/10_attention_maps.ipynb.
- `perceiver_lite.relatives.ar`: Perceiver AR (Hawthorne et al. 2022): causal attention masks, a causally masked cross-attend from the last N positions of the context and a causal latent tower, a decoder-only Transformer of the same size as its baseline, counted unigram, bigram and interpolated Kneser–Ney models scored in bits per byte, and sampling. Derived in notebooks/12_perceiver_ar.ipynb.
- `perceiver_lite.relatives.hip`: The Hierarchical Perceiver: inputs split into groups, each group read by its own latents with weights shared across groups, groups merged level by level; a configuration, the encoder and its classifier, a mirrored decoder, attention-score counts, and a synthetic long-signal task. Derived in notebooks/14_hierarchy.ipynb.
- `perceiver_lite.relatives.pretrained`: The reference port's input preprocessors and output heads that the main notebooks do not build — a 1×1 convolution with learned positions, a 7×7 convolution stem, the two-frame patch features of optical flow — assembled from the course's pieces; the multimodal autoencoder's are in appendix A9b. Derived in notebooks/A9_pretrained_architectures.ipynb.
- `perceiver_lite.relatives.sets`: Set models built from the course's blocks: the Set Transformer's MAB, SAB, ISAB and PMA, a DeepSets baseline, sets of coloured tokens whose proportions say nothing about their size, the log-count feature that lets a softmax read count, and Flamingo's Perceiver Resampler. Derived in notebooks/13_sets.ipynb.
- `perceiver_lite.runner.ar_context`: The sweep behind notebook 12's question — does context beyond the N latents help? — Perceiver AR trained at contexts M from 2N to 1,024 for equal steps, the same-size Transformer at short contexts, and Kneser–Ney with its order chosen on validation, all scored on the same test bytes of notebook 06b's corpus; the command line `python -m perceiver_lite.runner.ar_context`. Part of the runner of notebooks/A6_experiment_runner.ipynb.
- `perceiver_lite.runner.experiments`: A papermill runner that executes notebooks/11_experiments.ipynb once per point of a sweep, caches each point's record under the code that made it, writes a sweep's records to `results/<name>.csv` and draws `figures/11_<name>.png`; the command line `python -m perceiver_lite.runner.experiments`. Derived in notebooks/A6_experiment_runner.ipynb, with its parts in A6b–A6e.
- `perceiver_lite.runner.long_context`: The sweep behind notebook 06b's curves: runs of `tasks.long_context.run` on a Dask cluster of one-thread workers, each run's rows appended to a CSV as it finishes (so a stopped sweep resumes), choices read back from validation runs, and the command line `python -m perceiver_lite.runner.long_context`. Part of the runner of notebooks/A6_experiment_runner.ipynb.
- `perceiver_lite.runner.parameters`: Notebook 11's parameters as the runner sees them: the two sizes of every run (`sized`), where the notebook is and what its `parameters` cell declares, command-line values checked by name and typed, the points of a sweep and the default sweeps of `make experiments`. Part of the runner of notebooks/A6_experiment_runner.ipynb.
- `perceiver_lite.tasks.long_context`: Long-window masked language modelling on raw bytes at equal CPU cost: the installed Python's own sources split by module, Perceiver IO beside a Transformer over all bytes and a control without latents, each trained for the same CPU seconds: one run of the sweep behind notebook 06b's curves. Derived in notebooks/06b_long_context.ipynb."""

# AUTOGENERATED! DO NOT EDIT! File to edit: ../notebooks/00_index.ipynb.

# %% auto #0
__all__ = []

# %% ../notebooks/00_index.ipynb #2cb83d1d
from perceiver_lite.io import (
    DecoderConfig,
    PerceiverDecoder,
    PerceiverIO,
    PerceiverIOClassifier,
    PerceiverIOConfig,
    PerceiverIOMaskedLM,
)
from perceiver_lite.perceiver import Perceiver, PerceiverConfig, PerceiverEncoder
from perceiver_lite.weights.checkpoint import load, save

__all__ = [
    "Perceiver",
    "PerceiverConfig",
    "PerceiverEncoder",
    "PerceiverIO",
    "PerceiverIOConfig",
    "PerceiverIOClassifier",
    "PerceiverIOMaskedLM",
    "PerceiverDecoder",
    "DecoderConfig",
    "save",
    "load",
]
