"""Keys made ahead (``certs/keys_ahead.py``): as many as asked for, handed out in order inside
the block, never outside it, never of another algorithm, none made when none is asked for."""

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
    with keys_ahead.made_ahead(make, "RSA-2048") as ahead:  # type: ignore[arg-type]
        ahead.more(2)  # one member's survey, then the rest of the plan's keys
        ahead.more(1)
        ahead.more(-1)  # none
        assert ahead.asked == 3
        taken = [keys_ahead.take("RSA-2048") for _ in range(4)]
        assert keys_ahead.take("ECDSA-P256") is None  # another algorithm: not these
    assert sorted(k for k in taken if k) == ["RSA-2048 key 1", "RSA-2048 key 2", "RSA-2048 key 3"]
    assert taken[3] is None
    assert made == ["RSA-2048"] * 3
    assert keys_ahead.take("RSA-2048") is None  # outside the block


def test_no_key_is_made_when_none_is_asked_for():
    made, make = counting_maker()
    with keys_ahead.made_ahead(make, "RSA-2048") as ahead:  # type: ignore[arg-type]
        ahead.more(0)
        assert keys_ahead.take("RSA-2048") is None
    assert made == []


def test_generate_key_takes_a_real_key_made_ahead_in_a_native_thread():
    threads: set[int] = set()

    def make(algorithm: str) -> pki.PrivateKey:
        threads.add(threading.get_ident())
        return pki.new_key(algorithm)

    with keys_ahead.made_ahead(make, "ECDSA-P256") as ahead:
        ahead.more(2)
        keys = [pki.generate_key("ECDSA-P256") for _ in range(3)]  # the third made now
    assert [pki.key_algorithm(k) for k in keys] == ["ECDSA-P256"] * 3
    assert len({k.public_key().public_numbers() for k in keys}) == 3
    assert threading.get_ident() not in threads
