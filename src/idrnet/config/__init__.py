"""Typed configuration: YAML data validated into dataclasses."""

from .typed import ConfigError, field_type, from_dict, is_text_type, parse_json, to_dict

__all__ = ["ConfigError", "field_type", "from_dict", "is_text_type", "parse_json", "to_dict"]
