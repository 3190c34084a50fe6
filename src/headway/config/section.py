"""What every section of the configuration file shares: its base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # Unknown keys are errors: a typo in an operator's file must not be silently ignored.
    # A loaded configuration does not change under the code that reads it.
    model_config = ConfigDict(extra="forbid", frozen=True)
