// libFuzzer target: config.json decoding and validation (OPTConfig), the shapes a valid config implies,
// and an encode/decode round trip.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let config = try? OPTConfig(data: Data(bytes: data, count: size), source: "<fuzz>") else { return 0 }
    let shapes = config.checkpointShapes
    for (_, shape) in shapes { precondition(shape.allSatisfy { $0 > 0 }, "a non-positive dimension") }
    _ = config.headDim
    let encoded = try! JSONEncoder().encode(config)
    let decoded = try! OPTConfig(data: encoded, source: "<fuzz round trip>")
    precondition(decoded == config, "config round trip")
    return 0
}
