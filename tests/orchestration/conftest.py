"""The orchestration tests share the `nightly` pipeline of tests/nightly.py, whose fixture
tests/conftest.py registers for every test directory."""
