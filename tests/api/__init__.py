"""Raw-HTTP API suite: the OCI distribution-spec conformance checks re-implemented with ``requests``, plus
the registry's own API requirements. Every test runs against the reference ``docker-registry`` and against
dockyard; ``@pytest.mark.reference_bug`` marks what the reference 2.8.2 is known to get wrong (a strict
xfail on the reference only, never on dockyard).

Where the conformance specs live:

* ``test_conformance_pull.py``       — ``01_pull_test.go`` (v1.1.x): setup, pull blobs, pull manifests,
  error codes, teardown;
* ``test_conformance_push.py``       — ``02_push_test.go``: streamed, monolithic and chunked uploads,
  cross-repository mounts (automatic cross-mount enabled), manifest upload, teardown;
* ``test_conformance_discovery.py``  — ``03_discovery_test.go``: tag listing and referrers;
* ``test_conformance_management.py`` — ``04_management_test.go``: tag, manifest and blob deletion;
* ``test_conformance_main.py``       — the suite on the spec's main branch (``run.go``/``api.go``/
  ``testdata.go``): blob APIs for sha256 and sha512, ranges, bad digests, every data set, manifest errors.

Beyond the suite: ``test_blobs.py``, ``test_uploads.py``, ``test_manifests.py``, ``test_listing.py``,
``test_referrers.py``, ``test_validation.py`` and ``test_storage_layout.py``.
"""
