import Foundation

/// Locations shared by every test target.
public enum TestPaths {
    /// The repository's root folder (this file is `Tests/TestSupport/TestSupport.swift`).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures`, the committed small models, goldens and data the tests read.
    public static let fixtures: URL = repositoryRoot.appendingPathComponent("Tests/Fixtures")
}
