"""The push pipeline rehearsed on one machine (``make pipeline``), and its stand-ins.

What a laptop lacks is played by a stand-in that follows the real system's rules; the
tests use the same stand-ins. Each module:

- ``pipeline``: promote.yml's commands in order, each push built in a fresh clone
  (``python -m rehearsal``; ``tests/integration/test_pipeline.py`` drives it too);
- ``s3_server``: the object store, a real S3 API (moto_server) on loopback;
- ``gcs_server``: a real GCS JSON API (fake-gcs-server) on loopback, for gs:// stores;
- ``loopback_server``: what those two servers share (wait until up, stop);
- ``recording``: kubectl, the one injected runner, recording each command and answering
  from a script (the project's one fake of Kubernetes);
- ``played_cluster``: the recording runner with a memory, answering as a cluster whose
  pods are local Tritons; ``played_rules``: the Kubernetes rules it plays, each citing
  its source; ``release_configs``: a stored release's configs, read as a deploy reads them;
- ``docker_stand_in``: the Docker SDK's client object (no Docker engine here), running
  the container's own tritonserver arguments on the local Triton.

The rehearsal imports the library and never the tests; the library imports neither
(``tests/test_layout.py`` checks both). It is not part of the installed package.
"""
