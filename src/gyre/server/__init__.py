"""The team server: the workspace as a service (``gyre server``).

A REST API under ``/api/v1`` for every capability (:mod:`gyre.server.api`), an MLflow-compatible
tracking endpoint under ``/mlflow`` (:mod:`gyre.server.mlflow_api`), token authentication and
roles (:mod:`gyre.server.access`), one error envelope (:mod:`gyre.server.envelope`). The
server keeps no state of its own: several processes on several machines serve one workspace.
"""
