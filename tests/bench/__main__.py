"""Run every benchmark and print its figures: ``python -m tests.bench``."""

from tests.bench import demo_world

for bench in (demo_world,):
    bench.main()
