// libFuzzer target: the safetensors header and tensor table (SafetensorsFile), then every tensor's
// conversion, and a write/re-read round trip of the float tensors. Built by Scripts/fuzz.sh.
import Foundation
import Tensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let file = try? SafetensorsFile(data: bytes, source: "<fuzz>") else { return 0 }
    var writer = SafetensorsWriter(metadata: file.metadata)
    for name in file.tensorNames {
        let info = file.tensorInfos[name]!
        let raw = try! file.rawBytes(of: name)
        precondition(raw.count == info.count * info.dtype.byteSize, "rawBytes size")
        guard info.dtype.isConvertible else {
            precondition((try? file.tensor(named: name)) == nil, "an 8-bit float tensor converted")
            continue
        }
        let f = try! file.tensor(named: name)
        let d = try! file.tensor(named: name, as: Double.self)
        precondition(f.shape == info.shape && d.shape == info.shape, "converted shape")
        if SafetensorsDType.writable.contains(info.dtype) { try! writer.add(name, f, as: info.dtype) }
    }
    // What the writer produces must parse, with the same table for the tensors it holds.
    let again = try! SafetensorsFile(data: writer.serialized(), source: "<fuzz round trip>")
    for (name, info) in again.tensorInfos {
        let original = file.tensorInfos[name]!
        precondition(info.dtype == original.dtype && info.shape == original.shape, "round trip table")
        precondition(try! again.rawBytes(of: name).count == info.count * info.dtype.byteSize, "round trip size")
    }
    return 0
}
