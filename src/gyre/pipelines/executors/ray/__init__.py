"""The Ray executor: steps as Ray tasks on any Ray cluster (see ``executor``).

``executor`` is what the runner uses; ``connection`` is this process's link to the cluster,
``tasks`` the Ray calls of a driver, ``worker`` what a Ray worker runs for one step attempt,
``warm_driver`` and ``warm_driver_service`` the driver that stays up between runs on a cluster
of this host, and ``warm_workers`` the idle workers left ready for the next run.
"""
