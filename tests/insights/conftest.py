import pytest


@pytest.fixture
def exact_releases(settings):
    """For tests of *what* is counted: releases drawn without noise (σ = 0) and as soon
    as anyone looks. The noise and the release timing have tests of their own
    (test_releases.py, test_differencing.py)."""
    settings.PRIVACY_NOISE_SIGMA = 0
    settings.PRIVACY_RELEASE_AFTER_HOURS = -10 * 365 * 24
