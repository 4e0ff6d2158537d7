import Foundation

/// Markdown tables of one or more runs, laid out like the seeds' reports: averages per task type
/// (the JMTEB table), every task's main score, and speed and memory (the vLLM comparison).
public enum MarkdownReport {
    /// The whole report; several runs appear side by side.
    public static func render(_ runs: [RunReport]) -> String {
        var lines = ["# Evaluation results", ""]
        let types = TaskType.allCases.filter { type in runs.contains { $0.results.contains { $0.type == type } } }
        lines += ["Scores ×100. Averages per task type, then the mean over types.", ""]
        lines.append("| Model | Avg | " + types.map(\.title).joined(separator: " | ") + " |")
        lines.append("|---|---:|" + types.map { _ in "---:|" }.joined())
        for run in runs {
            let averages = types.map { type -> Double? in
                let values = run.results.filter { $0.type == type }.map(\.mainScore)
                return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
            }
            let present = averages.compactMap { $0 }
            let overall = present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
            lines.append("| \(name(run)) | \(percent(overall)) | " + averages.map(percent).joined(separator: " | ") + " |")
        }
        for type in types {
            let tasks = orderedTasks(runs, type: type)
            lines += ["", "## \(type.title)", ""]
            lines.append("| Task | Lang | Split | Metric | " + runs.map(name).joined(separator: " | ") + " |")
            lines.append("|---|---|---|---|" + runs.map { _ in "---:|" }.joined())
            for task in tasks {
                let first = runs.lazy.compactMap { $0.results.first { $0.task == task } }.first!
                let cells = runs.map { run in percent(run.results.first { $0.task == task }?.mainScore) }
                lines.append("| \(task) | \(first.language ?? "") | \(first.split ?? "") | \(first.mainScoreName) | " + cells.joined(separator: " | ") + " |")
            }
        }
        lines += ["", "## Speed and memory", ""]
        lines.append("| Model | Precision | Load (s) | Peak RSS (MiB) | Texts embedded | Cached | Texts/s | Tokens/s | Total (s) |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for run in runs {
            let s = run.summary
            lines.append("| \(name(run)) | \(s.precision) | \(fixed(s.loadSeconds, 2)) | \(fixed(Double(s.peakResidentBytes) / 1_048_576, 0)) | "
                         + "\(s.embedding.texts) | \(s.embedding.cachedTexts) | \(fixed(s.textsPerSecond, 1)) | \(fixed(s.tokensPerSecond, 0)) | \(fixed(s.totalSeconds, 1)) |")
        }
        return lines.joined(separator: "\n") + "\n"
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
