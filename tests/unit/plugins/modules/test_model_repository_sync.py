"""model_repository_sync's own option parsing: the permissions module's rules, reported as the sync's errors."""

from __future__ import annotations

import pytest

from ansible_collections.inference.triton.plugins.module_utils._sync import SyncError
from ansible_collections.inference.triton.plugins.modules.model_repository_sync import _parse_mode, _resolve_id


def test_modes_and_ids_parse_as_in_repository_permissions():
    assert _parse_mode("0750", "dir_mode") == 0o750
    assert _parse_mode(None, "file_mode") is None
    assert _resolve_id("1000", "owner") == 1000


@pytest.mark.parametrize(("value", "fragment"), [(420, "quoted octal"), ("0855", "not an octal")])
def test_a_bad_mode_is_a_sync_error_naming_the_option(value, fragment):
    with pytest.raises(SyncError, match=rf"^dest_mode: .*{fragment}"):
        _parse_mode(value, "dest_mode")


def test_a_negative_id_is_a_sync_error_naming_the_option():
    with pytest.raises(SyncError, match=r"^group: -1 is negative"):
        _resolve_id(-1, "group")
