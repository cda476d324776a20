"""A small TCP proxy for the tests: each new connection goes to the next backend in turn (a
plain round-robin load balancer), and ``cut`` drops every connection and refuses new ones, as a
network that fails between a node and its server would."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading

from core.net import free_port


class TcpProxy:
    def __init__(self, backends: list[tuple[str, int]], port: int | None = None) -> None:
        self.port = port or free_port()
        self._backends = itertools.cycle(backends)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self.served: dict[tuple[str, int], int] = dict.fromkeys(backends, 0)  # connections
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Drop the connections through the proxy and refuse new ones until :meth:`mend`."""
        self._cut.set()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def mend(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            with self._lock:
                backend = next(self._backends)
                self.served[backend] += 1
            try:
                upstream = socket.create_connection(backend, timeout=5)
            except OSError:
                client.close()
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        with self._lock:
            self._open.update((source, target))
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(source)
