import Foundation
import ModelFormats
import ModelTools

/// A named fp32 tensor as checkpoints store it (trainable values, optimiser moments).
public struct CheckpointTensor: Sendable, Equatable {
    /// The tensor's name.
    public var name: String
    /// PyTorch shape.
    public var shape: [Int]
    /// Row-major values.
    public var values: [Float]

    /// A tensor; `values.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// A checkpoint directory, `<output>/checkpoint-<step>`: everything a run needs to continue so that its
/// final weights are bitwise those of a run that never stopped.
///
/// - `trainer_state.json`: the step, where the data order stands (the epoch, its order of examples and
///   how many were consumed), the seeded generator's state (`SeededGenerator.state`) and the settings
///   that must not change on resume.
/// - `parameters.safetensors`: the fp32 master values of every trainable parameter (LoRA factors, or
///   every weight for full fine-tuning), under their canonical names.
/// - `optimizer.safetensors`: the optimiser's state tensors (AdamW's moments), its step count in the
///   metadata.
/// - For LoRA also the PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`), so a checkpoint
///   can be served with `--adapter` or evaluated as it is.
///
/// A checkpoint is written as `checkpoint-<step>.partial` and renamed when complete, so an interrupted
/// save never leaves a damaged checkpoint under the real name.
public struct TrainingCheckpoint: Sendable, Equatable {
    /// The state file's name.
    public static let stateFileName = "trainer_state.json"
    /// The trainable values' file name.
    public static let parametersFileName = "parameters.safetensors"
    /// The optimiser state's file name.
    public static let optimizerFileName = "optimizer.safetensors"
    /// Version of this layout, checked on read.
    public static let formatVersion = 1

    /// Optimiser steps done.
    public var step: Int
    /// The epoch (from 0) whose order is in `order`.
    public var epoch: Int
    /// Examples of `order` already consumed.
    public var position: Int
    /// This epoch's order of example indices.
    public var order: [Int]
    /// `SeededGenerator.state` after the last step's draws.
    public var generatorState: UInt64
    /// The settings a resumed run must share (name → value as text).
    public var settings: [String: String]
    /// Optimiser steps counted by the optimiser itself (bias correction).
    public var optimizerStepCount: Int

    /// A checkpoint's state.
    public init(step: Int, epoch: Int, position: Int, order: [Int], generatorState: UInt64, settings: [String: String],
                optimizerStepCount: Int) {
        self.step = step
        self.epoch = epoch
        self.position = position
        self.order = order
        self.generatorState = generatorState
        self.settings = settings
        self.optimizerStepCount = optimizerStepCount
    }

    /// The directory name of the checkpoint after `step` steps.
    public static func directoryName(step: Int) -> String { "checkpoint-\(step)" }

    /// Writes the checkpoint into `directory` (replacing an older one of the same name) by way of a
    /// `.partial` sibling; `extras` writes further files (the PEFT adapter) into the partial directory.
    public func write(to directory: URL, parameters: [CheckpointTensor], optimizerState: [CheckpointTensor],
                      extras: (URL) throws -> Void = { _ in }) throws {
        let fileManager = FileManager.default
        let partial = directory.deletingLastPathComponent().appendingPathComponent(directory.lastPathComponent + ".partial")
        try? fileManager.removeItem(at: partial)
        try fileManager.createDirectory(at: partial, withIntermediateDirectories: true)
        try Self.writeTensors(parameters, to: partial.appendingPathComponent(Self.parametersFileName), metadata: ["format": "pt"])
        try Self.writeTensors(optimizerState, to: partial.appendingPathComponent(Self.optimizerFileName),
                              metadata: ["format": "pt", "step": String(optimizerStepCount)])
        try extras(partial)
        let state: [String: Any] = [
            "format_version": Self.formatVersion, "step": step, "epoch": epoch, "position": position, "order": order,
            // A UInt64 does not survive JSON's doubles: the generator state is text.
            "generator_state": String(generatorState), "optimizer_step": optimizerStepCount, "settings": settings,
        ]
        let data = try JSONSerialization.data(withJSONObject: state, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: partial.appendingPathComponent(Self.stateFileName), options: .atomic)
        if fileManager.fileExists(atPath: directory.path) { try fileManager.removeItem(at: directory) }
        try fileManager.moveItem(at: partial, to: directory)
    }

