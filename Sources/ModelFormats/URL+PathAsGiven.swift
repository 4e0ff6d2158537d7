import Foundation

extension URL {
    /// The file-system path of this file URL, spelled as the caller gave it where that is safe.
    ///
    /// Public APIs take locations as `URL`s, while messages, reports and the lower-level readers work
    /// with path strings. `URL(fileURLWithPath: "models/x")` keeps the working directory as its base:
    /// its `path` is absolute, but a user who typed `models/x` expects to read `models/x` in an error
    /// or a report. So a URL relative to the current working directory gives its relative path (which
    /// names the same file, since relative paths resolve against that directory); any other URL
    /// (absolute, or relative to another folder) gives its absolute `path`.
    package var pathAsGiven: String {
        guard let base = baseURL, base.isFileURL,
              base.standardizedFileURL.path == URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL.path
        else { return path }
        return relativePath
    }
}
