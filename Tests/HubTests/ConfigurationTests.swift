import Foundation
import Testing
@testable import Hub

@Suite struct ConfigurationTests {
    @Test func cacheDirectoryFollowsHuggingFaceHub() throws {
        let defaults = HubConfiguration.fromEnvironment(["HOME": "/home/u"])
        #expect(defaults.cacheDirectory == "/home/u/.cache/huggingface/hub")
        #expect(defaults.endpoint == "https://huggingface.co")
        #expect(defaults.isOffline == false)

        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "XDG_CACHE_HOME": "/xdg"]).cacheDirectory == "/xdg/huggingface/hub")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": "/data/hf"]).cacheDirectory == "/data/hf/hub")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": "~/hf"]).cacheDirectory == "/h/hf/hub")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": "/data/hf", "HUGGINGFACE_HUB_CACHE": "/legacy"]).cacheDirectory == "/legacy")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HUB_CACHE": "/c", "HUGGINGFACE_HUB_CACHE": "/legacy"]).cacheDirectory == "/c")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_ENDPOINT": "https://hf-mirror.com/"]).endpoint == "https://hf-mirror.com")
    }

    @Test func offlineAcceptsTheSameSpellingsAsHuggingFaceHub() {
        for value in ["1", "ON", "yes", "True"] {
            #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HUB_OFFLINE": value]).isOffline, "\(value)")
        }
        for value in ["0", "off", "no", ""] {
            #expect(!HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HUB_OFFLINE": value]).isOffline, "\(value)")
        }
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "TRANSFORMERS_OFFLINE": "1"]).isOffline)
    }

    @Test func tokenComesFromEnvironmentThenTokenFile() throws {
        let home = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": home]).token == nil)
        try "hf_file_token\n".write(toFile: (home as NSString).appendingPathComponent("token"), atomically: true, encoding: .utf8)
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": home]).token == "hf_file_token")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": home, "HUGGING_FACE_HUB_TOKEN": "hf_legacy"]).token == "hf_legacy")
        #expect(HubConfiguration.fromEnvironment(["HOME": "/h", "HF_HOME": home, "HF_TOKEN": "hf_env", "HUGGING_FACE_HUB_TOKEN": "hf_legacy"]).token == "hf_env")
    }

    @Test func referencesParseLikeHubIDs() throws {
        let plain = try ModelReference(parsing: "Qwen/Qwen3-Embedding-0.6B")
        #expect(plain.repository == "Qwen/Qwen3-Embedding-0.6B" && plain.revision == "main")
        let pinned = try ModelReference(parsing: "Qwen/Qwen3-Embedding-0.6B@refs/pr/3")
        #expect(pinned.repository == "Qwen/Qwen3-Embedding-0.6B" && pinned.revision == "refs/pr/3")
        for bad in ["Qwen", "a/b/c", "Qwen/", "/Qwen3", "Qwen/Qwen3@", "Qwen/Qwen3@../x", "Qw en/x", "Qwen/x--y", "-a/b", "a/b."] {
            #expect(throws: HubError.self, "\(bad)") { try ModelReference(parsing: bad) }
        }
    }

    @Test func cacheFolderNamesMatchHuggingFaceHub() {
        #expect(HubCache.folderName(repository: "Qwen/Qwen3-Embedding-0.6B") == "models--Qwen--Qwen3-Embedding-0.6B")
        let cache = HubCache(root: "/c")
        #expect(cache.snapshotDirectory("Qwen/X", commit: "abc") == "/c/models--Qwen--X/snapshots/abc")
        #expect(cache.refPath("Qwen/X", revision: "refs/pr/1") == "/c/models--Qwen--X/refs/refs/pr/1")
    }

    @Test func selectionTakesConfigTokenizerAndWeightsOnly() throws {
        let files = ["README.md", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                     "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                     "pytorch_model.bin", "onnx/model.onnx", ".gitattributes"]
        #expect(try FileSelection.select(from: files, include: [], repository: "a/b") == [
            "config.json", "merges.txt", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
        ])
        let gguf = ["config.json", "model-Q8_0.gguf", "model-f16.gguf", "README.md"]
        #expect(throws: HubError.self) { try FileSelection.select(from: gguf, include: [], repository: "a/b") }
        #expect(try FileSelection.select(from: gguf, include: ["*Q8_0*"], repository: "a/b") == ["config.json", "model-Q8_0.gguf"])
        #expect(try FileSelection.select(from: ["model-f16.gguf"], include: [], repository: "a/b") == ["model-f16.gguf"])
        #expect(try FileSelection.select(from: files, include: ["onnx/"], repository: "a/b").contains("onnx/model.onnx"))
        #expect(throws: HubError.self) { try FileSelection.select(from: ["README.md"], include: [], repository: "a/b") }
        #expect(throws: HubError.self) { try FileSelection.select(from: files, include: ["*.nothing"], repository: "a/b") }
    }

    @Test func digestsMatchKnownValues() {
        #expect(ContentDigest.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // `printf 'hello world\n' | git hash-object --stdin`
        #expect(ContentDigest.gitBlobSHA1(Array("hello world\n".utf8)) == "3b18e512dba79e4c8300dd08aeb37f8e728b8dad")
        #expect(normalizeETag("W/\"abc\"") == "abc" && normalizeETag("\"abc\"") == "abc")
        #expect(percentEncode("refs/pr/1", keepingSlashes: false) == "refs%2Fpr%2F1")
        #expect(percentEncode("1_Pooling/config file.json", keepingSlashes: true) == "1_Pooling/config%20file.json")
        #expect(contentRangeStart("bytes 100-999/1000") == 100)
    }
}