    /// Reads the state of the checkpoint in `directory` (the tensors are read by `parameters(in:)` and
    /// `optimizerState(in:)`).
    ///
    /// - Throws: `TrainerError.badCheckpoint` naming the file and what is wrong.
    public static func read(from directory: URL) throws -> TrainingCheckpoint {
        let path = directory.appendingPathComponent(stateFileName).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainerError.badCheckpoint("\(directory.path) is not a checkpoint (no \(stateFileName))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TrainerError.badCheckpoint("\(path) is not a JSON object")
        }
        guard object["format_version"] as? Int == formatVersion else {
            throw TrainerError.badCheckpoint("\(path): unknown format_version \(object["format_version"] ?? "none") (expected \(formatVersion))")
        }
        guard let step = object["step"] as? Int, step >= 0, let epoch = object["epoch"] as? Int, epoch >= 0,
              let position = object["position"] as? Int, let order = object["order"] as? [Int],
              (0...order.count).contains(position),
              let generatorText = object["generator_state"] as? String, let generatorState = UInt64(generatorText),
              let optimizerStep = object["optimizer_step"] as? Int, let settings = object["settings"] as? [String: String]
        else {
            throw TrainerError.badCheckpoint("\(path): missing or malformed fields")
        }
        return TrainingCheckpoint(step: step, epoch: epoch, position: position, order: order, generatorState: generatorState,
                                  settings: settings, optimizerStepCount: optimizerStep)
    }

    /// The checkpoint to resume from when given `path`: the directory itself when it holds a
    /// checkpoint, else the `checkpoint-<step>` inside it with the highest step.
    ///
    /// - Parameter url: a checkpoint directory, or a training run's output directory.
    public static func locate(_ url: URL) throws -> URL {
        let path = url.pathAsGiven  // as the caller spelled it, for messages
        if FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFileName).path) { return url }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let steps = names.compactMap { name -> Int? in
            guard name.hasPrefix("checkpoint-"), let step = Int(name.dropFirst("checkpoint-".count)) else { return nil }
            return FileManager.default.fileExists(atPath: url.appendingPathComponent(name).appendingPathComponent(stateFileName).path) ? step : nil
        }
        guard let latest = steps.max() else {
            throw TrainerError.badCheckpoint("--resume \(path): no checkpoint there (neither \(stateFileName) nor checkpoint-N folders)")
        }
        return url.appendingPathComponent(directoryName(step: latest))
    }

    /// The trainable values stored in the checkpoint at `directory`.
    public static func parameters(in directory: URL) throws -> [String: CheckpointTensor] {
        try readTensors(directory.appendingPathComponent(parametersFileName))
    }

    /// The optimiser state stored in the checkpoint at `directory`.
    public static func optimizerState(in directory: URL) throws -> [String: CheckpointTensor] {
        try readTensors(directory.appendingPathComponent(optimizerFileName))
    }

    /// Throws unless `settings` equal this checkpoint's, naming the first setting that differs.
    public func requireSettings(_ current: [String: String], checkpoint: URL) throws {
        for key in Set(settings.keys).union(current.keys).sorted() where settings[key] != current[key] {
            throw TrainerError.badCheckpoint(
                "cannot resume from \(checkpoint.path): it was trained with \(key) = \(settings[key] ?? "(unset)"), "
                + "this run has \(current[key] ?? "(unset)"); a resumed run must use the same settings")
        }
    }

    private static func writeTensors(_ tensors: [CheckpointTensor], to url: URL, metadata: [String: String]) throws {
        let writer = try SafetensorsWriter(
            path: url.path, tensors: tensors.map { TensorLayout(name: $0.name, dataType: .float32, shape: $0.shape) }, metadata: metadata)
        for tensor in tensors {
            precondition(tensor.values.count == tensor.shape.reduce(1, *), "\(tensor.name): values do not fill its shape")
            // safetensors is little-endian, as every platform this package supports.
            try tensor.values.withUnsafeBytes { try writer.write($0) }
        }
        try writer.finish()
    }

    private static func readTensors(_ url: URL) throws -> [String: CheckpointTensor] {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(path: url.path)
        } catch {
            throw TrainerError.badCheckpoint("cannot read \(url.path): \(error.localizedDescription)")
        }
        var result: [String: CheckpointTensor] = [:]
        for (name, tensor) in file.tensors {
            guard tensor.dataType == .float32 else {
                throw TrainerError.badCheckpoint("\(url.path): tensor \(name) is \(tensor.dataType.rawValue), checkpoints hold F32")
            }
            result[name] = CheckpointTensor(name: name, shape: tensor.shape, values: tensor.floats())
        }
        return result
    }
}
