"""Shared test configuration: hypothesis profiles.

`ci` (the default, and what `.ci/run` selects): derandomized, so every run draws the same examples, and no example
database, so nothing from an earlier run leaks in. `explore` (opt-in: `HYPOTHESIS_PROFILE=explore pytest tests/`): fresh
random examples on every run, to look for new failures; pin any it finds with `@example` in the test.
"""
import os
from hypothesis import settings

settings.register_profile('ci', derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile('explore', derandomize=False, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
