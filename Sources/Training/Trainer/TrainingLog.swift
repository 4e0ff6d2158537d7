import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One optimiser step as `train-log.jsonl` records it.
public struct TrainingStepRecord: Sendable, Equatable {
    /// The step, counted from 1.
    public var step: Int
    /// Passes over the data completed when this step's batch was consumed (fractional, as Hugging Face logs it).
    public var epoch: Double
    /// The batch loss, computed before this step's update.
    public var loss: Float
    /// The learning rate this step's update used.
    public var learningRate: Double
    /// Total gradient norm before clipping.
    public var gradientNorm: Float
    /// Tokens through the model in this step (forward and backward counted once) per wall-clock second.
    public var tokensPerSecond: Double
    /// Tokens in this step's batch.
    public var tokens: Int

    /// The JSON object of this step, one line, keys in a fixed order.
    public var jsonLine: String {
        "{\"step\": \(step), \"epoch\": \(TrainingLog.number(epoch)), \"loss\": \(TrainingLog.number(loss)), "
            + "\"learning_rate\": \(TrainingLog.number(learningRate)), \"grad_norm\": \(TrainingLog.number(gradientNorm)), "
            + "\"tokens_per_second\": \(TrainingLog.number(tokensPerSecond.rounded())), \"tokens\": \(tokens)}"
    }
}

/// One evaluation of the model being trained, as `train-log.jsonl` records it.
public struct TrainingEvaluationRecord: Sendable, Equatable {
    /// One task's result.
    public struct Score: Sendable, Equatable {
        /// The task's name.
        public var task: String
        /// The main metric's name (e.g. `ndcg_at_10`).
        public var mainScoreName: String
        /// The main metric's value.
        public var mainScore: Double
        /// Every metric the task computed.
        public var scores: [String: Double]
    }

    /// Steps done when the evaluation ran (0: before training).
    public var step: Int
    /// Passes over the data done at that point.
    public var epoch: Double
    /// One entry per task, in task-file order.
    public var results: [Score]

    /// The JSON object of this evaluation, one line: `{"step", "epoch", "eval": {task: {main_score_name, main_score, scores}}}`.
    public var jsonLine: String {
        let tasks = results.map { result -> String in
            let scores = result.scores.sorted { $0.key < $1.key }.map { "\(TrainingLog.string($0.key)): \(TrainingLog.number($0.value))" }
            return "\(TrainingLog.string(result.task)): {\"main_score_name\": \(TrainingLog.string(result.mainScoreName)), "
                + "\"main_score\": \(TrainingLog.number(result.mainScore)), \"scores\": {\(scores.joined(separator: ", "))}}"
        }
        return "{\"step\": \(step), \"epoch\": \(TrainingLog.number(epoch)), \"eval\": {\(tasks.joined(separator: ", "))}}"
    }
}

/// `train-log.jsonl`: one JSON object per line, a line per step and per evaluation, written as each
/// happens (flushed by the kernel write, so a reader tailing the file sees every finished step).
///
/// Writes use write(2) and report failures (a full disk is an error, never a silently short log).
public final class TrainingLog {
    /// The log's file name inside the output directory.
    public static let fileName = "train-log.jsonl"

    /// The file.
    public let url: URL
    private let descriptor: Int32

    /// Opens `<directory>/train-log.jsonl` for appending.
    ///
    /// - Parameter keepingStepsThrough: when resuming, the lines of steps after this one (written by the
    ///   interrupted run after its last checkpoint) are dropped first, so the log reads as one run;
    ///   nil starts a new log.
    public init(directory: URL, keepingStepsThrough resumedStep: Int?) throws {
        url = directory.appendingPathComponent(Self.fileName)
        var kept = ""
        if let resumedStep, let existing = try? String(contentsOf: url, encoding: .utf8) {
            for line in existing.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let step = object["step"] as? Int, step <= resumedStep else { continue }
                kept += line + "\n"
            }
        }
        descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw TrainerError.invalidConfiguration("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        if !kept.isEmpty { try append(raw: kept) }
    }

    deinit { close(descriptor) }

    /// Appends one line (a JSON object without its newline).
    public func append(_ line: String) throws {
        try append(raw: line + "\n")
    }

    private func append(raw text: String) throws {
        var text = text
        let failure: Int32 = text.withUTF8 { buffer in
            guard var base = buffer.baseAddress else { return 0 }
            var remaining = buffer.count
            while remaining > 0 {
                let written = write(descriptor, base, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if written == 0 { return EIO }
                base += written
                remaining -= written
            }
            return 0
        }
        if failure != 0 {
            throw TrainerError.invalidConfiguration("cannot write \(url.path): \(String(cString: strerror(failure)))")
        }
    }

    /// A JSON number: the shortest text that reads back to `value` (`null` for NaN or infinity, which JSON lacks).
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A JSON number for a Float: its shortest round-tripping text (`null` for NaN or infinity).
    static func number(_ value: Float) -> String {
        value.isFinite ? "\(value)" : "null"
    }

    /// A JSON string literal.
    static func string(_ value: String) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes]),
              let array = String(data: data, encoding: .utf8) else { return "\"\"" }
        return String(array.dropFirst().dropLast())
    }
}
