"""Tuning Lab helpers: the plumbing shared by the notebooks.

Library progress bars are switched off before transformers and datasets are first imported (they read
these variables once): a notebook saved to disk keeps every redraw of a bar as output, which buries the
lesson. The course prints its own short progress lines instead. Set a variable to 0 to get the bars back.
"""

import os

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers follows the hub's switch
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # map/filter bars of TRL's data preparation

import warnings

# Known library warnings that point at no fault of the course's code; each line says why it is silenced.
# PEFT 0.21 reads `is_gradient_checkpointing`, which transformers 5 deprecated: PEFT's to update, harmless here.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
# generate() passes position ids that leave out a soft prompt's virtual tokens; PEFT drops them and counts from 0.
warnings.filterwarnings("ignore", message="Position ids are not supported for parameter efficient tuning")
