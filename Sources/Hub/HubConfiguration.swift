import Foundation

/// Where the Hub is, where its cache lives and how to authenticate, read from the same environment
/// variables as `huggingface_hub`, so that models downloaded by transformers or sentence-transformers are
/// found here and ours are found there.
public struct HubConfiguration: Sendable, Equatable {
    /// Base URL of the Hub, without a trailing slash (`HF_ENDPOINT`, default `https://huggingface.co`).
    public var endpoint: String
    /// The cache root holding `models--Org--Name` folders (`HF_HUB_CACHE`, default `$HF_HOME/hub`).
    public var cacheDirectory: String
    /// Bearer token for private and gated repositories (`HF_TOKEN`, else the `$HF_HOME/token` file).
    public var token: String?
    /// When true no request is made and only the cache is used (`HF_HUB_OFFLINE=1`).
    public var isOffline: Bool
    /// How long to keep trying to connect before reporting the Hub unreachable (huggingface_hub: 10 s).
    public var connectTimeout: Duration = .seconds(10)

    /// The public Hub.
    public static let defaultEndpoint = "https://huggingface.co"

    /// Creates a configuration; `endpoint` loses any trailing slash.
    public init(endpoint: String = HubConfiguration.defaultEndpoint, cacheDirectory: String, token: String? = nil, isOffline: Bool = false) {
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.cacheDirectory = cacheDirectory
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.isOffline = isOffline
    }

    /// Reads the configuration as `huggingface_hub.constants` does:
    ///
    /// - `HF_HOME` (default `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`);
    /// - `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`;
    /// - `HF_ENDPOINT`;
    /// - `HF_TOKEN`, else the legacy `HUGGING_FACE_HUB_TOKEN`, else the file at `HF_TOKEN_PATH`
    ///   (default `$HF_HOME/token`, where `hf auth login` stores it);
    /// - `HF_HUB_OFFLINE` (or the legacy `TRANSFORMERS_OFFLINE`) set to 1, ON, YES or TRUE.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> HubConfiguration {
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        let home = value("HOME") ?? NSHomeDirectory()
        func expand(_ path: String) -> String {
            if path == "~" { return home }
            if path.hasPrefix("~/") { return home + path.dropFirst() }
            return path
        }
        let cacheHome = expand(value("XDG_CACHE_HOME") ?? "~/.cache")
        let hfHome = expand(value("HF_HOME") ?? (cacheHome as NSString).appendingPathComponent("huggingface"))
        let cache = expand(value("HF_HUB_CACHE") ?? value("HUGGINGFACE_HUB_CACHE") ?? (hfHome as NSString).appendingPathComponent("hub"))
        var token = value("HF_TOKEN") ?? value("HUGGING_FACE_HUB_TOKEN")
        if token == nil {
            let tokenPath = expand(value("HF_TOKEN_PATH") ?? (hfHome as NSString).appendingPathComponent("token"))
            if let data = FileManager.default.contents(atPath: tokenPath) {
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                token = text.isEmpty ? nil : text
            }
        }
        let offline = isTrue(value("HF_HUB_OFFLINE") ?? value("TRANSFORMERS_OFFLINE"))
        return HubConfiguration(endpoint: value("HF_ENDPOINT") ?? defaultEndpoint, cacheDirectory: cache, token: token, isOffline: offline)
    }

    /// `huggingface_hub`'s truth test for boolean environment variables.
    static func isTrue(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["1", "ON", "YES", "TRUE"].contains(value.uppercased())
    }
}
