import Foundation

/// Markdown tables of one or more runs, laid out like the seeds' reports: averages per task type
/// (the JMTEB table), every task's main score, and speed and memory (the vLLM comparison).
public enum MarkdownReport {
    /// The whole report; several runs appear side by side, each labelled by `labels` (the run
    /// directories, as `eval --compare` names them) or, without labels, by its model.
    ///
    /// Averages cover only the tasks every run has, so runs over different task sets are compared
    /// on common ground: a type missing from some run gets no average, and a task missing from some
    /// run is listed with "–" but left out of every average.
    public static func render(_ runs: [RunReport], labels: [String]? = nil) -> String {
        let labels = labels.map { $0.count == runs.count ? $0 : runs.map(name) } ?? runs.map(name)
        var lines = ["# Evaluation results", ""]
        let types = TaskType.allCases.filter { type in runs.contains { $0.results.contains { $0.type == type } } }
        let common = commonTasks(runs)
        let averagedTypes = types.filter { type in common.contains { $0.type == type } }
        lines += ["Scores ×100. Averages per task type over the tasks every run has, then the mean over those types.", ""]
        let partial = types.filter { !averagedTypes.contains($0) }
        let commonCount = common.count, allCount = Set(runs.flatMap { $0.results.map { TaskKey($0) } }).count
        if commonCount < allCount {
            lines += ["Only \(commonCount) of \(allCount) tasks are in every run; the others are listed below but not averaged"
                      + (partial.isEmpty ? "." : " (no average for \(partial.map(\.title).joined(separator: ", "))).") , ""]
        }
        if runs.contains(where: { subset($0) != "full" }) {
            lines += ["Subset: `--limit` / `--corpus-limit` of the run (task files may subsample further; see each task's limits below).", ""]
        }
        lines.append("| Run | Model | Subset | Avg | " + averagedTypes.map(\.title).joined(separator: " | ") + " |")
        lines.append("|---|---|---|---:|" + averagedTypes.map { _ in "---:|" }.joined())
        for (run, label) in zip(runs, labels) {
            let averages = averagedTypes.map { type -> Double? in
                let values = run.results.filter { $0.type == type && common.contains(TaskKey($0)) }.map(\.mainScore)
                return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
            }
            let present = averages.compactMap { $0 }
            let overall = present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
            lines.append("| \(label) | \(name(run)) | \(subset(run)) | \(percent(overall)) | " + averages.map(percent).joined(separator: " | ") + " |")
        }
        for type in types {
            let tasks = orderedTasks(runs, type: type)
            lines += ["", "## \(type.title)", ""]
            lines.append("| Task | Lang | Split | Metric | Limits | " + labels.joined(separator: " | ") + " |")
            lines.append("|---|---|---|---|---|" + runs.map { _ in "---:|" }.joined())
            for task in tasks {
                let first = runs.lazy.compactMap { $0.results.first { $0.task == task } }.first!
                let cells = runs.map { run in percent(run.results.first { $0.task == task }?.mainScore) }
                let limits = Set(runs.compactMap { $0.results.first { $0.task == task } }.map(limitText))
                lines.append("| \(task) | \(first.language ?? "") | \(first.split ?? "") | \(first.mainScoreName) | "
                             + "\(limits.sorted().joined(separator: " / ")) | " + cells.joined(separator: " | ") + " |")
            }
        }
        lines += ["", "## Speed and memory", ""]
        lines.append("| Run | Model | Precision | Load (s) | Peak RSS (MiB) | Texts embedded | Cached | Texts/s | Tokens/s | Total (s) |")
        lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for (run, label) in zip(runs, labels) {
            let s = run.summary
            lines.append("| \(label) | \(name(run)) | \(s.precision) | \(fixed(s.loadSeconds, 2)) | \(fixed(Double(s.peakResidentBytes) / 1_048_576, 0)) | "
                         + "\(s.embedding.texts) | \(s.embedding.cachedTexts) | \(fixed(s.textsPerSecond, 1)) | \(fixed(s.tokensPerSecond, 0)) | \(fixed(s.totalSeconds, 1)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A task as the averages match it across runs.
    struct TaskKey: Hashable {
        var task: String
        var type: TaskType
        init(_ result: TaskResult) { task = result.task; type = result.type }
    }

    /// Tasks present in every run.
    static func commonTasks(_ runs: [RunReport]) -> Set<TaskKey> {
        guard let first = runs.first else { return [] }
        return runs.dropFirst().reduce(Set(first.results.map { TaskKey($0) })) { $0.intersection($1.results.map { TaskKey($0) }) }
    }

    /// The run's `--limit` / `--corpus-limit`, or "full".
    static func subset(_ run: RunReport) -> String {
        var parts: [String] = []
        if let limit = run.summary.limit { parts.append("limit \(limit)") }
        if let corpusLimit = run.summary.corpusLimit { parts.append("corpus limit \(corpusLimit)") }
        return parts.isEmpty ? "full" : parts.joined(separator: ", ")
    }

    /// A task's own subsampling, or "full".
    static func limitText(_ result: TaskResult) -> String {
        var parts: [String] = []
        if let limit = result.limit { parts.append("limit \(limit)") }
        if let corpusLimit = result.corpusLimit { parts.append("corpus \(corpusLimit)") }
        return parts.isEmpty ? "full" : parts.joined(separator: ", ")
    }

    static func name(_ run: RunReport) -> String {
        var name = run.summary.model
        if let reranker = run.summary.reranker { name += " + \(reranker)" }
        if let dimensions = run.summary.dimensions { name += " (\(dimensions)d)" }
        return name
    }

    static func orderedTasks(_ runs: [RunReport], type: TaskType) -> [String] {
        var seen: [String] = []
        for run in runs { for result in run.results where result.type == type && !seen.contains(result.task) { seen.append(result.task) } }
        return seen
    }

    static func percent(_ value: Double?) -> String { value.map { fixed($0 * 100, 2) } ?? "–" }

    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
}
