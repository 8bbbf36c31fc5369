"""Tuning Lab helpers: the plumbing shared by the notebooks.

Library progress bars are switched off before transformers and datasets are first imported (they read
these variables once): a notebook saved to disk keeps every redraw of a bar as output, which buries the
lesson. The course prints its own short progress lines instead. Set a variable to 0 to get the bars back.
"""

import os

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers follows the hub's switch
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # map/filter bars of TRL's data preparation
