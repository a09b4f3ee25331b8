"""Reading a YAML file a person wrote, whatever editor saved it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .typed import ConfigError


def load_yaml_file(path: str | Path) -> Any:
    """The data of a YAML file; :class:`ConfigError` naming the file for bad YAML or bad text.

    The bytes go to PyYAML, which reads UTF-8 with or without a byte-order mark and UTF-16 with one
    (Windows PowerShell's ``>`` writes UTF-16); any other encoding is named as such, with where it fails.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return yaml.safe_load(data)
    except yaml.reader.ReaderError as err:
        if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ConfigError(f"{path}: binary data, not YAML text (a model or image file given as a YAML?)") from None
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.position}: {err.reason}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
