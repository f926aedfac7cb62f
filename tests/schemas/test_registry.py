"""The registry's response models describe what the module format really produces."""

from __future__ import annotations

from typing import get_args

from visualbox.modules.config_schema import FIELD_TYPES, parse_config_schema
from visualbox.schemas.registry import ConfigFieldPublic, FieldType, ManifestPublic


def test_field_types_are_the_module_formats() -> None:
    assert get_args(FieldType) == FIELD_TYPES


def test_a_normalised_schema_round_trips_without_new_keys() -> None:
    schema = parse_config_schema(
        [
            {"type": "Slider", "name": "size", "label": "Size", "min": 1, "max": 9},
            {
                "type": "select",
                "name": "unit",
                "label": "Unit",
                "options": [{"label": "F", "value": 1}],
            },
            {"type": "text", "name": "city", "label": "City", "help": "Where you are."},
            {"type": "switch", "name": "on", "label": "On", "default": True},
        ]
    ).to_json()
    answered = [ConfigFieldPublic.model_validate(f).model_dump(mode="json") for f in schema]
    assert answered == schema  # absent keys stay absent; 1 stays an integer


def test_a_withdrawn_versions_empty_manifest_is_valid() -> None:
    assert ManifestPublic.model_validate({}).model_dump(mode="json") == {}
