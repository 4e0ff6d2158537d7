import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `qwen3-embed train` through the built binary: learning on the synthetic task, resume after SIGINT,
/// the log format, and one-line errors for bad inputs.
@Suite struct TrainCLITests {
    let cli = CLITests()
    static let training = CLITests.fixtures.appendingPathComponent("training")
    static let goldenData = training.appendingPathComponent("adamw-3-steps/data.jsonl").path

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("train-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A short LoRA run on the golden data (4 examples, 2 hard negatives each).
    static func shortRun(output: URL, steps: Int = 6) -> [String] {
        ["train", "--model", CLITests.embeddingModel, "--data", goldenData, "--output", output.path,
         "--lora-rank", "4", "--lora-alpha", "8", "--batch-size", "2", "--negatives", "1", "--max-steps", String(steps),
         "--learning-rate", "1e-3", "--warmup-steps", "1", "--seed", "7", "--threads", "1"]
    }

    static func logLines(_ output: URL) throws -> [[String: Any]] {
        try String(contentsOf: output.appendingPathComponent("train-log.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    // MARK: Log format

    /// train-log.jsonl has one line per step (step from 1, epoch, loss, learning_rate, grad_norm,
    /// tokens_per_second), and `--log-format json` prints exactly those lines on stdout.
    @Test func logLinesAreWrittenAndPrinted() throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try cli.run(Self.shortRun(output: output, steps: 3) + ["--log-format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let file = try Self.logLines(output)
        #expect(file.map { $0["step"] as? Int } == [1, 2, 3])
        for line in file {
            for key in ["epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second"] {
                #expect(line[key] as? Double != nil, "missing \(key) in \(line)")
            }
            #expect((line["loss"] as? Double)?.isFinite == true)
            #expect((line["tokens_per_second"] as? Double ?? 0) > 0)
        }
        #expect(file.first?["learning_rate"] as? Double == 0)  // warm-up: the first update has rate 0, as Hugging Face's
        #expect(file.last?["epoch"] as? Double == 1.5)  // 3 batches of 2 over 4 examples
        let printed = result.stdout.split(separator: "\n").map(String.init)
        let written = try String(contentsOf: output.appendingPathComponent("train-log.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(printed == written)
        // Not a terminal: plain milestone lines on stderr, and the adapter in the output directory.
        #expect(result.stderr.contains("qwen3-embed: step 3/3"))
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
    }

    @Test func textLogFormatKeepsStdoutEmpty() throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try cli.run(Self.shortRun(output: output, steps: 1))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(try Self.logLines(output).count == 1)
    }

    // MARK: Resume after SIGINT

    /// A run interrupted by SIGINT or SIGTERM saves a checkpoint and exits 0; resumed, it ends with an adapter
    /// byte-identical to an uninterrupted run's. The signal is sent once the first step's log line has
    /// been read (an event, not a delay); wherever the run then stops, the result must be the same.
    @Test(arguments: [SIGINT, SIGTERM])
    func interruptedRunResumesBitwise(signal: Int32) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let straight = directory.appendingPathComponent("straight")
        let stopped = directory.appendingPathComponent("stopped")
        let steps = 8
        let reference = try cli.run(Self.shortRun(output: straight, steps: steps))
        #expect(reference.status == 0, "\(reference.stderr)")

        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = Self.shortRun(output: stopped, steps: steps) + ["--log-format", "json"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var buffer = Data()
        var signalled = false
        while true {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // end of output: the process has exited
            buffer.append(chunk)
            if !signalled, String(decoding: buffer, as: UTF8.self).contains("\"step\": 1,") {
                kill(process.processIdentifier, signal)
                signalled = true
            }
        }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(signalled)
        #expect(process.terminationStatus == 0, "\(stderr)")
        let stoppedAt = try Self.logLines(stopped).compactMap { $0["step"] as? Int }.max() ?? 0
        try #require(stoppedAt < steps, "the run finished before the signal arrived; nothing was resumed")
        #expect(stderr.contains("stopped at step \(stoppedAt)"), "\(stderr)")
        let checkpoint = stopped.appendingPathComponent("checkpoint-\(stoppedAt)")
        #expect(FileManager.default.fileExists(atPath: checkpoint.appendingPathComponent("trainer_state.json").path))
        #expect(!FileManager.default.fileExists(atPath: stopped.appendingPathComponent("adapter_model.safetensors").path))

        let resumed = try cli.run(Self.shortRun(output: stopped, steps: steps) + ["--resume", stopped.path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for file in ["adapter_model.safetensors", "adapter_config.json"] {
            let a = try Data(contentsOf: straight.appendingPathComponent(file))
            let b = try Data(contentsOf: stopped.appendingPathComponent(file))
            #expect(a == b, "\(file) differs after resume")
        }
        // The log reads as one run: every step once, and the same losses as the uninterrupted run.
        let losses = { (url: URL) in try Self.logLines(url).map { "\($0["step"]!) \($0["loss"]!)" } }
        #expect(try losses(stopped) == losses(straight))
    }

    // MARK: Evaluation during training

    /// A retrieval task over the golden data: each query must find its positive among every document.
    static func writeRetrievalTask(in directory: URL) throws -> URL {
        let lines = try String(contentsOfFile: goldenData, encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        var documents: [String] = []
        for line in lines {
            for text in [line["positive"] as! String] + (line["negatives"] as! [String]) where !documents.contains(text) {
                documents.append(text)
            }
        }
        func json(_ object: [String: String]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        let data = directory.appendingPathComponent("beir")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("qrels"), withIntermediateDirectories: true)
        try documents.enumerated().map { try json(["_id": "d\($0.offset)", "text": $0.element]) }.joined(separator: "\n")
            .write(to: data.appendingPathComponent("corpus.jsonl"), atomically: true, encoding: .utf8)
        try lines.enumerated().map { try json(["_id": "q\($0.offset)", "text": $0.element["query"] as! String]) }.joined(separator: "\n")
            .write(to: data.appendingPathComponent("queries.jsonl"), atomically: true, encoding: .utf8)
        try lines.enumerated().map { "q\($0.offset)\td\(documents.firstIndex(of: $0.element["positive"] as! String)!)\t1" }
            .joined(separator: "\n").write(to: data.appendingPathComponent("qrels/test.tsv"), atomically: true, encoding: .utf8)
        let task = directory.appendingPathComponent("golden-retrieval.json")
        try #"{"name": "GoldenRetrieval", "type": "retrieval", "data": {"path": "beir"}}"#
            .write(to: task, atomically: true, encoding: .utf8)
        return task
    }

    /// `--eval-tasks` evaluates the model being trained before the first step, every `--eval-steps` and
    /// at the end; each evaluation is a log line with the scores (also on stdout with `--log-format json`),
    /// and the last one equals `eval` on the trained adapter.
    @Test func evaluationRunsBeforeDuringAndAfterTraining() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let task = try Self.writeRetrievalTask(in: directory)
        let output = directory.appendingPathComponent("run")
        let result = try cli.run(Self.shortRun(output: output, steps: 3)
                                 + ["--eval-tasks", task.path, "--eval-steps", "2", "--log-format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let log = try Self.logLines(output)
        let evaluations = log.filter { $0["eval"] != nil }
        #expect(evaluations.map { $0["step"] as? Int } == [0, 2, 3])
        #expect(log.filter { $0["loss"] != nil }.map { $0["step"] as? Int } == [1, 2, 3])
        var finalScore = -1.0
        for evaluation in evaluations {
            let tasks = try #require(evaluation["eval"] as? [String: Any])
            let scores = try #require(tasks["GoldenRetrieval"] as? [String: Any])
            #expect(scores["main_score_name"] as? String == "ndcg_at_10")
            let main = try #require(scores["main_score"] as? Double)
            #expect((0...1).contains(main))
            #expect((scores["scores"] as? [String: Double])?["ndcg_at_10"] == main)
            finalScore = main
        }
        #expect(result.stdout.split(separator: "\n").filter { $0.contains("\"eval\"") }.count == 3)
        #expect(result.stderr.contains("eval step 0: GoldenRetrieval ndcg_at_10"), "\(result.stderr)")

        let check = try cli.run(["eval", "--model", CLITests.embeddingModel, "--adapter", output.path, "--tasks", task.path,
                                 "--output", directory.appendingPathComponent("eval").path, "--no-cache"])
        #expect(check.status == 0, "\(check.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("eval/GoldenRetrieval.json"))) as? [String: Any])
        let evaluated = try #require(report["main_score"] as? Double)
        #expect(abs(evaluated - finalScore) <= 1e-6, "eval \(evaluated) vs training log \(finalScore)")
    }

    // MARK: Learning

    /// Learning works: LoRA training on the synthetic topic task (Tests/Fixtures/training/synthetic-task,
    /// the settings of its README) raises the held-out nDCG@10 from the untrained model's value to ≥ 0.9,
    /// measured by `eval --adapter` on the result (and logged by the run's own evaluations).
    ///
    /// Disabled until the synthetic task is learnable at CI size: its own torch prototype does not reach
    /// 0.9 yet (Tests/Fixtures/training/README.md, "Status"), and a debug build trains the tiny fixture at
    /// ~35–40 tokens/s on a 2-core machine without AVX-512, so 30 steps of 16 examples take ~4.5 min.
    @Test(.disabled("the synthetic task does not reach nDCG@10 0.9 yet, even in the torch prototype (fixtures README, Status)"))
    func trainingRaisesHeldOutNDCGOnTheSyntheticTask() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let task = Self.training.appendingPathComponent("synthetic-task")
        let output = directory.appendingPathComponent("run")
        let result = try cli.run([
            "train", "--model", CLITests.embeddingModel, "--data", task.appendingPathComponent("train.jsonl").path,
            "--output", output.path, "--lora-rank", "16", "--lora-alpha", "32", "--learning-rate", "2e-3", "--batch-size", "16",
            "--epochs", "3", "--negatives", "3", "--scheduler", "linear", "--max-grad-norm", "1", "--seed", "42",
            "--eval-tasks", task.appendingPathComponent("task.json").path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let evaluations = try Self.logLines(output).compactMap { line -> (Int, Double)? in
            guard let tasks = line["eval"] as? [String: Any], let scores = tasks["SyntheticTopicRetrieval"] as? [String: Any],
                  let main = scores["main_score"] as? Double else { return nil }
            return (line["step"] as! Int, main)
        }
        let before = try #require(evaluations.first { $0.0 == 0 }?.1)
        let logged = try #require(evaluations.last?.1)

        let check = try cli.run(["eval", "--model", CLITests.embeddingModel, "--adapter", output.path,
                                 "--tasks", task.appendingPathComponent("task.json").path,
                                 "--output", directory.appendingPathComponent("eval").path, "--no-cache"])
        #expect(check.status == 0, "\(check.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("eval/SyntheticTopicRetrieval.json"))) as? [String: Any])
        let after = try #require(report["main_score"] as? Double)
        #expect(after >= 0.9, "held-out nDCG@10 \(before) before, \(after) after training")
        #expect(after > before + 0.2, "held-out nDCG@10 \(before) before, \(after) after training")
        #expect(abs(after - logged) <= 1e-6, "eval \(after) vs the run's last evaluation \(logged)")
    }

    // MARK: Errors

    @Test(arguments: [
        (["--epochs", "1", "--max-steps", "2"], "--epochs or --max-steps"),
        (["--warmup-steps", "1", "--warmup-ratio", "0.1"], "--warmup-steps or --warmup-ratio"),
        (["--method", "full", "--merge-lora"], "--merge-lora"),
        (["--lora-targets", "q_proj,x_proj"], "x_proj"),
        (["--optimizer", "lion"], "lion"),
        (["--eval-steps", "2"], "--eval-tasks"),
        (["--learning-rate", "0"], "--learning-rate"),
    ])
    func badFlagsAreOneLineErrors(extra: [String], expected: String) throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try cli.run(["train", "--model", CLITests.embeddingModel, "--data", Self.goldenData, "--output", output.path] + extra)
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count <= 2, "\(result.stderr)")
    }

    @Test func aGGUFModelAndEmptyDataAreOneLineErrors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gguf = CLITests.fixtures.appendingPathComponent("gguf-llama/embedding-F16.gguf").path
        let refused = try cli.run(["train", "--model", gguf, "--data", Self.goldenData, "--output", directory.appendingPathComponent("a").path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("GGUF"), "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("qwen3-embed: error:"))
        let empty = directory.appendingPathComponent("empty.jsonl")
        try Data().write(to: empty)
        let nothing = try cli.run(["train", "--model", CLITests.embeddingModel, "--data", empty.path, "--output", directory.appendingPathComponent("b").path])
        #expect(nothing.status != 0)
        #expect(nothing.stderr.contains("empty.jsonl"), "\(nothing.stderr)")
    }
}
