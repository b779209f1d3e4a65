from planner.interfaces.cli import run

run()
