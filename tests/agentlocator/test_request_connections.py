"""SQLite connections are kept between a call's writes (``DB_CONN_MAX_AGE``, 600 s by default), but an HTTP
request's is closed when the request ends: Django runs each request on a thread of its own, so a kept one
would never be used again and would stay open until the garbage collector found it."""

from __future__ import annotations

import os

import httpx
import pytest
from django.db import connection

from tests.support.live import run_daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def open_database_files(pid: int, database: str) -> int:
    fd_dir = f"/proc/{pid}/fd"
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            count += os.readlink(os.path.join(fd_dir, fd)) == database
        except OSError:  # closed meanwhile
            continue
    return count


@pytest.mark.skipif(connection.vendor != "sqlite", reason="counts the SQLite file's open handles")
def test_forty_requests_leave_no_connection_of_theirs_open(tmp_path):
    database = connection.settings_dict["NAME"]
    with run_daphne(tmp_path) as server:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(40):
                assert client.get("/healthz").status_code == 200  # each reads the database
        # At most one: a long-lived thread of the server's (the one that stores calls) may keep its own.
        assert open_database_files(server.pid, database) <= 1
