"""The orchestration tests share the `nightly` pipeline of tests/nightly.py, whose fixture
tests/conftest.py registers for every test directory; `receiver` is a local alert webhook."""

from tests.orchestration.receiver import receiver  # noqa: F401
