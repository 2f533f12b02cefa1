"""Decoding tests run torch on one thread, as the harmony service does (see
composer.ml.harmony_decode.one_thread): small models step faster that way."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
