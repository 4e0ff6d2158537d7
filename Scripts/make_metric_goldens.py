#!/usr/bin/env python3
"""Golden values for the evaluation metrics, computed by the reference implementations.

Run once; the output (Tests/Fixtures/metrics/goldens.json) is committed and the Swift tests in
Tests/EvaluationTests match it within 1e-6.

    python3 -m venv /tmp/venv/metrics
    /tmp/venv/metrics/bin/pip install -r Scripts/requirements-metrics.txt
    /tmp/venv/metrics/bin/python Scripts/make_metric_goldens.py

Oracles: pytrec_eval (trec_eval) for retrieval, scipy for correlations, scikit-learn for average
precision, accuracy/F1, v-measure and logistic regression. The pair-classification threshold sweep is
MTEB's own algorithm (PairClassificationEvaluator.find_best_acc_and_threshold / _f1_), transcribed
below, because no library implements it. Inputs are fixed random data with deliberate ties, graded
qrels, queries without positives and document ids whose byte order differs from numeric order.
"""
import json
import os

import numpy as np
import pytrec_eval
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, v_measure_score
from sklearn.metrics.cluster import completeness_score, homogeneity_score

rng = np.random.RandomState(20261122)
K_VALUES = [1, 3, 5, 10, 20, 100, 1000]
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "metrics", "goldens.json")


def retrieval_case():
    """A run over 60 documents for 12 queries: coarse scores (many ties), graded qrels 0-3."""
    docs = [f"d{i}" for i in range(60)]  # "d10" < "d9" as bytes: exercises the strcmp tie-break
    qrels, run = {}, {}
    for q in range(12):
        qid = f"q{q}"
        judged = rng.choice(60, size=rng.randint(3, 15), replace=False)
        grades = rng.randint(0, 4, size=len(judged))
        if q in (3, 7):
            grades[:] = 0  # judged but no relevant document
        qrels[qid] = {docs[j]: int(g) for j, g in zip(judged, grades)}
        retrieved = rng.choice(60, size=rng.randint(10, 60), replace=False)
        # Scores on a 0.05 grid so that many documents tie.
        run[qid] = {docs[j]: float(np.round(rng.randint(0, 20) * 0.05, 2)) for j in retrieved}
    measures = {
        "ndcg_cut." + ",".join(map(str, K_VALUES)),
        "map_cut." + ",".join(map(str, K_VALUES)),
        "recall." + ",".join(map(str, K_VALUES)),
        "P." + ",".join(map(str, K_VALUES)),
        "success." + ",".join(map(str, K_VALUES)),
    }
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)

    # MRR@k: trec_eval's recip_rank on the run cut to its first k documents in trec_eval order
    # (score descending, then document id descending by bytes).
    def trec_order(scores):
        by_id = sorted(scores.items(), key=lambda item: item[0].encode(), reverse=True)
        return sorted(by_id, key=lambda item: -item[1])  # stable: keeps the id order within ties

    for k in K_VALUES:
        cut = {qid: dict(trec_order(scores)[:k]) for qid, scores in run.items()}
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
        for qid in per_query:
            per_query[qid][f"recip_rank_{k}"] = rr[qid]["recip_rank"]
    with_positives = [qid for qid in qrels if any(g > 0 for g in qrels[qid].values())]
    names = sorted(next(iter(per_query.values())).keys())
    mean = {name: float(np.mean([per_query[qid][name] for qid in with_positives])) for name in names}
    return {"qrels": qrels, "run": run, "per_query": per_query, "mean_over_queries_with_positives": mean}


def ranking_cases():
    """Average precision (sklearn) and MRR@10 (stable order) of candidate lists, with ties."""
    cases = []
    for n in (2, 5, 12, 30, 30, 64):
        labels = rng.randint(0, 2, size=n)
        labels[0], labels[-1] = 1, 0  # at least one positive and one negative
        scores = np.round(rng.rand(n) * 4) / 4  # quarter steps: ties
        order = np.argsort(-scores, kind="stable")
        mrr = 0.0
        for rank, index in enumerate(order[:10]):
            if labels[index]:
                mrr = 1.0 / (rank + 1)
                break
        cases.append({
            "labels": labels.tolist(), "scores": scores.tolist(),
            "average_precision": float(average_precision_score(labels, scores)), "mrr_at_10": mrr,
        })
    return cases


def correlation_cases():
    cases = []
    for n, tie_step in ((10, 0.5), (50, 0.2), (200, 0.0)):
        x = rng.randn(n)
        y = x * 0.3 + rng.randn(n)
        if tie_step:
            y = np.round(y / tie_step) * tie_step
        cases.append({
            "x": x.tolist(), "y": y.tolist(),
            "spearman": float(spearmanr(x, y).statistic), "pearson": float(pearsonr(x, y).statistic),
        })
    return cases


