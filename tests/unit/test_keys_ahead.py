"""Keys made ahead (``certs/keys_ahead.py``): handed out in order inside the block, never
outside it, never of another algorithm, and not made at all for fewer than two."""

from __future__ import annotations

import threading

from etcd_cluster.certs import keys_ahead, pki


def counting_maker() -> tuple[list[str], object]:
    made: list[str] = []
    lock = threading.Lock()

    def make(algorithm: str) -> str:
        with lock:
            made.append(algorithm)
            return f"{algorithm} key {len(made)}"

    return made, make


def test_keys_made_ahead_are_taken_then_the_caller_makes_its_own():
    made, make = counting_maker()
    with keys_ahead.made_ahead(make, "RSA-2048", 3):  # type: ignore[arg-type]
        taken = [keys_ahead.take("RSA-2048") for _ in range(4)]
        assert keys_ahead.take("ECDSA-P256") is None  # another algorithm: not these
    assert sorted(k for k in taken if k) == ["RSA-2048 key 1", "RSA-2048 key 2", "RSA-2048 key 3"]
    assert taken[3] is None
    assert made == ["RSA-2048"] * 3
    assert keys_ahead.take("RSA-2048") is None  # outside the block


def test_one_key_or_none_is_not_made_ahead():
    made, make = counting_maker()
    for count in (0, 1):
        with keys_ahead.made_ahead(make, "RSA-2048", count):  # type: ignore[arg-type]
            assert keys_ahead.take("RSA-2048") is None
    assert made == []


def test_generate_key_takes_a_real_key_made_ahead_in_a_native_thread():
    threads: set[int] = set()

    def make(algorithm: str) -> pki.PrivateKey:
        threads.add(threading.get_ident())
        return pki.new_key(algorithm)

    with keys_ahead.made_ahead(make, "ECDSA-P256", 2):
        keys = [pki.generate_key("ECDSA-P256") for _ in range(3)]  # the third made now
    assert [pki.key_algorithm(k) for k in keys] == ["ECDSA-P256"] * 3
    assert len({k.public_key().public_numbers() for k in keys}) == 3
    assert threading.get_ident() not in threads
