"""The web app: the built single-page app (``static/``) and the routes that serve it.

The pages are built from ``web/`` at the repository root (``npm ci && npm run build``, run by
``make install`` and by the wheel build) into ``static/``, so ``pip install`` users need no
Node.js. Everything under ``/app/`` that is not a built file answers with ``index.html``: the
app routes in the browser.
"""

from caseflow.web.routes import STATIC_DIR, router

__all__ = ["STATIC_DIR", "router"]
