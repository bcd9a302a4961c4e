"""The beat chooser: a small Conv1D + LSTM/GRU trained to pick which of the seed's beats the
music plays next, the model term that steers the seed renderer (`render.units`).

- `features`: what it sees of a decision (how each candidate beat compares with the beats
  just heard, and with the beat before it in the seed);
- `walk`: decisions along a true continuation, where the answer is known (its training
  examples, and the next-beat evaluation's);
- `model`: the Keras model, its numpy forward pass for rendering, saving and loading;
- `train`: fitting it on a corpus (`python -m musicgen train-chooser`).
"""
