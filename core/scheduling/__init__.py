"""When to start which work: pure time math and policy, every function a function of `now`.

Nothing here touches the clock or a subprocess; the daemon (`core/daemon/`) reads the
world, asks these functions, and acts. That keeps every rule testable with a fixed `now`.
The one reader here, `estimator.Estimator`, reads a task's cost inputs through the store.
"""
