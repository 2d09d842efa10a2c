"""`ray start ...` with every node on 127.0.0.1, so that no Ray server listens beyond loopback.

Ray replaces a loopback node address with the machine's external one unless
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, and that setting also refuses to start a second node. The tests
run each node with the setting at 0 (loopback addresses kept, servers bound to 127.0.0.1) through
this wrapper, which lets a worker node join: it skips only the multi-node refusal and keeps the
node's address 127.0.0.1. Used by tests/test_sim.py; run as ``python tests/ray_loopback.py start ...``.
"""
import os
import sys

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import ray._private.ray_constants as constants  # noqa: E402
from ray._private import services  # noqa: E402
from ray.scripts import scripts  # noqa: E402

constants.ENABLE_RAY_CLUSTER = True                       # past the multi-node refusal ...
services.get_node_ip_address = lambda address=None: "127.0.0.1"   # ... with the address kept on loopback
services.resolve_ip_for_localhost = lambda host: host

if __name__ == "__main__":
    sys.argv[0] = "ray"
    sys.exit(scripts.main())
