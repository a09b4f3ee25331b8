"""Typed configuration: YAML data validated into dataclasses."""

from .typed import ConfigError, from_dict, to_dict

__all__ = ["ConfigError", "from_dict", "to_dict"]
