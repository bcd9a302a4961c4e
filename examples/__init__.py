"""Example seed clips for the demo; `python -m examples.make_examples` rebuilds them."""
