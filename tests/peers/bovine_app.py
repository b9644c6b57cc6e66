"""bovine-herd (bovine 0.5.19) as a peer ActivityPub server for the interop tests, served by
hypercorn on a loopback port over plain http (tests/bovine_peer.py starts it).

The database is `BOVINE_DB_URL` (SQLite, e.g. `sqlite:///tmp/x/bovine.sqlite3`); bovine builds
every actor's ids from the domain its users were registered with (`http://127.0.0.1:PORT`).
"""

import os

from bovine_herd import BovineHerd
from quart import Quart

app = Quart(__name__)
BovineHerd(app, db_url=os.environ["BOVINE_DB_URL"])
