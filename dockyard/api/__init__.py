"""HTTP only: routes, request parsing, headers and the spec's error responses."""
