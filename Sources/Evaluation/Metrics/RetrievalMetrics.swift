/// Retrieval metrics with trec_eval semantics (what MTEB computes through pytrec_eval).
///
/// - Ranking: documents sorted by score descending, ties broken by document id descending comparing
///   bytes (trec_eval's `strcmp`), so results do not depend on the order documents were scored in.
/// - nDCG@k: gain is the raw qrel value (linear), discount log2(rank + 1), ideal DCG from the qrels
///   sorted by grade and cut at k.
/// - MAP@k and Recall@k divide by the total number of relevant documents (grade ≥ 1), P@k by k.
/// - MRR@k: reciprocal rank of the first relevant document within k; success@k: any relevant within k.
public enum RetrievalMetrics {
    /// The cut-offs MTEB reports.
    public static let defaultCutoffs = [1, 3, 5, 10, 20, 100, 1000]

    /// Metrics of one query at one cut-off.
    public struct Values: Sendable, Equatable {
        public var ndcg = 0.0, map = 0.0, recall = 0.0, precision = 0.0, mrr = 0.0, success = 0.0
    }

    /// Sorts a run into trec_eval order: score descending, then document id descending (bytes).
    public static func trecOrder(_ scores: [String: Double]) -> [(id: String, score: Double)] {
        scores.map { (id: $0.key, score: $0.value) }.sorted { a, b in
            if a.score != b.score { return a.score > b.score }
            return b.id.utf8.lexicographicallyPrecedes(a.id.utf8)
        }
    }

    /// Metrics of one query for each cut-off.
    ///
    /// - Parameters:
    ///   - ranking: retrieved document ids, best first (already in trec_eval order).
    ///   - qrels: graded judgements of this query (grade ≤ 0 means not relevant).
    public static func evaluate(ranking: [String], qrels: [String: Int], cutoffs: [Int] = defaultCutoffs) -> [Int: Values] {
        let relevantCount = qrels.values.filter { $0 >= 1 }.count
        let idealGains = qrels.values.filter { $0 > 0 }.sorted(by: >)
        var results: [Int: Values] = [:]
        for k in cutoffs {
            var values = Values()
            var dcg = 0.0, hits = 0, precisionSum = 0.0
            for (index, id) in ranking.prefix(k).enumerated() {
                let grade = qrels[id] ?? 0
                if grade > 0 { dcg += Double(grade) / log2(Double(index + 2)) }
                if grade >= 1 {
                    hits += 1
                    precisionSum += Double(hits) / Double(index + 1)
                    if values.mrr == 0 { values.mrr = 1 / Double(index + 1) }
                }
            }
            var idealDCG = 0.0
            for (index, gain) in idealGains.prefix(k).enumerated() { idealDCG += Double(gain) / log2(Double(index + 2)) }
            values.ndcg = idealDCG > 0 ? dcg / idealDCG : 0
            values.map = relevantCount > 0 ? precisionSum / Double(relevantCount) : 0
            values.recall = relevantCount > 0 ? Double(hits) / Double(relevantCount) : 0
            values.precision = Double(hits) / Double(k)
            values.success = hits > 0 ? 1 : 0
            results[k] = values
        }
        return results
    }

    /// Mean metrics over the queries that have at least one relevant document.
    ///
    /// A query with relevant documents but no ranking counts as zero (as `trec_eval -c`); queries
    /// without relevant documents are left out, as MTEB drops them.
    /// - Returns: the means per cut-off and the number of queries averaged.
    public static func mean(
        rankings: [String: [String]], qrels: [String: [String: Int]], cutoffs: [Int] = defaultCutoffs
    ) -> (values: [Int: Values], queries: Int) {
        let evaluated = qrels.filter { $0.value.values.contains { $0 >= 1 } }
        var totals: [Int: Values] = Dictionary(uniqueKeysWithValues: cutoffs.map { ($0, Values()) })
        // Sum in query-id order: the same run gives bit-identical means (dictionary order varies).
        for (query, judgements) in evaluated.sorted(by: { $0.key < $1.key }) {
            let perQuery = evaluate(ranking: rankings[query] ?? [], qrels: judgements, cutoffs: cutoffs)
            for k in cutoffs {
                guard let v = perQuery[k] else { continue }
                totals[k]!.ndcg += v.ndcg; totals[k]!.map += v.map; totals[k]!.recall += v.recall
                totals[k]!.precision += v.precision; totals[k]!.mrr += v.mrr; totals[k]!.success += v.success
            }
        }
        let count = Double(max(1, evaluated.count))
        for k in cutoffs {
            totals[k]!.ndcg /= count; totals[k]!.map /= count; totals[k]!.recall /= count
            totals[k]!.precision /= count; totals[k]!.mrr /= count; totals[k]!.success /= count
        }
        return (totals, evaluated.count)
    }

    /// Flattens means into MTEB's names: `ndcg_at_10`, `map_at_10`, `recall_at_10`, `precision_at_10`,
    /// `mrr_at_10`, `success_at_10`.
    public static func scoreDictionary(_ values: [Int: Values]) -> [String: Double] {
        var scores: [String: Double] = [:]
        for (k, v) in values {
            scores["ndcg_at_\(k)"] = v.ndcg; scores["map_at_\(k)"] = v.map; scores["recall_at_\(k)"] = v.recall
            scores["precision_at_\(k)"] = v.precision; scores["mrr_at_\(k)"] = v.mrr; scores["success_at_\(k)"] = v.success
        }
        return scores
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
