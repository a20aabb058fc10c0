"""Every ActionType has its action: a module named after it with a typed settings class, the
`check` that returns it and the `run` that takes it. An action type added without them fails."""

from __future__ import annotations

import importlib
from typing import get_type_hints, is_typeddict

import pytest

from automations.actions import ACTIONS
from automations.settings import Reminders
from models import ActionType

# The actions that send what the client must act on, which take reminders.
REMINDED = {ActionType.SEND_ORGANIZER, ActionType.CREATE_INVOICE}


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


@pytest.mark.parametrize("action_type", list(ActionType))
def test_the_documents_that_wait_for_the_client_take_optional_reminders(
    action_type: ActionType,
) -> None:
    """remindEveryDays and maxReminders (ints, optional) are the settings of exactly the
    actions whose document waits for the client: an automation saved without them is valid."""
    settings = ACTIONS[action_type].settings
    keys = set(Reminders.__annotations__)
    assert keys == {"remindEveryDays", "maxReminders"}
    if action_type in REMINDED:
        assert keys <= settings.__optional_keys__
        assert {key: get_type_hints(settings)[key] for key in keys} == dict.fromkeys(keys, int)
    else:
        assert not keys & set(settings.__annotations__)
