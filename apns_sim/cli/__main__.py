"""``python -m apns_sim.cli`` runs the ``apns-sim`` command."""

import sys

from apns_sim.cli import main

sys.exit(main())
