"""Serving: ``idrnet serve`` — one model, or two with an online A/B test measured from ground-truth feedback.

``options`` (settings), ``arm`` (a loaded model), ``batcher`` (dynamic micro-batching off the event loop),
``ledger`` (A/B bookkeeping, the feedback window and the A/B log), ``codecs`` (request and response
bodies), ``metrics`` (Prometheus text), ``app`` (the FastAPI application) and ``page.html`` (the web page).
"""
