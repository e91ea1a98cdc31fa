"""The API's routers, one per concern; :func:`cadenza.web.app.create_app` includes them."""
