import Foundation

/// Turns a `--model` argument into a local model directory.
///
/// An existing local path is returned unchanged at the cost of one `stat`: no environment is read, no
/// directory created, no request made. Otherwise `reference` must be a Hub id,
/// `Org/Name[@revision]`, which is resolved through the shared Hugging Face cache (see
/// `HubClient.snapshot(_:include:progress:)`): cached files are reused, missing ones downloaded, and the
/// snapshot directory `…/models--Org--Name/snapshots/<commit>` returned.
///
/// - Parameters:
///   - reference: A local path or a Hub id.
///   - configuration: Hub settings; `nil` reads them from the environment (HF_HOME, HF_HUB_CACHE,
///     HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) when they are needed.
///   - include: Optional fnmatch patterns choosing the weight files (see `FileSelection`).
///   - progress: Receives byte counts while files download.
public func resolveModel(_ reference: String, configuration: HubConfiguration? = nil, include: [String] = [],
                         progress: DownloadProgressHandler? = nil) async throws -> String {
    if FileManager.default.fileExists(atPath: reference) { return reference }
    let isPathLike = reference.hasPrefix("/") || reference.hasPrefix(".") || reference.hasPrefix("~")
    let parsed: ModelReference
    do {
        guard !isPathLike else { throw HubError.invalidReference(reference, reason: "") }
        parsed = try ModelReference(parsing: reference)
    } catch {
        throw HubError.invalidReference(reference, reason: "no such file or directory, and not a Hub id of the form Org/Name[@revision]")
    }
    let client = HubClient(configuration: configuration ?? .fromEnvironment())
    return try await client.snapshot(parsed, include: include, progress: progress).directory
}
