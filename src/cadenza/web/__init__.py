"""cadenza's web page: compose in the browser, listen and download (``cadenza serve``).

The server is :func:`cadenza.web.app.create_app`; it needs the optional ``web`` extra
(FastAPI and uvicorn), so nothing here is imported by the rest of cadenza.
"""
