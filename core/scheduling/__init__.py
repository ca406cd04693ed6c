"""When to start which work: pure time math and policy, every function a function of `now`.

Nothing here touches the clock, the database or a subprocess; `core/daemon.py` reads the
world, asks these functions, and acts. That keeps every rule testable with a fixed `now`.
"""
