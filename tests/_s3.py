"""Fixtures for tests against an S3-compatible server (moto) on 127.0.0.1, started and stopped by the
test module itself; nothing outside loopback may be contacted.

A test module imports s3fs and moto with ``pytest.importorskip`` first, then these fixtures by name.
"""
import os
import socket
import uuid

import pytest

LOOPBACK = ("127.0.0.1", "::1", "localhost")
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "evio-test-key", "AWS_SECRET_ACCESS_KEY": "evio-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "NO_PROXY": "*", "no_proxy": "*",
}
_DROPPED_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
                "AWS_PROFILE", "AWS_SESSION_TOKEN")


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server on 127.0.0.1 (a free port), with dummy credentials and no proxies in the
    environment (worker processes inherit it); yields the endpoint URL and stops the server afterwards."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    saved = dict(os.environ)
    for key in _DROPPED_ENV:
        os.environ.pop(key, None)
    os.environ.update(OFFLINE_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any connection from this process to an address other than loopback fails the test."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise AssertionError(f"connection outside loopback: {address}")

    def connect(self, address):
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def s3(s3_server):
    """``(bucket URL, storage_options)`` of a fresh bucket."""
    import s3fs

    options = {"endpoint_url": s3_server}
    bucket = f"evio-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(**options).mkdir(bucket)
    return f"s3://{bucket}", options
