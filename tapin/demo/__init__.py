"""The built-in demo: its site (data in ``assets/demo``), its runtime, the in-process
stand-in for central that drains the demo's real sealed queue, and a clock moved by
hand for tours, tests and benchmarks. The device runtime never imports this package;
the CLI wires it in for ``--demo``."""
