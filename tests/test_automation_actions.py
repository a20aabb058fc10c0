"""Every ActionType has its action: a module named after it with a typed settings class, the
`check` that returns it and the `run` that takes it. An action type added without them fails."""

from __future__ import annotations

import importlib
from typing import get_type_hints, is_typeddict

import pytest

from automations.actions import ACTIONS
from models import ActionType


def test_every_action_type_has_an_action() -> None:
    assert set(ACTIONS) == set(ActionType), sorted(set(ActionType) ^ set(ACTIONS))


@pytest.mark.parametrize("action_type", list(ActionType))
def test_each_action_is_its_module_with_a_typed_settings_class(action_type: ActionType) -> None:
    action = ACTIONS[action_type]
    module = importlib.import_module(f"automations.actions.{action_type.value.lower()}")
    assert (action.settings, action.check, action.run) == (
        module.Settings,
        module.check,
        module.run,
    )
    assert is_typeddict(action.settings)
    assert get_type_hints(action.check)["return"] is action.settings
    assert get_type_hints(action.run)["settings"] is action.settings
