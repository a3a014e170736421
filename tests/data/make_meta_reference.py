"""Writes ``meta_reference.npz``: MetaQuantus's IAC / IEC / MC on fixed score arrays.

Made with::

    pip install --no-deps metaquantus==0.0.5 && python tests/data/make_meta_reference.py

(metaquantus needs quantus, which is not a dependency of the project; it is only needed to rewrite this file). Two
tests ("Model", "Input") of ``L = 4`` methods on ``N = 24`` images, ``K = 3`` copies each of a noise and an adversary
perturbation. The scores are seeded random numbers: under noise the unperturbed scores plus a small jitter, under
the adversary the scores moved down by a random amount; the eligible images (prediction kept / changed) are random.
The reference runs ``MetaEvaluation``'s own analysis (``run_intra_analysis``, ``run_inter_analysis``,
``run_meta_consistency_analysis``) with ``iterations = K`` and one perturbation per iteration, for both directions
(``score_direction=False``: higher is better; ``True``: lower is better, the package's boolean convention).

Keys: ``q`` ``(2, L, N)``, ``q_hat_nr`` / ``q_hat_ar`` ``(2, K, L, N)``, ``kept`` / ``changed`` ``(2, K, N)`` bool; per
direction ``d`` in (``higher``, ``lower``): ``{d}_criteria`` ``(2, 4, K)`` (IAC_NR, IAC_AR, IEC_NR, IEC_AR per copy)
and ``{d}_mc`` ``(2,)`` (the MC mean of each test).
"""
from pathlib import Path

import numpy as np
from metaquantus.meta_evaluation import MetaEvaluation

TESTS, L, N, K = ("Model", "Input"), 4, 24, 3


def arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    q = rng.normal(size=(len(TESTS), L, N)) + np.arange(L)[None, :, None] * 0.3
    q_hat_nr = q[:, None] + rng.normal(scale=0.05, size=(len(TESTS), K, L, N))
    q_hat_ar = q[:, None] - rng.uniform(0.0, 1.5, size=(len(TESTS), K, L, N)) + rng.normal(scale=0.5, size=(
        len(TESTS), K, L, N))
    kept = rng.uniform(size=(len(TESTS), K, N)) < 0.85
    changed = rng.uniform(size=(len(TESTS), K, N)) < 0.6
    return {"q": q, "q_hat_nr": q_hat_nr, "q_hat_ar": q_hat_ar, "kept": kept, "changed": changed}


def reference(a: dict[str, np.ndarray], lower_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    methods = [f"m{l}" for l in range(L)]
    names = [f"{t} {kind} Test" for t in TESTS for kind in ("Resilience", "Adversary")]
    meta = MetaEvaluation(test_suite={n: None for n in names}, xai_methods={m: {} for m in methods}, iterations=K,
                          nr_perturbations=1, write_to_file=False)
    meta.results_y_preds = np.zeros(N, dtype=int)  # only its length is read by the inter-consistency analysis
    for t, test in enumerate(TESTS):
        for kind, q_hat, idx in (("Resilience", a["q_hat_nr"], a["kept"]), ("Adversary", a["q_hat_ar"], a["changed"])):
            name = f"{test} {kind} Test"
            meta.results_eval_scores[name] = {m: a["q"][t, l] for l, m in enumerate(methods)}
            meta.results_eval_scores_perturbed[name] = {
                i: {m: q_hat[t, i, l][None] for l, m in enumerate(methods)} for i in range(K)}
            meta.results_indices_perturbed[name] = {i: idx[t, i][None] for i in range(K)}
    meta.run_intra_analysis()
    meta.run_inter_analysis(score_direction=lower_is_better)
    mc = meta.run_meta_consistency_analysis()
    criteria = np.stack([np.stack(list(mc[t]["consistency_scores"].values())) for t in TESTS])
    return criteria, np.array([mc[t]["MC_mean"] for t in TESTS])


def main() -> None:
    a = arrays(np.random.default_rng(20230214))
    out = dict(a)
    for name, lower in (("higher", False), ("lower", True)):
        out[f"{name}_criteria"], out[f"{name}_mc"] = reference(a, lower)
    path = Path(__file__).with_name("meta_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
