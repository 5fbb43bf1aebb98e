// libFuzzer target: a sharded checkpoint's model.safetensors.index.json (SafetensorsIndex).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let index = try? SafetensorsIndex(data: Data(bytes: data, count: size), source: "<fuzz>") else { return 0 }
    for shard in index.shardNames {
        precondition(!shard.isEmpty && !shard.contains("/") && shard != "..", "a shard name escapes the directory")
    }
    return 0
}
