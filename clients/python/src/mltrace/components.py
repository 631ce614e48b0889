"""Ready-made components (mltrace 0.17's ``mltrace.components``)."""

import typing

from .component import Component
from .tests import OutliersTest


class PreprocessingComponent(Component):
    """A preprocessing stage whose outputs are checked by :class:`OutliersTest`."""

    def __init__(
        self,
        owner: str,
        name: str = "Preprocessing",
        description: str = "Preprocessing features to feed into a model.",
        tags: typing.Sequence[str] = (),
        beforeTests: typing.Sequence[typing.Any] = (),
        afterTests: typing.Sequence[typing.Any] = (),
    ) -> None:
        super().__init__(
            name=name,
            owner=owner,
            description=description,
            tags=list(tags),
            beforeTests=list(beforeTests),
            afterTests=list(afterTests) or [OutliersTest],
        )
