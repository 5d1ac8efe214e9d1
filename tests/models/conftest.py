"""A tiny Gaze2Report on the tiny random Llama, shared by the model tests."""

from __future__ import annotations

import pytest
import torch

from ml.models.config import ModelConfig, from_dict
from ml.train.synthetic import TINY_MODEL_CONFIG


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on this shared 2-core machine two threads can be 20x slower under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    return from_dict(ModelConfig, TINY_MODEL_CONFIG)


@pytest.fixture
def tiny_net(tiny_cfg):
    from ml.models.bundle import build_model

    torch.manual_seed(0)
    return build_model(tiny_cfg, tiny=True)
