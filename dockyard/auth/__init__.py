"""Who may do what: access controllers (htpasswd, bearer tokens) and dockyard's own token service.

Nothing here speaks HTTP: the API layer hands a controller the request's credentials and the accesses a route
needs, and turns a :class:`~dockyard.auth.access.Challenge` into a 401 with ``WWW-Authenticate``.
"""