def mteb_best_accuracy(scores, labels, high_score_more_similar):
    # mteb PairClassificationEvaluator.find_best_acc_and_threshold
    rows = sorted(zip(scores, labels), key=lambda x: x[0], reverse=high_score_more_similar)
    max_acc, best_threshold = 0, -1
    positive_so_far, remaining_negatives = 0, sum(np.array(labels) == 0)
    for i in range(len(rows) - 1):
        score, label = rows[i]
        if label == 1:
            positive_so_far += 1
        else:
            remaining_negatives -= 1
        acc = (positive_so_far + remaining_negatives) / len(labels)
        if acc > max_acc:
            max_acc = acc
            best_threshold = (rows[i][0] + rows[i + 1][0]) / 2
    return float(max_acc), float(best_threshold)


def mteb_best_f1(scores, labels, high_score_more_similar):
    # mteb PairClassificationEvaluator.find_best_f1_and_threshold
    rows = sorted(zip(scores, labels), key=lambda x: x[0], reverse=high_score_more_similar)
    best_f1 = best_precision = best_recall = 0
    threshold, nextract, ncorrect = 0, 0, 0
    total = sum(labels)
    for i in range(len(rows) - 1):
        score, label = rows[i]
        nextract += 1
        if label == 1:
            ncorrect += 1
        if ncorrect > 0:
            precision = ncorrect / nextract
            recall = ncorrect / total
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1, best_precision, best_recall = f1, precision, recall
                threshold = (rows[i][0] + rows[i + 1][0]) / 2
    return float(best_f1), float(best_precision), float(best_recall), float(threshold)


def pair_cases():
    cases = []
    for n, high in ((8, True), (40, True), (40, False), (120, True)):
        labels = rng.randint(0, 2, size=n).tolist()
        labels[0], labels[1] = 1, 0
        scores = (np.round(rng.rand(n) * 10) / 10).tolist()
        acc, acc_threshold = mteb_best_accuracy(scores, labels, high)
        f1, precision, recall, f1_threshold = mteb_best_f1(scores, labels, high)
        ap = average_precision_score(labels, np.array(scores) * (1 if high else -1))
        cases.append({
            "scores": scores, "labels": labels, "high_score_more_similar": high,
            "accuracy": acc, "accuracy_threshold": acc_threshold, "f1": f1, "precision": precision,
            "recall": recall, "f1_threshold": f1_threshold, "ap": float(ap),
        })
    return cases


def classification_cases():
    cases = []
    for n, classes in ((30, 2), (100, 4), (100, 7)):
        y_true = rng.randint(0, classes, size=n)
        y_pred = np.where(rng.rand(n) < 0.5, y_true, rng.randint(0, classes + 1, size=n))  # one unseen label
        cases.append({
            "y_true": y_true.tolist(), "y_pred": y_pred.tolist(),
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        })
    return cases


def clustering_cases():
    cases = []
    for n, classes, clusters in ((20, 2, 3), (200, 5, 5), (500, 10, 7)):
        true = rng.randint(0, classes, size=n)
        pred = np.where(rng.rand(n) < 0.6, true % clusters, rng.randint(0, clusters, size=n))
        cases.append({
            "labels_true": true.tolist(), "labels_pred": pred.tolist(),
            "homogeneity": float(homogeneity_score(true, pred)),
            "completeness": float(completeness_score(true, pred)),
            "v_measure": float(v_measure_score(true, pred)),
        })
    return cases


def logistic_regression_case():
    """Converged multinomial L2 logistic regression (C=1): a convex problem with one optimum."""
    classes, dims = 3, 6
    centers = rng.randn(classes, dims) * 1.5
    y = np.repeat(np.arange(classes), 8)
    x = centers[y] + rng.randn(len(y), dims)
    test_y = np.repeat(np.arange(classes), 5)
    test_x = centers[test_y] + rng.randn(len(test_y), dims)
    model = LogisticRegression(C=1.0, max_iter=10000, tol=1e-12).fit(x, y)
    return {
        "train_x": x.tolist(), "train_y": y.tolist(), "test_x": test_x.tolist(),
        "probabilities": model.predict_proba(test_x).tolist(),
        "coefficients": model.coef_.tolist(), "intercepts": model.intercept_.tolist(),
    }


goldens = {
    "k_values": K_VALUES,
    "retrieval": retrieval_case(),
    "ranking": ranking_cases(),
    "correlation": correlation_cases(),
    "pair_classification": pair_cases(),
    "classification": classification_cases(),
    "clustering": clustering_cases(),
    "logistic_regression": logistic_regression_case(),
}
with open(OUT, "w") as f:
    json.dump(goldens, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes")
