"""Shared test set-up: Qt runs offscreen; heavy tests are marked slow."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
