"""What a run is: `RunConfig` (schema.py), its checks against every registry (validate.py), named presets.

`from ganlab.config import RunConfig` stays light (no torch); validation imports the registries,
so it is imported from `ganlab.config.validate` by the callers that need it.
"""

from ..errors import ConfigError
from .schema import FIELDS, RunConfig, coerce, field_type, parse_set

__all__ = ["ConfigError", "FIELDS", "RunConfig", "coerce", "field_type", "parse_set"]
