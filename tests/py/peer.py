"""A Python multiprocessing.connection peer for mp's Listener/Client tests.

    peer.py listen  ADDRESS KEY FORM   accept one peer, echo its messages until EOF
    peer.py connect ADDRESS KEY FORM   connect, send messages, check the echo

ADDRESS is a Unix socket path or HOST:PORT. FORM is "legacy" (this Python's own
handshake: Python <= 3.11 speaks HMAC-MD5 without a digest prefix) or "sha256" (the
handshake of Python 3.12, written out here so it runs on any Python 3). KEY "-" means
no authkey. Exit codes: 0 ok, 3 AuthenticationError, 4 wrong echo.
"""
import hmac
import os
import sys
from multiprocessing.connection import AuthenticationError, Client, Listener

CHALLENGE, WELCOME, FAILURE = b"#CHALLENGE#", b"#WELCOME#", b"#FAILURE#"


def digest_and_mac(message):
    if len(message) in (16, 20):
        return "", message
    if message.startswith(b"{"):
        end = message.find(b"}", 1, 10)
        if end > 0 and message[1:end] in (b"md5", b"sha256", b"sha384", b"sha3_256", b"sha3_384"):
            return message[1:end].decode(), message[end + 1:]
    raise AuthenticationError("bad message")


def deliver(conn, key):
    message = b"{sha256}" + os.urandom(40)
    conn.send_bytes(CHALLENGE + message)
    name, mac = digest_and_mac(conn.recv_bytes(256))
    expected = hmac.new(key, message, name or "md5").digest()
    if not hmac.compare_digest(expected, mac):
        conn.send_bytes(FAILURE)
        raise AuthenticationError("digest received was wrong")
    conn.send_bytes(WELCOME)


def answer(conn, key):
    message = conn.recv_bytes(256)
    if not message.startswith(CHALLENGE):
        raise AuthenticationError("not a challenge")
    message = message[len(CHALLENGE):]
    name, _ = digest_and_mac(message)
    mac = hmac.new(key, message, name or "md5").digest()
    conn.send_bytes(mac if not name else b"{%s}%s" % (name.encode(), mac))
    if conn.recv_bytes(256) != WELCOME:
        raise AuthenticationError("digest sent was rejected")


def parse(address):
    if address.startswith("/"):
        return address
    host, port = address.rsplit(":", 1)
    return (host, int(port))


def main():
    role, address, key, form = sys.argv[1:5]
    key = None if key == "-" else key.encode()
    builtin_key = key if form == "legacy" else None
    try:
        if role == "listen":
            with Listener(parse(address), authkey=builtin_key) as listener:
                print("READY", listener.address, flush=True)
                with listener.accept() as conn:
                    if key is not None and form == "sha256":
                        deliver(conn, key)
                        answer(conn, key)
                    while True:
                        try:
                            conn.send_bytes(conn.recv_bytes())
                        except EOFError:
                            return 0
        with Client(parse(address), authkey=builtin_key) as conn:
            if key is not None and form == "sha256":
                answer(conn, key)
                deliver(conn, key)
            for msg in (b"hello from python", b"", b"x" * 100000):
                conn.send_bytes(msg)
                if conn.recv_bytes() != msg:
                    return 4
            conn.send_bytes(b"bye")
            return 0
    except AuthenticationError as e:
        print("AuthenticationError:", e, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
