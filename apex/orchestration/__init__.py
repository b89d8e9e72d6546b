"""Agent orchestration: a supervisor runs the sub-agents of a run in order (triage, data
analysis, optimization, report), each calling a language model; an orchestration worker takes
admitted runs from the gateways' job stream, executes them, and bills each run once.

``python -m apex.orchestration --port N`` starts a worker process.
"""
