"""What every section of the configuration file shares: its base model and the field types several sections use."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Section(BaseModel):
    # Unknown keys are errors: a typo in an operator's file must not be silently ignored.
    # A loaded configuration does not change under the code that reads it.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_compiles)]  # a regular expression, refused at load time when it does not compile
