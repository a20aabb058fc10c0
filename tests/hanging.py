"""A webhook receiver on loopback that never answers: it accepts every connection, reads
nothing and holds it open, like a dead endpoint behind a load balancer. It counts the
connections it holds, so a test can see how many attempts a sender has in flight to it."""

from __future__ import annotations

import contextlib
import socket
import threading


class HangingReceiver:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.sock.settimeout(0.2)  # so the accepting thread notices a stop
        self.lock = threading.Lock()
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"

    def open_connections(self) -> int:
        """Connections the sender still holds open (closed ones are dropped on the way)."""
        with self.lock:
            alive = []
            for connection in self.held:
                if _closed_by_peer(connection):
                    connection.close()
                else:
                    alive.append(connection)
            self.held = alive
            return len(alive)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.held.append(connection)
                self.accepted += 1

    def __enter__(self) -> HangingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
        with self.lock:
            for connection in self.held:
                connection.close()
            self.held.clear()


def _closed_by_peer(connection: socket.socket) -> bool:
    """True once the other side has closed (or reset) the connection. Reading drains the
    request bytes the sender wrote, which this receiver ignores anyway."""
    connection.setblocking(False)
    try:
        while True:
            data = connection.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            connection.setblocking(True)
