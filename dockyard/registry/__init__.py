"""Registry semantics: blobs, uploads, manifests, tags, referrers and the catalog. No HTTP, no paths."""
