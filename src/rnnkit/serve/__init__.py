"""``rnnkit serve``: an HTTP JSON API (FastAPI) and a web page for trained runs of every
task.

``create_app(runs, settings)`` builds the app (:mod:`rnnkit.serve.app`); the CLI verb is
:func:`rnnkit.serve.verbs.serve`. Concurrent generation requests for one language model are
advanced together, one forward per step for all of them (:mod:`rnnkit.serve.batcher`).
Needs the ``serve`` extra (fastapi, uvicorn).
"""

from rnnkit.serve.app import create_app
from rnnkit.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
