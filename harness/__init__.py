"""harness: robustness evaluation of saliency maps under input shifts.

Data flow (one subpackage per stage): ``data`` → ``models`` → ``perturbations``
→ ``attribution`` → ``metrics`` → ``report``. :func:`harness.run.run` wires them.
"""
__version__ = "0.1.0"
