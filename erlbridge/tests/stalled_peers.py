#!/usr/bin/python3
"""Peers that stall in the distribution handshake (ctest erlbridge.handshake).

    stalled_peers.py PORT hold   opens 3 connections to 127.0.0.1:PORT that
        stall (silent; half a name message; a length header only), prints
        `stalled`, waits for a line on stdin, then prints `open N`: how many
        the gateway has not closed; holds them until a second line.
    stalled_peers.py PORT cut    opens one silent connection, prints `stalled`,
        and waits (up to a hang guard of 120 s) until the gateway closes it:
        prints `closed` (or `still open` when the guard fires).
    stalled_peers.py PORT flood N   opens N silent connections, then one
        more, and waits (hang guard 120 s) for the gateway to answer that
        one: prints `extra closed` (or `extra open`); waits for a line on
        stdin, prints `open K` (how many of the N are still open), and holds
        them until a second line.
"""
import socket
import struct
import sys


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(None)
    return s


def is_open(s):
    s.setblocking(False)
    try:
        data = s.recv(1)
    except BlockingIOError:
        return True  # nothing to read and no EOF
    except OSError:
        return False
    return data != b""  # the gateway never answers a stalled handshake either


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "hold":
        silent = connect(port)
        half = connect(port)
        # An OTP 23 name message starts: length:16, 'N', flags:64, creation:32, ...
        half.sendall(struct.pack(">H", 40) + b"N" + b"\0" * 6)
        header = connect(port)
        header.sendall(b"\0")
        print("stalled", flush=True)
        sys.stdin.readline()
        print("open", sum(is_open(s) for s in (silent, half, header)), flush=True)
        sys.stdin.readline()  # hold them until told
    elif mode == "cut":
        s = connect(port)
        print("stalled", flush=True)
        s.settimeout(120)  # a hang guard only
        try:
            data = s.recv(1)
            print("closed" if data == b"" else "got data", flush=True)
        except socket.timeout:
            print("still open", flush=True)
        except OSError:
            print("closed", flush=True)
    elif mode == "flood":
        count = int(sys.argv[3])
        held = [connect(port) for _ in range(count)]
        extra = connect(port)
        extra.settimeout(120)  # a hang guard only
        try:
            data = extra.recv(1)
            print("extra closed" if data == b"" else "extra got data", flush=True)
        except socket.timeout:
            print("extra open", flush=True)
        except OSError:
            print("extra closed", flush=True)
        sys.stdin.readline()
        print("open", sum(is_open(s) for s in held), flush=True)
        sys.stdin.readline()  # hold them until told
        for s in held:
            s.close()
    else:
        sys.exit("usage: stalled_peers.py PORT hold|cut|flood N")


if __name__ == "__main__":
    main()
