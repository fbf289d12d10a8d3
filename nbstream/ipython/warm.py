"""What `%load_ext nbstream` leaves to the background, so that the first turn does not wait.

The SDK's import (on the loop thread, as the SDK binds to it), then on a worker thread the
renderer's parser and sanitiser, the store's validators and what servers were found to need
(so that a turn asks it without a thread), then the client for the backend the settings name
now: making one builds an SSL context, a tenth of a second.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..engine.clients import client_for, warm_up
from ..errors import NbStreamError
from ..show.markdown import warm as warm_renderer
from ..store.records import warm as warm_validators
from ..turn import TurnOptions

if TYPE_CHECKING:
    from ..session import Session
    from ..settings import Settings


async def warm(session: Session) -> None:
    """Import and build, in the background, what a turn needs; runs on nbstream's loop."""
    await warm_up()
    settings = await asyncio.to_thread(_prepare, session)
    if settings is not None:
        await client_for(settings)  # the pool keeps it for the turns on this loop


def _prepare(session: Session) -> Settings | None:
    """Warm the renderer and the store; the settings a turn would use now, unless the
    offline server is the backend (it starts with the first turn that needs it)."""
    warm_renderer()
    warm_validators()
    session.apis.load()
    try:
        settings = session.settings(TurnOptions())
    except NbStreamError:
        return None  # the first turn says what is wrong
    return None if settings.offline and not settings.base_url else settings
